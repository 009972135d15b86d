package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"mailautoconf/handlers"
	"mailautoconf/provision"
)

// paccCatalogYAML has a provider PACC describes in part (its STARTTLS
// servers are left out) and one it cannot describe at all.
const paccCatalogYAML = `providers:
  - id: example.org
    display_name: Example & "Co"
    domains: [example.org, bücher.example]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 143, security: starttls}
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
    caldav: https://dav.example.org/cal/
    jmap: https://jmap.example.org/.well-known/jmap
    help: {documentation: "https://example.org/help?a=1&b=2", contact: ["mailto:help@example.org"]}
  - id: old.example
    domains: [old.example]
    incoming: [{protocol: imap, host: mail.old.example, port: 143, security: starttls}]
    outgoing: [{protocol: smtp, host: mail.old.example, port: 587, security: starttls}]
`

// TestDNSDigestMatchesServed: the _ua-auto-config TXT that `dns` prints
// for every domain is the SHA-256 of exactly the bytes the service sends
// for that domain over HTTP, through its router.
func TestDNSDigestMatchesServed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(file, []byte(paccCatalogYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"dns", "--catalog", file, "--public-host", "h.example.net"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	txt := regexp.MustCompile(`(?m)^_ua-auto-config\.(\S+)\.\s+\d+ IN TXT\s+"(v=UAAC1; a=sha256; d=[A-Za-z0-9+/=]+)"$`)
	printed := map[string]string{}
	for _, m := range txt.FindAllStringSubmatch(out.String(), -1) {
		printed[m[1]] = m[2]
	}
	if len(printed) != 2 || printed["example.org"] == "" || printed["xn--bcher-kva.example"] == "" {
		t.Fatalf("dns printed digests for %q, want example.org and xn--bcher-kva.example (not old.example):\n%s", printed, out.String())
	}
	if strings.Contains(out.String(), "ua-auto-config.old.example") {
		t.Errorf("dns prints PACC records for old.example, which has no document:\n%s", out.String())
	}

	cat, err := provision.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var cp atomic.Pointer[provision.Catalog]
	cp.Store(cat)
	srv := httptest.NewServer(handlers.New(handlers.Config{Catalog: &cp, Log: slog.New(slog.DiscardHandler)}).Router())
	defer srv.Close()
	for domain, record := range printed {
		req, _ := http.NewRequest("GET", srv.URL+"/.well-known/user-agent-configuration.json", nil)
		req.Host = "ua-auto-config." + domain
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", domain, resp.StatusCode)
		}
		sum := sha256.Sum256(body)
		if got := "v=UAAC1; a=sha256; d=" + base64.StdEncoding.EncodeToString(sum[:]); got != record {
			t.Errorf("%s: dns prints %q, the served body hashes to %q", domain, record, got)
		}
	}
}

// TestCheckWarnsPACC: check names the servers PACC leaves out, and says
// when a provider has no PACC document at all.
func TestCheckWarnsPACC(t *testing.T) {
	file := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(file, []byte(paccCatalogYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"check", file}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	for _, want := range []string{
		"catalog.yaml:2: provider example.org: PACC describes only",
		"IMAP imap.example.org:143 (starttls)",
		"catalog.yaml:12: provider old.example:",
		"IMAP mail.old.example:143 (starttls), SMTP mail.old.example:587 (starttls)",
		"no PACC document (404",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
}
