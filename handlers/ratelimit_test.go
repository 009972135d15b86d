package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestRateLimitBuckets(t *testing.T) {
	l := NewRateLimit(2, 3) // 3 at once, then 2 a second
	a := clientOf("198.51.100.7:4000")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Allow(a, now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow(a, now)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Errorf("4th request: Allow = %v, %v; want refused, wait (0, 0.5s]", ok, wait)
	}
	if ok, _ := l.Allow(a, now.Add(500*time.Millisecond)); !ok {
		t.Error("refused after half a second at 2 a second")
	}
	if ok, _ := l.Allow(clientOf("198.51.100.8:4000"), now); !ok {
		t.Error("another IPv4 address shares the bucket")
	}
	// One IPv6 subscriber network, one bucket; the next /64 another.
	v6 := clientOf("[2001:db8:1:2::1]:443")
	for range 3 {
		l.Allow(v6, now)
	}
	if ok, _ := l.Allow(clientOf("[2001:db8:1:2:ffff::9]:443"), now); ok {
		t.Error("a second address of the same /64 has a bucket of its own")
	}
	if ok, _ := l.Allow(clientOf("[2001:db8:1:3::1]:443"), now); !ok {
		t.Error("the next /64 shares the bucket")
	}
	if got := clientOf("[::ffff:198.51.100.7]:1"); got != a {
		t.Errorf("IPv4-mapped address is client %v, want %v", got, a)
	}
	if NewRateLimit(0, 10) != nil {
		t.Error("rate 0 is a limit")
	}
}

// TestRateLimitMemoryBounded: a flood from ever new addresses neither
// grows the table past its bound nor lets every address through.
func TestRateLimitMemoryBounded(t *testing.T) {
	l := NewRateLimit(1, 1)
	l.max = 100
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	allowed := 0
	for i := range 1000 {
		addr := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if ok, _ := l.Allow(netip.PrefixFrom(addr, 32), now); ok {
			allowed++
		}
	}
	if n := l.Clients(); n > 100 {
		t.Errorf("%d clients tracked, bound 100", n)
	}
	if allowed > 101 {
		t.Errorf("%d of 1000 new addresses allowed at once; the overflow bucket should share one burst", allowed)
	}
	// Once their buckets have filled up again, the clients are forgotten.
	l.Allow(clientOf("192.0.2.1:1"), now.Add(2*time.Minute))
	if n := l.Clients(); n > 1 {
		t.Errorf("%d clients still tracked after all buckets refilled", n)
	}
}

// TestRateLimitRoute: over its limit a client gets 429 with Retry-After
// through the router and the error handler; others and the health probes
// are not limited.
func TestRateLimitRoute(t *testing.T) {
	cfg := newTestConfig(t, nil)
	cfg.RateLimit = NewRateLimit(0.5, 2)
	e := New(cfg).Router()
	get := func(remote, target string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	const url = "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice@example.com"
	for i := range 2 {
		wantStatus(t, get("203.0.113.5:1000", url), http.StatusOK)
		_ = i
	}
	rec := get("203.0.113.5:1001", url)
	wantStatus(t, rec, http.StatusTooManyRequests)
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2 seconds", rec.Header().Get("Retry-After"))
	}
	if rec.Body.String() != "too many requests\n" {
		t.Errorf("429 body %q", rec.Body.String())
	}
	wantStatus(t, get("203.0.113.6:1000", url), http.StatusOK)
	for range 5 {
		wantStatus(t, get("203.0.113.5:1002", "http://svc.example/healthz"), http.StatusOK)
	}
}
