package directory

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"mailautoconf/provision"
)

func benchSet(b *testing.B, be *backend) *Set {
	b.Helper()
	s, err := New(Options{Directories: []*provision.Directory{be.dir}, Getenv: be.getenv, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkLoginCached: what a cached login adds to a request (target
// under 2 µs).
func BenchmarkLoginCached(b *testing.B) {
	be := newPGBackend(b)
	be.addUser(b, "alice@a.example", "alice01")
	s := benchSet(b, be)
	ctx := context.Background()
	if _, found := s.Login(ctx, "hosting", "alice@a.example"); !found {
		b.Fatal("not found")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Login(ctx, "hosting", "alice@a.example")
		}
	})
}

// BenchmarkLoginCold: a lookup that misses the cache, against the local
// PostgreSQL (target p99 under 5 ms), over 100,000 users.
func BenchmarkLoginCold(b *testing.B) {
	be := newPGBackend(b)
	pgExec := func(q string) {
		if _, err := be.dbExec(q); err != nil {
			b.Fatal(err)
		}
	}
	pgExec(`INSERT INTO mail_user (email, login) SELECT 'u' || i || '@a.example', 'login' || i FROM generate_series(0, 99999) i`)
	pgExec(`ANALYZE mail_user`)
	s := benchSet(b, be)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, found := s.Login(ctx, "hosting", fmt.Sprintf("u%d@a.example", i%100_000)); !found && i < 100_000 {
			b.Fatalf("u%d not found", i)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkDomainsMillion: the first load of 1,000,000 domains from
// PostgreSQL (target under 10 s); reports the time and the heap the list
// holds.
func BenchmarkDomainsMillion(b *testing.B) {
	be := newPGBackend(b)
	if _, err := be.dbExec(`INSERT INTO domain (domain) SELECT 'customer' || i || '.hosting.example' FROM generate_series(1, 1000000) i`); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		s := benchSet(b, be)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		d := s.dirs[0]
		if !s.refresh(context.Background(), d) {
			b.Fatal("refresh failed")
		}
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		n := len(s.Lists()["hosting"])
		if n != 1_000_000 {
			b.Fatalf("%d domains", n)
		}
		runtime.GC()
		var kept runtime.MemStats
		runtime.ReadMemStats(&kept)
		b.ReportMetric(took.Seconds(), "s/load")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), "MiB-allocated")
		b.ReportMetric(float64(kept.HeapAlloc)/(1<<20), "MiB-heap-after")
		runtime.KeepAlive(s)
	}
}
