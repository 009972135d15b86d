package certstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"mailautoconf/internal/certstore"
	"mailautoconf/internal/certstore/certstoretest"
)

// logBuffer is an io.Writer for a slog handler that tests read while
// the storage writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines logged so far that contain s.
func (l *logBuffer) lines(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRedisRefusingWrites: a Redis that answers but refuses every write
// (its index key holds a value of the wrong type: WRONGTYPE) is a storage
// problem, logged once and reported by Ready until a write succeeds, not
// "unreachable" and "reachable again" at every write and probe; other
// operations that succeed meanwhile (pings, locks) do not hide it.
func TestRedisRefusingWrites(t *testing.T) {
	rawURL := certstoretest.RedisURL(t)
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	prefix := u.Query().Get("key_prefix")
	rc := redis.NewClient(&redis.Options{Addr: u.Host})
	defer rc.Close()
	refusingWrites(t, rawURL, "WRONGTYPE", func(ctx context.Context) error {
		// The sorted set of keys is a string: every Store's ZADD fails.
		return rc.Set(ctx, prefix+"keys", "not a sorted set", 0).Err()
	}, func(ctx context.Context) error {
		return rc.Del(ctx, prefix+"keys").Err()
	})
}

// TestPostgresRefusingWrites is TestRedisRefusingWrites with PostgreSQL,
// whose data table refuses every row written (a trigger raising an
// error, as a full disk or a revoked privilege would).
func TestPostgresRefusingWrites(t *testing.T) {
	rawURL := certstoretest.PostgresURL(t)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	st, err := certstore.Open(rawURL, "", certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil { // creates the tables
		t.Fatal(err)
	}
	st.Close()
	refusingWrites(t, rawURL, "no rows may be written", func(ctx context.Context) error {
		_, err := db.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
			$$BEGIN RAISE EXCEPTION 'no rows may be written'; END$$;
			CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON mailautoconf_certmagic_data
			FOR EACH ROW EXECUTE FUNCTION refuse()`)
		return err
	}, func(ctx context.Context) error {
		_, err := db.Exec(ctx, `DROP TRIGGER refuse ON mailautoconf_certmagic_data`)
		return err
	})
}

// refusingWrites opens the storage at rawURL, has breakIt make it refuse
// every Store with an error holding reason, and checks what the log,
// Ready and the metrics say while it does and after repair undoes it.
func refusingWrites(t *testing.T, rawURL, reason string, breakIt, repair func(context.Context) error) {
	ctx := context.Background()
	st, err := certstore.Open(rawURL, "", certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var log logBuffer
	m := certstore.NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	s := certstore.Instrument(st, m, slog.New(slog.NewTextHandler(&log, nil)))

	if ok, lines := s.Ready(); !ok || !strings.HasSuffix(lines[0], ": ok") {
		t.Fatalf("Ready() at start = %v, %q; want ready, ok", ok, lines)
	}
	if err := breakIt(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Store(ctx, "certificates/ca/a.example/a.example.crt", []byte("cert")); err == nil || !strings.Contains(err.Error(), reason) {
			t.Fatalf("Store %d = %v, want an error saying %q", i, err, reason)
		}
		// What certmagic and /readyz do between two stores: the
		// storage does these.
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Lock(ctx, "a.example"); err != nil {
			t.Fatalf("Lock: %v", err)
		}
		if err := s.Unlock(ctx, "a.example"); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
	}
	ok, lines := s.Ready()
	if !ok || len(lines) != 1 || !strings.Contains(lines[0], "refuses store") || !strings.Contains(lines[0], reason) {
		t.Errorf("Ready() while every write is refused = %v, %q; want ready, the refusal and its reason", ok, lines)
	}
	if got := gauge(t, reg, "mailautoconf_storage_refusing"); got != 1 {
		t.Errorf("mailautoconf_storage_refusing = %v, want 1", got)
	}
	if got := gauge(t, reg, "mailautoconf_storage_up"); got != 1 {
		t.Errorf("mailautoconf_storage_up = %v, want 1 (the storage answers)", got)
	}
	if got := log.lines("refuses"); len(got) != 1 {
		t.Errorf("%d lines about the refusal, want 1:\n%s", len(got), log.String())
	}
	if got := log.lines("reachable"); len(got) != 0 {
		t.Errorf("an answering storage logged as unreachable or reachable again:\n%s", log.String())
	}

	// Repaired: the next write succeeds, and says so once.
	if err := repair(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Store(ctx, "certificates/ca/a.example/a.example.crt", []byte("cert")); err != nil {
		t.Fatalf("Store after the repair: %v", err)
	}
	if ok, lines := s.Ready(); !ok || !strings.HasSuffix(lines[0], ": ok") {
		t.Errorf("Ready() after the repair = %v, %q; want ready, ok", ok, lines)
	}
	if got := log.lines("accepts"); len(got) != 1 {
		t.Errorf("%d lines about the repair, want 1:\n%s", len(got), log.String())
	}
	if got := gauge(t, reg, "mailautoconf_storage_refusing"); got != 0 {
		t.Errorf("mailautoconf_storage_refusing after the repair = %v, want 0", got)
	}
}

// TestUnreachableIsNotRefused: a backend nothing listens for is
// unreachable, logged once as such, and the replica not ready: no
// refusal.
func TestUnreachableIsNotRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, rawURL := range []string{
		"redis://" + addr + "/0",
		"postgres://postgres@" + addr + "/postgres?sslmode=disable&connect_timeout=2",
	} {
		t.Run(strings.SplitN(rawURL, ":", 2)[0], func(t *testing.T) {
			st, err := certstore.Open(rawURL, "", certstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var log logBuffer
			s := certstore.Instrument(st, nil, slog.New(slog.NewTextHandler(&log, nil)))
			for range 2 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := s.Store(ctx, "k", []byte("v")); err == nil {
					t.Fatal("Store to a closed port succeeded")
				}
				cancel()
			}
			if ok, lines := s.Ready(); ok || !strings.Contains(lines[0], "not reached yet") {
				t.Errorf("Ready() = %v, %q; want not ready, not reached yet", ok, lines)
			}
			if got := log.lines("unreachable"); len(got) != 1 {
				t.Errorf("%d lines about the storage unreachable, want 1:\n%s", len(got), log.String())
			}
			if got := log.lines("refuses"); len(got) != 0 {
				t.Errorf("an unreachable storage logged as refusing:\n%s", log.String())
			}
		})
	}
}

// gauge is the value of the gauge named name in reg, or -1 when reg has
// none.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// TestRedisClientLogsThroughSlog: go-redis's own lines (a failed dial,
// say) go to the storage's logger at debug level, never to stderr. The
// test runs itself as a child process, to see that process's stderr,
// against a loopback port nothing listens on.
func TestRedisClientLogsThroughSlog(t *testing.T) {
	if addr := os.Getenv("CERTSTORE_CLOSED_REDIS"); addr != "" {
		st, err := certstore.Open("redis://"+addr+"/0", "", certstore.Options{
			Log: slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := st.Ping(ctx); err == nil {
				t.Error("Ping of a closed port succeeded")
			}
			cancel()
		}
		st.Close()
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: every dial is refused

	cmd := exec.Command(os.Args[0], "-test.run=^TestRedisClientLogsThroughSlog$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CERTSTORE_CLOSED_REDIS="+addr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("go-redis wrote to stderr:\n%s", stderr.String())
	}
	var routed int
	for _, line := range strings.Split(stdout.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON log line: %q", line)
			continue
		}
		if rec["level"] == "DEBUG" && strings.Contains(rec["msg"].(string), "go-redis") {
			routed++
		}
	}
	if routed == 0 {
		t.Errorf("no go-redis line in the storage's log (at debug level); stdout:\n%s", stdout.String())
	}
}
