package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"mailautoconf/internal/reqlog"
)

// TestRequestID: a proxy's id is kept when it is a short token; anything
// else is replaced by a new id of 26 base32 letters, a new one each time.
func TestRequestID(t *testing.T) {
	for given, keep := range map[string]bool{
		"lb-4711.a_b": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "evil id": false, `a"b`: false, "a\nb": false, "é": false,
	} {
		want := ""
		if keep {
			want = given
		}
		if got := givenRequestID(given); got != want {
			t.Errorf("givenRequestID(%q) = %q, keep %v", given, got, keep)
		}
	}
	// A line without a given id gets a new one.
	newID := func(format string) string {
		var buf bytes.Buffer
		NewRequestLog(&buf, format, slog.LevelInfo).WriteLine(&reqlog.Line{Method: "GET", Status: 200})
		m := regexp.MustCompile(`request_id(?:=|":)("?[^ ,}\n]*)`).FindStringSubmatch(buf.String())
		if m == nil {
			t.Fatalf("no request_id in %q", buf.String())
		}
		return m[1]
	}
	shape := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := newID("text")
		if !shape.MatchString(id) || seen[id] {
			t.Fatalf("new id %q: wrong shape or seen before", id)
		}
		seen[id] = true
	}
	if got := newID("json"); !regexp.MustCompile(`^"[A-Z2-7]{26}"$`).MatchString(got) {
		t.Errorf("JSON id %q", got)
	}
}

// TestRequestLogJSON: through the router, in JSON, each request is one
// object with the fields the text line has.
func TestRequestLogJSON(t *testing.T) {
	cfg := newTestConfig(t, nil)
	var logs bytes.Buffer
	cfg.RequestLog = NewRequestLog(&logs, "json", slog.LevelDebug)
	e := New(cfg).Router()
	wantStatus(t, serve(e, http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice@example.com", "",
		"User-Agent", "Evil\"Agent\n{\"injected\":1}"), http.StatusOK)
	wantStatus(t, serve(e, http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=%22@example.com", ""), http.StatusBadRequest)
	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got:\n%s", logs.String())
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
		}
		for _, k := range []string{"time", "level", "msg", "method", "route", "format", "status", "duration", "client", "request_id", "remote", "user_agent"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q: %s", i, k, line)
			}
		}
		if _, ok := m["injected"]; ok {
			t.Errorf("line %d: the User-Agent injected a field: %s", i, line)
		}
	}
	if !strings.Contains(lines[1], `"status":400`) || !strings.Contains(lines[1], `"reason":`) {
		t.Errorf("the 400 line lacks its status or reason: %s", lines[1])
	}
}

// TestRequestLogQuietAboveInfo: at warn and error, and without a request
// log, requests write no line (and still count in the metrics).
func TestRequestLogQuietAboveInfo(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelWarn, slog.LevelError} {
		cfg, logs := newMetricsConfig(t, level)
		wantStatus(t, serve(New(cfg).Router(), http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml", ""), http.StatusOK)
		if logs.Len() != 0 {
			t.Errorf("level %v: logged %q", level, logs.String())
		}
		if n := testutil.CollectAndCount(cfg.Metrics.requests); n != 1 {
			t.Errorf("level %v: %d request series counted, want 1", level, n)
		}
	}
	cfg := newTestConfig(t, nil)
	cfg.RequestLog = nil
	wantStatus(t, serve(New(cfg).Router(), http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml", ""), http.StatusOK)
}
