// Package dbtest gives tests a database of their own on the machine's
// PostgreSQL (127.0.0.1:5432, trust auth), made for the test and dropped
// after it. No mocks: the service's drivers talk to the real server.
package dbtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// PGPassword is put into every URL URL returns: trust auth takes any
// password, and it is there for tests to check that no error, log line or
// metric shows it.
const PGPassword = "pg-S3cret/pass@word"

// Unavailable skips the test, or fails it under CI (CI=true), which must
// run every test.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: every test must run)", msg)
	}
	t.Skip(msg)
}

// RandomName is prefix and 12 random hex digits.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// PG is a database of the test's own on the local PostgreSQL.
type PG struct {
	Admin *sql.DB // on the postgres database, as a superuser
	DB    *sql.DB // on the test's database
	Name  string  // the database's
	URL   string  // for the service, with PGPassword in it
}

// NewPG makes a database for the test, dropped at its end; it skips the
// test (fails it under CI) when no PostgreSQL answers.
func NewPG(t testing.TB) *PG {
	t.Helper()
	var admin *sql.DB
	var user string
	for _, u := range []string{"postgres", "root"} {
		db, err := sql.Open("pgx", "postgres://"+u+"@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5")
		if err == nil && db.Ping() == nil {
			admin, user = db, u
			break
		}
		if db != nil {
			db.Close()
		}
	}
	if admin == nil {
		Unavailable(t, "no PostgreSQL at 127.0.0.1:5432 (user postgres or root, trust auth)")
	}
	name := RandomName("mac_test_")
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	s := &PG{Admin: admin, Name: name,
		URL: (&url.URL{Scheme: "postgres", User: url.UserPassword(user, PGPassword), Host: "127.0.0.1:5432",
			Path: "/" + name, RawQuery: "sslmode=disable"}).String()}
	t.Cleanup(func() {
		if s.DB != nil {
			s.DB.Close()
		}
		admin.Exec("ALTER DATABASE " + name + " ALLOW_CONNECTIONS true")
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
		admin.Close()
	})
	db, err := sql.Open("pgx", "postgres://"+user+"@127.0.0.1:5432/"+name+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	s.DB = db
	return s
}

// Exec runs q on the test's database, failing the test on an error.
func (s *PG) Exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := s.DB.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// Kill ends every connection of the service (application_name
// mailautoconf) to the test's database: they die mid-run.
func (s *PG) Kill(t testing.TB) {
	t.Helper()
	if _, err := s.Admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = 'mailautoconf'`, s.Name); err != nil {
		t.Fatal(err)
	}
}

// Stop refuses new connections to the database and ends the service's
// ones: to the service, the database is down.
func (s *PG) Stop(t testing.TB) {
	t.Helper()
	if _, err := s.Admin.Exec("ALTER DATABASE " + s.Name + " ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	s.Kill(t)
}

// Start lets connections in again after Stop.
func (s *PG) Start(t testing.TB) {
	t.Helper()
	if _, err := s.Admin.Exec("ALTER DATABASE " + s.Name + " ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
}
