package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dbtest"
	"mailautoconf/internal/testutil/servetest"
)

// Who owns a domain claimed twice (docs/guide/directories.md), through the real
// server and the machine's PostgreSQL.

// ownerCatalog has two directories on one database, a before b in
// catalog order, each giving its domains to a provider of its own.
const ownerCatalog = `directories:
  - {name: a, type: postgres, url_env: OWNER_DB_URL, domains: SELECT d FROM ta, refresh: 1s, timeout: 2s}
  - {name: b, type: postgres, url_env: OWNER_DB_URL, domains: SELECT d FROM tb, refresh: 1s, timeout: 2s}
providers:
  - id: a.example
    directory: a
    incoming: [{protocol: imap, host: imap.a.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.a.example, port: 465, security: tls}]
  - id: b.example
    directory: b
    incoming: [{protocol: imap, host: imap.b.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.b.example, port: 465, security: tls}]
`

// fileProvider is a provider of the files, appended to a catalog.
const fileProvider = `  - id: file.example
    domains: [file.example, d.example]
    incoming: [{protocol: imap, host: imap.file.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.file.example, port: 465, security: tls}]
`

func ownerDB(t *testing.T, a, b []string) *dbtest.PG {
	t.Helper()
	pg := dbtest.NewPG(t)
	pg.Exec(t, `CREATE TABLE ta (d text NOT NULL)`)
	pg.Exec(t, `CREATE TABLE tb (d text NOT NULL)`)
	for _, d := range a {
		pg.Exec(t, `INSERT INTO ta VALUES ('`+d+`')`)
	}
	for _, d := range b {
		pg.Exec(t, `INSERT INTO tb VALUES ('`+d+`')`)
	}
	return pg
}

// ownerConfig is the server's Config for catalog, written to a file, with
// the database's URL in its environment.
func ownerConfig(t *testing.T, pg *dbtest.PG, catalog, dataDir string) Config {
	t.Helper()
	return directoryConfig(t, catalog, dataDir, "OWNER_DB_URL", pg.URL)
}

// ownerServe runs the server with cfg until the test ends, and waits
// until it answers /healthz.
func ownerServe(t *testing.T, cfg Config) *servetest.Live {
	t.Helper()
	s := &servetest.Live{Base: "http://" + cfg.Listen, Metrics: "http://" + cfg.MetricsListen, Logs: &testutil.SyncBuffer{}}
	s.Stop = startServe(t, cfg, s.Logs)
	testutil.WaitFor(t, 10*time.Second, "server did not start", func() bool {
		return dirStatus(s.Metrics+"/healthz") == http.StatusOK
	})
	return s
}

// imapHost is the IMAP server autoconfig names for an address, or "" for
// an answer that is not 200.
func imapHost(t *testing.T, base, addr string) string {
	t.Helper()
	resp, body := dirFetch(t, "GET", base+"/mail/config-v1.1.xml?emailaddress="+addr, "")
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	_, rest, _ := strings.Cut(body, "<hostname>")
	host, _, _ := strings.Cut(rest, "</hostname>")
	return host
}

// TestDirectoryRefreshKeepsOwner: b serves d.example; a, earlier in
// catalog order, gains it at a refresh. d.example stays with b, and the
// one warning names both; a later merge (b's list changes) does not log
// it again.
func TestDirectoryRefreshKeepsOwner(t *testing.T) {
	pg := ownerDB(t, []string{"a-only.example"}, []string{"d.example"})
	cfg := ownerConfig(t, pg, ownerCatalog, "")
	s := ownerServe(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "/readyz not 200", func() bool {
		return dirStatus(s.Metrics+"/readyz") == http.StatusOK
	})
	if got := imapHost(t, s.Base, "x@d.example"); got != "imap.b.example" {
		t.Fatalf("d.example at start: %q, want b's imap.b.example", got)
	}

	pg.Exec(t, `INSERT INTO ta VALUES ('d.example'), ('a-new.example')`)
	testutil.WaitFor(t, 10*time.Second, "a's new list not served", func() bool {
		return imapHost(t, s.Base, "x@a-new.example") == "imap.a.example"
	})
	if got := imapHost(t, s.Base, "x@d.example"); got != "imap.b.example" {
		t.Errorf("d.example once a gained it: %q, want b's imap.b.example (b served it)", got)
	}
	const warning = "directory a: d.example is already served by provider b.example (directory b): it stays there"
	testutil.WaitFor(t, 5*time.Second, "no warning naming both", func() bool {
		return strings.Contains(s.Logs.String(), warning)
	})

	// b's list changes: a new merge, the same conflict.
	pg.Exec(t, `INSERT INTO tb VALUES ('b-new.example')`)
	testutil.WaitFor(t, 10*time.Second, "b's new list not served", func() bool {
		return imapHost(t, s.Base, "x@b-new.example") == "imap.b.example"
	})
	if got := imapHost(t, s.Base, "x@d.example"); got != "imap.b.example" {
		t.Errorf("d.example after b's list changed: %q, want imap.b.example", got)
	}
	time.Sleep(200 * time.Millisecond) // LogFlush is 100ms
	if n := strings.Count(s.Logs.String(), warning); n != 1 {
		t.Errorf("the warning was logged %d times, want once:\n%s", n, s.Logs.String())
	}
}

// TestDirectoryFirstReadRefusesDuplicate: a domain that the files list and
// a directory's first read lists too stops serve with an error naming both
// (no copy on disk: the list comes after start); at the next start its
// copy on disk refuses the catalog at once.
func TestDirectoryFirstReadRefusesDuplicate(t *testing.T) {
	pg := ownerDB(t, []string{"a-only.example", "d.example"}, nil)
	dataDir := t.TempDir()
	cfg := ownerConfig(t, pg, ownerCatalog+fileProvider, dataDir)
	want := "directory a: d.example is already served by provider file.example (" + cfg.Catalog + ":13)"
	for _, run := range []string{"first read", "copy on disk"} {
		logs := &testutil.SyncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cfg, logs) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: Run = %v, want an error with %q", run, err, want)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s: serve did not stop within 20 s; log:\n%s", run, logs.String())
			cancel()
			<-done
		}
		cancel()
	}
}

// TestDirectoryReloadGainsServedDomain: a reload whose files list a
// domain the directory serves now is refused, naming both; the domain
// keeps its servers.
func TestDirectoryReloadGainsServedDomain(t *testing.T) {
	pg := ownerDB(t, []string{"d.example"}, nil)
	cfg := ownerConfig(t, pg, ownerCatalog, "")
	s := ownerServe(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "d.example not served", func() bool {
		return imapHost(t, s.Base, "x@d.example") == "imap.a.example"
	})
	servetest.WriteRename(t, cfg.Catalog, ownerCatalog+fileProvider)
	testutil.WaitFor(t, 10*time.Second, "reload not refused", func() bool {
		return strings.Contains(s.Logs.String(), "catalog reload refused")
	})
	want := "directory a: d.example, which this directory serves now, is also listed by provider file.example (" + cfg.Catalog + ":13)"
	if !strings.Contains(s.Logs.String(), want) {
		t.Errorf("the refusal does not name both (%q):\n%s", want, s.Logs.String())
	}
	if got := imapHost(t, s.Base, "x@d.example"); got != "imap.a.example" {
		t.Errorf("d.example after the reload: %q, want a's imap.a.example", got)
	}
	if got := imapHost(t, s.Base, "x@file.example"); got != "" {
		t.Errorf("the refused reload's file.example is served: %q", got)
	}
}

// TestDirectoryServiceNameRows: a directory's rows autodiscover.<d> and
// autoconfig.<d>, <d> a file domain of another provider, are skipped with a
// warning: the host-based routes at those names do not answer with the
// directory's provider.
func TestDirectoryServiceNameRows(t *testing.T) {
	pg := ownerDB(t, []string{"a-only.example", "autodiscover.file.example", "autoconfig.file.example", "ua-auto-config.file.example"}, nil)
	cfg := ownerConfig(t, pg, ownerCatalog+fileProvider, "")
	s := ownerServe(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "a's list not served", func() bool {
		return imapHost(t, s.Base, "x@a-only.example") == "imap.a.example"
	})
	get := func(host, path string) (int, string) {
		req, err := http.NewRequest("GET", s.Base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, body := dirDo(t, req)
		return resp.StatusCode, body
	}
	for _, tc := range []struct{ host, path string }{
		{"autodiscover.file.example", "/mail/config-v1.1.xml"},        // autoconfig at autodiscover.<d>
		{"autoconfig.file.example", "/autodiscover/autodiscover.xml"}, // POX GET at autoconfig.<d>
		{"autoconfig.file.example", "/.well-known/user-agent-configuration.json"},
	} {
		if code, body := get(tc.host, tc.path); strings.Contains(body, "a.example") {
			t.Errorf("GET %s at Host %s = %d with the directory's provider:\n%s", tc.path, tc.host, code, body)
		}
	}
	if code, body := get("autoconfig.file.example", "/mail/config-v1.1.xml"); code != http.StatusOK || !strings.Contains(body, "imap.file.example") {
		t.Errorf("autoconfig at autoconfig.file.example = %d:\n%s", code, body)
	}
	time.Sleep(200 * time.Millisecond) // LogFlush is 100ms
	for _, name := range []string{"autodiscover.file.example", "autoconfig.file.example", "ua-auto-config.file.example"} {
		w := "directory a: " + name + " is a service name of file.example, which provider file.example serves (" + cfg.Catalog + ":13), skipped"
		if n := strings.Count(s.Logs.String(), w); n != 1 {
			t.Errorf("warning %q logged %d times, want once", w, n)
		}
	}
}

func dirDo(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := dirClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}
