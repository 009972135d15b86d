package handlers

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Benchmarks of whole requests through the router (routing, middleware,
// the error handler, the handler and its renderer), with allocations:
//
//	go test -run '^$' -bench Router -benchmem ./handlers/
//
// The load benchmark against nginx is bench/run.

// discardWriter is a ResponseWriter that keeps nothing: the benchmark
// measures the service, not a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

const benchPOX = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.com</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
`

// routerCase is one whole request: its want status, at most allocs
// allocations.
type routerCase struct {
	name, method, target, body string
	want, allocs               int
}

// routerCases are the whole requests BenchmarkRouter measures and
// TestRequestAllocations counts: allocs is the most allocations one may
// make (the body reader aside), as the service runs with metrics and the
// request log. The one of a GET with an address is the unescaped query
// value, which the parsed address keeps.
var routerCases = []routerCase{
	{"autoconfig", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com", "", 200, 1},
	{"autoconfig-host", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml", "", 200, 0},
	{"autodiscover-post", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", benchPOX, 200, 0},
	{"autodiscover-get", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.xml", "", 200, 0},
	{"autodiscover-json", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=alice%40example.com&Protocol=AutodiscoverV1", "", 200, 1},
	{"mobileconfig", "GET", "http://example.com/mobileconfig?email=alice%40example.com", "", 200, 1},
	{"unknown-domain", "GET", "http://autoconfig.unknown.example/mail/config-v1.1.xml", "", 404, 12},
	{"no-route", "GET", "http://example.com/wp-login.php", "", 404, 9},
}

// routerRequest returns tc's request and a function readying it for the
// next round: a body read again from the start, with no allocation.
func routerRequest(tc routerCase) (*http.Request, func()) {
	req := httptest.NewRequest(tc.method, tc.target, nil)
	if tc.body == "" {
		return req, func() {}
	}
	body := []byte(tc.body)
	rd := bytes.NewReader(body)
	rc := io.NopCloser(rd)
	return req, func() {
		rd.Reset(body)
		req.Body, req.ContentLength = rc, int64(len(body))
	}
}

func BenchmarkRouter(b *testing.B) {
	// As the service runs: with metrics and the request log.
	cfg := newTestConfig(b, nil)
	cfg.Metrics = NewMetrics()
	e := New(cfg).Router()
	for _, tc := range routerCases {
		b.Run(tc.name, func(b *testing.B) {
			req, ready := routerRequest(tc)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				ready()
				clear(w.h)
				e.ServeHTTP(w, req)
				if w.code != tc.want {
					b.Fatalf("status %d, want %d", w.code, tc.want)
				}
			}
		})
	}
}

// TestRequestAllocations holds the request path to its allocation counts:
// each one is cold memory for the collector under load (README,
// Performance). Counts, not times, so it does not depend on the machine;
// the race detector's pools drop items at random, so it runs without it
// (.ci/run runs it so).
func TestRequestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector (sync.Pool drops items at random); .ci/run runs this test without -race")
	}
	cfg := newTestConfig(t, nil)
	cfg.Metrics = NewMetrics()
	e := New(cfg).Router()
	for _, tc := range routerCases {
		req, ready := routerRequest(tc)
		w := &discardWriter{h: http.Header{}}
		serve := func() {
			ready()
			clear(w.h)
			e.ServeHTTP(w, req)
		}
		serve() // the first request fills the caches and the pools
		if w.code != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.name, w.code, tc.want)
		}
		if got := testing.AllocsPerRun(200, serve); got > float64(tc.allocs) {
			t.Errorf("%s: %.1f allocations a request, want at most %d", tc.name, got, tc.allocs)
		}
	}
}
