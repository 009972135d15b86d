package reqlog

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// slogLine is what slog's own handler writes for l: the reference the
// request log is held to, built as the request log was before it had a
// formatter of its own.
func slogLine(format string, level slog.Level, l *Line) string {
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

func slogWrite(h slog.Handler, level slog.Level, l *Line) {
	r := slog.NewRecord(l.Time, slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("method", l.Method),
		slog.String("route", l.Route),
		slog.String("format", l.Format),
		slog.Int("status", l.Status),
		slog.Duration("duration", l.Duration),
		slog.String("client", l.Client),
	)
	if l.Domain != "" {
		r.AddAttrs(slog.String("domain", l.Domain))
	}
	r.AddAttrs(slog.String("request_id", l.RequestID))
	if level <= slog.LevelDebug {
		if l.Address != "" {
			r.AddAttrs(slog.String("address", l.Address))
		}
		r.AddAttrs(slog.String("remote", l.Remote), slog.String("user_agent", l.UserAgent))
	}
	if l.Reason != "" {
		r.AddAttrs(slog.String("reason", l.Reason))
	}
	_ = h.Handle(context.Background(), r)
}

// ourLine is what the request log writes for l.
func ourLine(format string, level slog.Level, l *Line) string {
	var buf bytes.Buffer
	New(&buf, format, level).WriteLine(l)
	return buf.String()
}

// requestLineCases are lines with every kind of value a client can put
// into one: the reason quotes input, the method and User-Agent are the
// client's own.
var requestLineCases = []Line{
	{Method: "GET", Route: "/mail/config-v1.1.xml", Format: "autoconfig", Status: 200, Duration: 4987 * time.Nanosecond,
		Client: "thunderbird", Domain: "example.com", RequestID: "lb-4711.a_b",
		Address: "alice@example.com", Remote: "192.0.2.1:4711", UserAgent: "Mozilla/5.0 (X11) Thunderbird/128.3.0"},
	{Method: "POST", Route: "", Format: "none", Status: 404, Duration: 0, Client: "other", RequestID: "X",
		Reason: "code=404, message=Not Found"},
	{Method: "PROPFIND", Route: "/v1.1/:domain", Format: "autoconfig", Status: 400, Duration: 3 * time.Second,
		Client: "other", RequestID: "a", Remote: "[::1]:1", Reason: `bad address: character U+0022 '"' not allowed`},
	{Method: "GET", Route: "/", Format: "page", Status: 200, Duration: time.Millisecond, Client: "other", RequestID: "b",
		UserAgent: "tab\there, nul\x00, newline\n, bell\a, del\x7f, backslash\\, equals=, quote\", é, \u00a0nbsp, \u200bzwsp, \u2028ls, \u2029ps, bad \xff\xfe utf-8, \U0001F600"},
	{Method: "GET", Route: "/autodiscover/autodiscover.json/v1.0/*", Format: "autodiscover-json", Status: 431,
		Duration: -5, Client: "", Domain: "xn--bcher-kva.example", RequestID: "c", Reason: "=", UserAgent: " "},
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
					l.Time = at
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
	rl := New(&buf, "text", slog.LevelInfo)
	base := time.Date(2026, 11, 26, 4, 14, 20, 908_000_000, time.UTC)
	zone := time.FixedZone("X", -3*3600)
	for i, at := range []time.Time{
		base, base.Add(999_999), base.Add(1_000_000), base.Add(1), base.In(zone), base.In(zone).Add(5), base.Add(-1),
		base.Add(time.Hour), time.Unix(0, 999_999).UTC(), time.Unix(-1, 999_999_999).UTC(), time.Unix(-1, 0).UTC(),
	} {
		buf.Reset()
		l := requestLineCases[0]
		l.Time = at
		rl.WriteLine(&l)
		if want := slogLine("text", slog.LevelInfo, &l); buf.String() != want {
			t.Errorf("time %d (%v):\n got %q\nwant %q", i, at, buf.String(), want)
		}
	}
}

// FuzzRequestLine: any values a request can bring give slog's bytes, one
// line, and in JSON a document that parses.
func FuzzRequestLine(f *testing.F) {
	for _, tc := range requestLineCases {
		f.Add(tc.Method, tc.Route, tc.Domain, tc.RequestID, tc.Address, tc.UserAgent, tc.Reason, tc.Status, int64(tc.Duration), int64(1764130460908123456), true, false)
	}
	f.Fuzz(func(t *testing.T, method, route, domain, id, address, ua, reason string, status int, duration, at int64, json_, debug bool) {
		if id == "" {
			id = "x" // "" makes a random id (handlers.TestRequestID checks them)
		}
		l := Line{Time: time.Unix(0, at).UTC(), Method: method, Route: route, Format: "autoconfig", Status: status,
			Duration: time.Duration(duration), Client: "other", Domain: domain, RequestID: id,
			Address: address, Remote: "192.0.2.1:1", UserAgent: ua, Reason: reason}
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
// BenchmarkRequestLog: one line, against slog's own handler writing the
// same line.
func BenchmarkRequestLog(b *testing.B) {
	l := requestLineCases[0]
	l.Time = time.Now()
	l.RequestID = ""
	for _, format := range []string{"text", "json"} {
		b.Run("ours-"+format, func(b *testing.B) {
			rl := New(discard{}, format, slog.LevelInfo)
			b.ReportAllocs()
			for b.Loop() {
				rl.WriteLine(&l)
			}
		})
		b.Run("slog-"+format, func(b *testing.B) {
			h := slogHandler(discard{}, format, slog.LevelInfo)
			l.RequestID = "QWERTYUIOPASDFGHJKLZXCVBNM" // ours makes one
			b.ReportAllocs()
			for b.Loop() {
				slogWrite(h, slog.LevelInfo, &l)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func checkBase32(t *testing.T, hi, lo uint64) {
	raw := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, hi), lo)
	want := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	if got := string(appendBase32([]byte("x"), hi, lo)); got != "x"+want {
		t.Fatalf("appendBase32(%#x, %#x) = %q, want x%s", hi, lo, got, want)
	}
}

func TestAppendBase32(t *testing.T) {
	for _, v := range [][2]uint64{{0, 0}, {^uint64(0), ^uint64(0)}, {1, 0}, {0, 1}, {1 << 63, 0}, {0, 1 << 63}, {0x0123456789abcdef, 0xfedcba9876543210}} {
		checkBase32(t, v[0], v[1])
	}
}

// FuzzAppendBase32: appendBase32 is encoding/base32's standard encoding.
func FuzzAppendBase32(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(0x0123456789abcdef), uint64(0xfedcba9876543210))
	f.Fuzz(checkBase32)
}
