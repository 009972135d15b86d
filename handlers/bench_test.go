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

func BenchmarkRouter(b *testing.B) {
	// As the service runs: with metrics and the request log.
	cfg := newTestConfig(b, nil)
	cfg.Metrics = NewMetrics()
	e := New(cfg).Router()
	for _, tc := range []struct {
		name, method, target, body string
		want                       int
	}{
		{"autoconfig", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com", "", 200},
		{"autoconfig-host", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml", "", 200},
		{"autodiscover-post", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", benchPOX, 200},
		{"autodiscover-get", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.xml", "", 200},
		{"autodiscover-json", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=alice%40example.com&Protocol=AutodiscoverV1", "", 200},
		{"mobileconfig", "GET", "http://example.com/mobileconfig?email=alice%40example.com", "", 200},
		{"unknown-domain", "GET", "http://autoconfig.unknown.example/mail/config-v1.1.xml", "", 404},
		{"no-route", "GET", "http://example.com/wp-login.php", "", 404},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			body := []byte(tc.body)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				if tc.body != "" {
					req.Body = io.NopCloser(bytes.NewReader(body))
					req.ContentLength = int64(len(body))
				}
				clear(w.h)
				e.ServeHTTP(w, req)
				if w.code != tc.want {
					b.Fatalf("status %d, want %d", w.code, tc.want)
				}
			}
		})
	}
}
