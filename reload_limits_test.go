package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"mailautoconf/provision"
)

// manyErrors writes a catalog with 250 problems, one bad domain each.
func manyErrors(t *testing.T) string {
	t.Helper()
	var domains strings.Builder
	for i := range 250 {
		fmt.Fprintf(&domains, ", -bad%d.example", i)
	}
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(versionCatalog("v1"), "[example.org]", "[example.org"+domains.String()+"]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckCountsUnlistedErrors: check prints the first 100 problems and
// how many more there were.
func TestCheckCountsUnlistedErrors(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"check", manyErrors(t)}, io.Discard, &stderr); err == nil {
		t.Fatal("check of an invalid catalog succeeded")
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) < 101 || lines[100] != "and 150 more errors, not listed" {
		t.Errorf("check printed %d lines, line 101 %q; want 100 errors, then \"and 150 more errors, not listed\"", len(lines), lines[min(100, len(lines)-1)])
	}
}

// TestReloadLogCountsUnlistedErrors: a catalog of more problems than a
// LoadError lists is refused with the first ones logged, a line saying how
// many more there were, and the count in the refusal.
func TestReloadLogCountsUnlistedErrors(t *testing.T) {
	path := manyErrors(t)
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
