// Package servetest holds what the tests of a running service share: the
// root package's, which start it through the serve command or as a
// process, and internal/server's, which start it from a Config: named
// pipes, catalogs that show which version served an answer, and the
// metrics page (free ports, polling and a shared log buffer are the
// parent package testutil's). Tests only: it is imported by _test files.
package servetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil"
)

// VersionCatalog is a catalog whose servers name version v, so that an
// answer shows which catalog served it. The incoming server is on line 5.
func VersionCatalog(v string) string {
	return fmt.Sprintf(`providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap-%s.example.org, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp-%s.example.org, port: 465, security: tls}
`, v, v)
}

// InvalidCatalog is VersionCatalog(v) with a port out of range on line 5.
func InvalidCatalog(v string) string {
	return strings.Replace(VersionCatalog(v), "port: 993", "port: 99999", 1)
}

// ManyErrors writes a catalog with 250 problems, one bad domain each, and
// returns its path.
func ManyErrors(t testing.TB) string {
	t.Helper()
	var domains strings.Builder
	for i := range 250 {
		fmt.Fprintf(&domains, ", -bad%d.example", i)
	}
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(VersionCatalog("v1"), "[example.org]", "[example.org"+domains.String()+"]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	incomingVersion = regexp.MustCompile(`<hostname>imap-(v[0-9]+)\.example\.org</hostname>`)
	outgoingVersion = regexp.MustCompile(`<hostname>smtp-(v[0-9]+)\.example\.org</hostname>`)
)

// ServedVersion asks the autoconfig URL and returns the catalog version
// of a whole, consistent answer, or an error for anything else.
func ServedVersion(client *http.Client, base string) (string, error) {
	resp, err := client.Get(base + "/mail/config-v1.1.xml?emailaddress=alice@example.org")
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	in, out := incomingVersion.FindSubmatch(body), outgoingVersion.FindSubmatch(body)
	if in == nil || out == nil || string(in[1]) != string(out[1]) {
		return "", fmt.Errorf("answer from no single catalog: %.400s", body)
	}
	return string(in[1]), nil
}

// MetricValue reads one sample from a /metrics page, -1 when absent.
func MetricValue(t testing.TB, metricsBase, sample string) float64 {
	t.Helper()
	resp, err := http.Get(metricsBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v
		}
	}
	return -1
}

// WriteInPlace rewrites a file in place: truncate, then write, as shell
// redirection and many tools do.
func WriteInPlace(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteRename writes a new file beside path and renames it over path, as
// editors and configuration tools do.
func WriteRename(t testing.TB, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Live is a service running in the test's process.
type Live struct {
	Base, Metrics string // http://HOST:PORT of the plain and the metrics listener
	Logs          *testutil.SyncBuffer
	// Stop ends the service and waits for it; the end of the test
	// calls it when the test has not.
	Stop func()
}

// Start runs serve, which serves on the plain and metrics listener
// addresses given until its ctx ends, logging to logs, and waits until it
// answers. Its log goes to logFile too when that is not nil.
func Start(t testing.TB, listen, metrics string, logFile io.Writer, serve func(ctx context.Context, logs io.Writer) error) *Live {
	t.Helper()
	s := &Live{Base: "http://" + listen, Metrics: "http://" + metrics, Logs: &testutil.SyncBuffer{}}
	var logs io.Writer = s.Logs
	if logFile != nil {
		logs = io.MultiWriter(s.Logs, logFile)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, logs) }()
	s.Stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			s.Stop()
		}
	})
	// The listeners are open before the service answers on them: a
	// request without a timeout would wait for ever on one that never
	// does.
	probe := &http.Client{Timeout: time.Second}
	testutil.WaitFor(t, 5*time.Second, "server did not start", func() bool {
		resp, err := probe.Get(s.Metrics + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}
