package server

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"mailautoconf/internal/testutil/servetest"
	"mailautoconf/provision"
)

// TestReloadLogCountsUnlistedErrors: a catalog of more problems than a
// LoadError lists is refused with the first ones logged, a line saying how
// many more there were, and the count in the refusal.
func TestReloadLogCountsUnlistedErrors(t *testing.T) {
	path := servetest.ManyErrors(t)
	var logs bytes.Buffer
	var current atomic.Pointer[provision.Catalog]
	current.Store(provision.Demo())
	r := &reloader{path: path, current: &current, log: slog.New(slog.NewTextHandler(&logs, nil))}
	if r.reload("test", true) {
		t.Fatal("reload of an invalid catalog swapped it in")
	}
	out := logs.String()
	if n := strings.Count(out, "msg=\"catalog error\""); n != 101 {
		t.Errorf("%d catalog error lines, want 100 and one for the rest:\n%.2000s", n, out)
	}
	for _, want := range []string{
		`error="and 150 more errors, not listed"`,
		`is not a domain name (and 249 more)"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out[max(0, len(out)-600):])
		}
	}
}
