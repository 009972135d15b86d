package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// slogLine is what slog's own handler writes for l: the reference the
// request log is held to, built as the request log was before it had a
// formatter of its own.
func slogLine(format string, level slog.Level, l *requestLine) string {
	var buf bytes.Buffer
	slogWrite(slogHandler(&buf, format, level), level, l)
	return buf.String()
}

func slogHandler(w io.Writer, format string, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

func slogWrite(h slog.Handler, level slog.Level, l *requestLine) {
	r := slog.NewRecord(l.time, slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("method", l.method),
		slog.String("route", l.route),
		slog.String("format", l.format),
		slog.Int("status", l.status),
		slog.Duration("duration", l.duration),
		slog.String("client", l.client),
	)
	if l.domain != "" {
		r.AddAttrs(slog.String("domain", l.domain))
	}
	r.AddAttrs(slog.String("request_id", l.requestID))
	if level <= slog.LevelDebug {
		if l.address != "" {
			r.AddAttrs(slog.String("address", l.address))
		}
		r.AddAttrs(slog.String("remote", l.remote), slog.String("user_agent", l.userAgent))
	}
	if l.reason != "" {
		r.AddAttrs(slog.String("reason", l.reason))
	}
	_ = h.Handle(context.Background(), r)
}

// ourLine is what the request log writes for l.
func ourLine(format string, level slog.Level, l *requestLine) string {
	var buf bytes.Buffer
	NewRequestLog(&buf, format, level).write(l)
	return buf.String()
}

// requestLineCases are lines with every kind of value a client can put
// into one: the reason quotes input, the method and User-Agent are the
// client's own.
var requestLineCases = []requestLine{
	{method: "GET", route: "/mail/config-v1.1.xml", format: "autoconfig", status: 200, duration: 4987 * time.Nanosecond,
		client: "thunderbird", domain: "example.com", requestID: "lb-4711.a_b",
		address: "alice@example.com", remote: "192.0.2.1:4711", userAgent: "Mozilla/5.0 (X11) Thunderbird/128.3.0"},
	{method: "POST", route: "", format: "none", status: 404, duration: 0, client: "other", requestID: "X",
		reason: "code=404, message=Not Found"},
	{method: "PROPFIND", route: "/v1.1/:domain", format: "autoconfig", status: 400, duration: 3 * time.Second,
		client: "other", requestID: "a", remote: "[::1]:1", reason: `bad address: character U+0022 '"' not allowed`},
	{method: "GET", route: "/", format: "page", status: 200, duration: time.Millisecond, client: "other", requestID: "b",
		userAgent: "tab\there, nul\x00, newline\n, bell\a, del\x7f, backslash\\, equals=, quote\", é, \u00a0nbsp, \u200bzwsp, \u2028ls, \u2029ps, bad \xff\xfe utf-8, \U0001F600"},
	{method: "GET", route: "/autodiscover/autodiscover.json/v1.0/*", format: "autodiscover-json", status: 431,
		duration: -5, client: "", domain: "xn--bcher-kva.example", requestID: "c", reason: "=", userAgent: " "},
}

// TestRequestLogMatchesSlog: for every case, format and level, the line
// is byte for byte what slog's TextHandler or JSONHandler writes.
func TestRequestLogMatchesSlog(t *testing.T) {
	when := []time.Time{
		time.Date(2026, 11, 26, 4, 14, 20, 908123456, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.FixedZone("", 5*3600+30*60)),
		time.Now(), // with a monotonic reading, as the middleware's
	}
	for i, tc := range requestLineCases {
		for _, format := range []string{"text", "json"} {
			for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
				for _, at := range when {
					l := tc
					l.time = at
					if got, want := ourLine(format, level, &l), slogLine(format, level, &l); got != want {
						t.Errorf("case %d, %s, level %v, %v:\n got %q\nwant %q", i, format, level, at, got, want)
					}
				}
			}
		}
	}
}

// TestRequestLogTimeCache: one request log writing lines for times in
// the same millisecond, the next ones, earlier ones again and in other
// zones gives each line slog's time.
func TestRequestLogTimeCache(t *testing.T) {
	var buf bytes.Buffer
	rl := NewRequestLog(&buf, "text", slog.LevelInfo)
	base := time.Date(2026, 11, 26, 4, 14, 20, 908_000_000, time.UTC)
	zone := time.FixedZone("X", -3*3600)
	for i, at := range []time.Time{
		base, base.Add(999_999), base.Add(1_000_000), base.Add(1), base.In(zone), base.In(zone).Add(5), base.Add(-1),
		base.Add(time.Hour), time.Unix(0, 999_999).UTC(), time.Unix(-1, 999_999_999).UTC(), time.Unix(-1, 0).UTC(),
	} {
		buf.Reset()
		l := requestLineCases[0]
		l.time = at
		rl.write(&l)
		if want := slogLine("text", slog.LevelInfo, &l); buf.String() != want {
			t.Errorf("time %d (%v):\n got %q\nwant %q", i, at, buf.String(), want)
		}
	}
}

// FuzzRequestLine: any values a request can bring give slog's bytes, one
// line, and in JSON a document that parses.
func FuzzRequestLine(f *testing.F) {
	for _, tc := range requestLineCases {
		f.Add(tc.method, tc.route, tc.domain, tc.requestID, tc.address, tc.userAgent, tc.reason, tc.status, int64(tc.duration), int64(1764130460908123456), true, false)
	}
	f.Fuzz(func(t *testing.T, method, route, domain, id, address, ua, reason string, status int, duration, at int64, json_, debug bool) {
		if id == "" {
			id = "x" // "" makes a random id, compared in TestRequestID
		}
		l := requestLine{time: time.Unix(0, at).UTC(), method: method, route: route, format: "autoconfig", status: status,
			duration: time.Duration(duration), client: "other", domain: domain, requestID: id,
			address: address, remote: "192.0.2.1:1", userAgent: ua, reason: reason}
		format, level := "text", slog.LevelInfo
		if json_ {
			format = "json"
		}
		if debug {
			level = slog.LevelDebug
		}
		got, want := ourLine(format, level, &l), slogLine(format, level, &l)
		if got != want {
			t.Fatalf("\n got %q\nwant %q", got, want)
		}
		if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
			t.Fatalf("not one line: %q", got)
		}
		if json_ && !json.Valid([]byte(got)) {
			t.Fatalf("not JSON: %q", got)
		}
	})
}

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
	shape := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := string(appendNewID(nil, false))
		if !shape.MatchString(id) || seen[id] {
			t.Fatalf("new id %q: wrong shape or seen before", id)
		}
		seen[id] = true
	}
	if got := string(appendNewID(nil, true)); !regexp.MustCompile(`^"[A-Z2-7]{26}"$`).MatchString(got) {
		t.Errorf("JSON id %q", got)
	}
}

// TestRequestLogJSON: through the router, in JSON, each request is one
// object with the fields the text line has.
func TestRequestLogJSON(t *testing.T) {
	h := newTestHandler(t, nil)
	var logs bytes.Buffer
	h.RequestLog = NewRequestLog(&logs, "json", slog.LevelDebug)
	e := New(h)
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
		h, logs := newMetricsHandler(t, level)
		wantStatus(t, serve(New(h), http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml", ""), http.StatusOK)
		if logs.Len() != 0 {
			t.Errorf("level %v: logged %q", level, logs.String())
		}
		if n := testutil.CollectAndCount(h.Metrics.requests); n != 1 {
			t.Errorf("level %v: %d request series counted, want 1", level, n)
		}
	}
	h := newTestHandler(t, nil)
	h.RequestLog = nil
	wantStatus(t, serve(New(h), http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml", ""), http.StatusOK)
}

// BenchmarkRequestLog: one line, against slog's own handler writing the
// same line.
func BenchmarkRequestLog(b *testing.B) {
	l := requestLineCases[0]
	l.time = time.Now()
	l.requestID = ""
	for _, format := range []string{"text", "json"} {
		b.Run("ours-"+format, func(b *testing.B) {
			rl := NewRequestLog(discard{}, format, slog.LevelInfo)
			b.ReportAllocs()
			for b.Loop() {
				rl.write(&l)
			}
		})
		b.Run("slog-"+format, func(b *testing.B) {
			h := slogHandler(discard{}, format, slog.LevelInfo)
			l.requestID = "QWERTYUIOPASDFGHJKLZXCVBNM" // ours makes one
			b.ReportAllocs()
			for b.Loop() {
				slogWrite(h, slog.LevelInfo, &l)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
