package handlers

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"mailautoconf/provision"
)

// newTestConfig returns a Config serving cat (the demo catalog when nil)
// that logs nowhere.
func newTestConfig(t testing.TB, cat *provision.Catalog) Config {
	t.Helper()
	if cat == nil {
		cat = provision.Demo()
	}
	var p atomic.Pointer[provision.Catalog]
	p.Store(cat)
	return Config{Catalog: &p, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RequestLog: NewRequestLog(io.Discard, "text", slog.LevelInfo)}
}

// logTo sends cfg's log and request log to w at level, in text form.
func logTo(cfg *Config, w io.Writer, level slog.Level) {
	cfg.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	cfg.RequestLog = NewRequestLog(w, "text", level)
}

// newTestEcho returns the full router for cat (demo when nil).
func newTestEcho(t testing.TB, cat *provision.Catalog) *Router {
	t.Helper()
	return New(newTestConfig(t, cat)).Router()
}

// serve sends one request through the router. target is a full URL
// ("http://autoconfig.example.com/mail/config-v1.1.xml?..."), which sets
// the Host header.
func serve(e http.Handler, method, target string, body string, header ...string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// wantStatus fails the test when rec's status is not want.
func wantStatus(t testing.TB, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Errorf("status %d, want %d; body: %.300s", rec.Code, want, rec.Body.String())
	}
	if rec.Code >= http.StatusInternalServerError {
		t.Errorf("5xx: %s", rec.Body.String())
	}
}

// rendered returns a function that takes a provision renderer's results
// and returns its document, for comparing with a handler's answer; the
// tests' providers all render.
func rendered(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}
