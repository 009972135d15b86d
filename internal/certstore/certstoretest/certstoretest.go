// Package certstoretest gives a test a PostgreSQL database and a Redis
// key prefix of its own, on the servers the test machines run
// (127.0.0.1:5432 with trust authentication, 127.0.0.1:6379), and removes
// them at the end of the test. Without the server it skips the test, or
// fails it when CI=true. Tests only.
package certstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// The servers, overridable for a machine that runs them elsewhere.
var (
	postgresAdmin = env("MAILAUTOCONF_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	redisAddr     = env("MAILAUTOCONF_TEST_REDIS", "127.0.0.1:6379")
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s not available: %v", what, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func suffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PostgresURL creates a database for the test and returns its URL; the
// database is dropped at the end of the test.
func PostgresURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, postgresAdmin)
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	defer admin.Close(ctx)
	db := "mailautoconf_test_" + suffix()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, postgresAdmin)
		if err != nil {
			t.Errorf("dropping %s: %v", db, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", db, err)
		}
	})
	cfg, _ := pgx.ParseConfig(postgresAdmin)
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db)
}

// RedisURL returns a redis:// URL with a key prefix of the test's own;
// its keys are deleted at the end of the test.
func RedisURL(t testing.TB) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		unavailable(t, "Redis", err)
	}
	prefix := "mailautoconf-test-" + suffix() + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("deleting %s*: %v", prefix, err)
		}
	})
	return "redis://" + redisAddr + "/0?key_prefix=" + prefix
}
