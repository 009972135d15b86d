package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailautoconf/handlers"
	"mailautoconf/internal/testutil/dbtest"
	"mailautoconf/provision"
)

// Benchmarks of the directories through the router, against the local
// PostgreSQL (docs/guide/directories.md, figures):
//
//	go test -run '^$' -bench 'RouterLogin|DirectoryMillion' -benchtime 2s ./internal/server/

// discard is a ResponseWriter that keeps nothing.
type discard struct {
	h    http.Header
	code int
}

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) Write(b []byte) (int, error) { return len(b), nil }
func (w *discard) WriteHeader(code int)        { w.code = code }

// benchRouter serves catalog (YAML) with its directories started and
// their lists read, and returns the router and the directories.
func benchRouter(b *testing.B, catalog string, url string) (*handlers.Router, *directories) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, []byte(catalog), 0o644); err != nil {
		b.Fatal(err)
	}
	cat, err := provision.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	var current atomic.Pointer[provision.Catalog]
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dirs, served, err := newDirectories(cat, func(string) string { return url }, "", &current, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	current.Store(served)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() { cancel(); dirs.wait() })
	dirs.start(ctx)
	deadline := time.Now().Add(60 * time.Second)
	for ok, _ := dirs.Ready(); !ok; ok, _ = dirs.Ready() {
		if time.Now().After(deadline) {
			b.Fatal("directories not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := handlers.New(handlers.Config{Catalog: &current, Log: log, Logins: dirs})
	return h.Router(), dirs
}

func serveOnce(b *testing.B, r *handlers.Router, req *http.Request, w *discard) {
	clear(w.h)
	r.ServeHTTP(w, req)
	if w.code != http.StatusOK {
		b.Fatalf("%s: status %d", req.URL, w.code)
	}
}

// BenchmarkRouterLogin: an autoconfig GET with %LOGIN% whose login is in
// the cache, beside the same GET for a file domain with %EMAILADDRESS%:
// the difference is what a cached login costs.
func BenchmarkRouterLogin(b *testing.B) {
	pg := dbtest.NewPG(b)
	pg.Exec(b, `CREATE TABLE domain (domain text NOT NULL, active boolean NOT NULL DEFAULT true)`)
	pg.Exec(b, `CREATE TABLE mail_user (email text PRIMARY KEY, login text)`)
	pg.Exec(b, `INSERT INTO domain (domain) VALUES ('one.example')`)
	pg.Exec(b, `INSERT INTO mail_user SELECT 'user' || i || '@one.example', 'u' || i FROM generate_series(1, 10000) i`)
	fileOnly := strings.NewReplacer("directory: hosting\n", "domains: [one.example]\n", `"%LOGIN%"`, `"%EMAILADDRESS%"`).Replace(dirCatalog)
	fileOnly = fileOnly[strings.Index(fileOnly, "providers:"):]
	for _, tc := range []struct {
		name, catalog string
		addrs         int
	}{
		{"file-only", fileOnly, 1},
		{"login-cached", dirCatalog, 1},
		{"login-cached-10000", dirCatalog, 10000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, _ := benchRouter(b, tc.catalog, pg.URL)
			reqs := make([]*http.Request, tc.addrs)
			for i := range reqs {
				reqs[i] = httptest.NewRequest("GET", fmt.Sprintf("http://autoconfig.one.example/mail/config-v1.1.xml?emailaddress=user%d%%40one.example", i+1), nil)
			}
			w := &discard{h: http.Header{}}
			for _, req := range reqs { // warm the cache
				serveOnce(b, r, req, w)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				serveOnce(b, r, reqs[i%len(reqs)], w)
				i++
			}
		})
	}
}

// BenchmarkDirectoryMillion: 1,000,000 domains from PostgreSQL. It
// reports the first load, and the p99 of an autoconfig GET loop alone
// and while a refresh reads and merges the million (a list changed by
// one row, so that it is swapped in). Figures only: nothing is asserted
// of them.
func BenchmarkDirectoryMillion(b *testing.B) {
	pg := dbtest.NewPG(b)
	pg.Exec(b, `CREATE TABLE domain (domain text NOT NULL, active boolean NOT NULL DEFAULT true)`)
	pg.Exec(b, `CREATE TABLE mail_user (email text PRIMARY KEY, login text)`)
	pg.Exec(b, `INSERT INTO domain (domain) SELECT 'd' || i || '.example' FROM generate_series(1, 1000000) i`)
	pg.Exec(b, `INSERT INTO mail_user VALUES ('alice@d1.example', 'u1')`)
	catalog := strings.Replace(dirCatalog, "refresh: 1s", "refresh: 0s", 1)
	start := time.Now()
	r, dirs := benchRouter(b, catalog, pg.URL)
	firstLoad := time.Since(start)
	req := httptest.NewRequest("GET", "http://autoconfig.d1.example/mail/config-v1.1.xml?emailaddress=alice%40d1.example", nil)
	w := &discard{h: http.Header{}}
	loop := func(until func() bool) []time.Duration {
		var lat []time.Duration
		for !until() {
			t0 := time.Now()
			serveOnce(b, r, req, w)
			lat = append(lat, time.Since(t0))
		}
		return lat
	}
	p := func(lat []time.Duration, q float64) time.Duration {
		s := slices.Clone(lat)
		slices.Sort(s)
		return s[int(float64(len(s)-1)*q)]
	}
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		// Alone, for a second.
		end := time.Now().Add(time.Second)
		quiet := loop(func() bool { return time.Now().After(end) })
		// During a refresh that swaps in a list changed by one row.
		pg.Exec(b, fmt.Sprintf(`INSERT INTO domain (domain) VALUES ('new%d.example')`, n))
		before := dirs.current.Load()
		t0 := time.Now()
		dirs.refresh()
		during := loop(func() bool { return dirs.current.Load() != before })
		refresh := time.Since(t0)
		b.ReportMetric(float64(p(quiet, 0.99).Microseconds()), "p99-quiet-µs")
		b.ReportMetric(float64(p(during, 0.99).Microseconds()), "p99-refresh-µs")
		b.ReportMetric(refresh.Seconds(), "refresh-s")
		b.Logf("first load %v; refresh %v; requests alone: %d, p50 %v p99 %v; during the refresh: %d, p50 %v p99 %v",
			firstLoad.Round(time.Millisecond), refresh.Round(time.Millisecond),
			len(quiet), p(quiet, .5), p(quiet, .99), len(during), p(during, .5), p(during, .99))
	}
	b.ReportMetric(firstLoad.Seconds(), "first-load-s")
}
