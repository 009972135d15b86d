package handlers

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestPanicIsA500: a handler that panics gives a 500 with the generic
// message (never the panic's text), a request line, an error line with
// the cause, and the router goes on serving.
func TestPanicIsA500(t *testing.T) {
	cfg := newTestConfig(t, nil)
	var logs bytes.Buffer
	logTo(&cfg, &logs, slog.LevelInfo)
	e := New(cfg).Router()
	e.GET("/boom", func(echo.Context) error { panic("secret detail") })
	rec := serve(e, http.MethodGet, "http://example.com/boom", "")
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	if body := rec.Body.String(); body != "internal error\n" {
		t.Errorf("body %q, want the generic message", body)
	}
	for _, want := range []string{"msg=\"request failed\"", "secret detail", "status=500"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	wantStatus(t, serve(e, http.MethodGet, "http://example.com/healthz", ""), http.StatusOK)
}

// TestAbortHandlerPanicPassesThrough: http.ErrAbortHandler is net/http's
// way to drop a connection; it is not turned into a 500.
func TestAbortHandlerPanicPassesThrough(t *testing.T) {
	e := New(newTestConfig(t, nil)).Router()
	e.GET("/abort", func(echo.Context) error { panic(http.ErrAbortHandler) })
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", r)
		}
	}()
	serve(e, http.MethodGet, "http://example.com/abort", "")
	t.Error("no panic reached the server")
}

// TestBodyLimitWithoutLength: a body sent without a Content-Length
// (chunked) stops at the limit as one announced too large does.
func TestBodyLimitWithoutLength(t *testing.T) {
	e := New(newTestConfig(t, nil)).Router()
	for _, size := range []int{maxBody + 1, 4 * maxBody} {
		req := httptest.NewRequest(http.MethodPost, "http://autodiscover.example.com/autodiscover/autodiscover.xml",
			strings.NewReader(strings.Repeat(" ", size)))
		req.ContentLength = -1 // unknown, as with chunked encoding
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		wantStatus(t, rec, http.StatusRequestEntityTooLarge)
	}
	// A handler that reads the whole body meets the limit as an error,
	// which is a 413.
	e.POST("/read-all", func(c echo.Context) error {
		_, err := io.ReadAll(c.Request().Body)
		return err
	})
	for size, want := range map[int]int{maxBody: http.StatusOK, maxBody + 1: http.StatusRequestEntityTooLarge} {
		req := httptest.NewRequest(http.MethodPost, "http://example.com/read-all", strings.NewReader(strings.Repeat(" ", size)))
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != want && !(want == http.StatusOK && rec.Code == 0) {
			t.Errorf("reading %d bytes: status %d, want %d", size, rec.Code, want)
		}
	}

	// Announced too large: refused before anything is read, on any route.
	req := httptest.NewRequest(http.MethodGet, "http://example.com/healthz", strings.NewReader("x"))
	req.ContentLength = maxBody + 1
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusRequestEntityTooLarge)
}
