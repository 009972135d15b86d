package jsontext

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	// -update: go test ./... -update rewrites golden files, and every test
	// binary must accept the flag.
	_ "mailautoconf/internal/testutil/golden"
)

var seeds = []string{"", "plain", `"q"`, `a\b`, "<>&", "\b\f\n\r\t", "\x00\x1f\x7f", "\xff", "a\xe2\x80", "\xed\xa0\x80",
	"\u2028\u2029", "\ufffd", "jürgen", "\U0001F600", "\ue000", "tab\tend"}

// marshalText is json.Marshal's string without its quotes.
func marshalText(t *testing.T, s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[1 : len(b)-1])
}

// slogText is slog's JSON handler's value for s without its quotes.
func slogText(s string) string {
	var buf bytes.Buffer
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)
	r.AddAttrs(slog.String("k", s))
	_ = slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r)
	line := strings.TrimSuffix(buf.String(), "\n")
	return strings.TrimSuffix(line[strings.Index(line, `"k":"`)+len(`"k":"`):], `"}`)
}

func check(t *testing.T, s string) {
	t.Helper()
	if got, want := string(Marshal.Append(nil, s)), marshalText(t, s); got != want {
		t.Errorf("Marshal %q: got %s, json.Marshal writes %s", s, got, want)
	}
	if got, want := string(Slog.Append(nil, s)), slogText(s); got != want {
		t.Errorf("Slog %q: got %s, slog writes %s", s, got, want)
	}
}

func TestAgainstTheEncoders(t *testing.T) {
	for _, s := range seeds {
		check(t, s)
	}
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
	}
	check(t, all.String())
}

// FuzzEscape: any text escapes as json.Marshal and slog escape it.
func FuzzEscape(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}

func BenchmarkAppend(b *testing.B) {
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = Marshal.Append(buf[:0], "alice.o'neil@example.com & <friends>")
	}
}
