package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/handlers"
	"mailautoconf/internal/testutil/authdns"
	"mailautoconf/internal/testutil/golden"
	"mailautoconf/provision"
)

// sharedPACCYAML: a hoster's provider with one PACC digest record for
// its three customer domains (pacc_txt), and a provider without one.
const sharedPACCYAML = `providers:
  - id: hoster.example
    display_name: Hoster
    domains: [customer1.example, customer2.example, bücher.example]
    pacc_txt: _ua-auto-config.hoster.example
    incoming: [{protocol: imap, host: imap.hoster.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.hoster.example, port: 465, security: tls}]
  - id: plain.example
    domains: [plain.example]
    incoming: [{protocol: imap, host: imap.plain.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.plain.example, port: 465, security: tls}]
`

func writeCatalog(t *testing.T, yaml string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func runDNS(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append([]string{"dns"}, args...), &out, &errb); err != nil {
		t.Fatalf("mailautoconf dns %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// TestDNSSharedPACC: with pacc_txt, `dns` prints the one TXT record once
// and a CNAME to it for each of the provider's domains.
func TestDNSSharedPACC(t *testing.T) {
	file := writeCatalog(t, sharedPACCYAML)
	zone := runDNS(t, "--catalog", file, "--public-host", "autoconfig.hoster.example")
	golden.Check(t, "dns/pacc-shared.zone", []byte(zone))
	golden.Check(t, "dns/pacc-shared.json", []byte(runDNS(t, "--json", "--catalog", file, "--public-host", "autoconfig.hoster.example")))
	if n := strings.Count(zone, "\n_ua-auto-config.hoster.example. 3600 IN TXT"); n != 1 {
		t.Errorf("the shared TXT record is printed %d times, want once:\n%s", n, zone)
	}
	for _, d := range []string{"customer1.example", "customer2.example", "xn--bcher-kva.example"} {
		re := regexp.MustCompile(`\n_ua-auto-config\.` + regexp.QuoteMeta(d) + `\.\s+3600 IN CNAME _ua-auto-config\.hoster\.example\.\n`)
		if !re.MatchString(zone) {
			t.Errorf("no _ua-auto-config CNAME for %s:\n%s", d, zone)
		}
	}
	if !strings.Contains(zone, "\n_ua-auto-config.plain.example.    3600 IN TXT") {
		t.Errorf("plain.example (no pacc_txt) lost its own TXT record:\n%s", zone)
	}
	// Asking for one domain prints its CNAME and the TXT it leads to.
	one := runDNS(t, "--catalog", file, "--public-host", "autoconfig.hoster.example", "customer2.example")
	if !strings.Contains(one, "_ua-auto-config.hoster.example. 3600 IN TXT") || strings.Contains(one, "customer1") {
		t.Errorf("dns customer2.example:\n%s", one)
	}
}

// TestDNSSharedPACCZone loads the output into named (one zone holding
// every name, as "example."), after named-checkzone accepts it; then an
// independent lookup, following the CNAME by hand, finds for every
// domain a digest equal to the SHA-256 of the document served for it
// through the router.
func TestDNSSharedPACCZone(t *testing.T) {
	file := writeCatalog(t, sharedPACCYAML)
	records := runDNS(t, "--catalog", file, "--public-host", "autoconfig.hoster.example")
	zone := authdns.ZoneText("example.", records, "autoconfig.hoster.example. IN A 192.0.2.1")

	if checkzone, err := exec.LookPath("named-checkzone"); err == nil {
		f := filepath.Join(t.TempDir(), "example.zone")
		if err := os.WriteFile(f, []byte(zone), 0o644); err != nil {
			t.Fatal(err)
		}
		if msg, err := exec.Command(checkzone, "-k", "fail", "-n", "fail", "example", f).CombinedOutput(); err != nil {
			t.Errorf("named-checkzone refused the output: %v\n%s", err, msg)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("named-checkzone missing: CI must install bind9-utils")
	}

	srv := authdns.Start(t, authdns.Zone{Origin: "example.", Text: zone})
	cat, err := provision.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var cp atomic.Pointer[provision.Catalog]
	cp.Store(cat)
	router := handlers.New(handlers.Config{Catalog: &cp, Log: slog.New(slog.DiscardHandler)}).Router()
	for _, d := range cat.Domains() {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest("GET", "http://ua-auto-config."+d+"/.well-known/user-agent-configuration.json", nil))
		if rec.Code != 200 {
			t.Fatalf("%s: status %d", d, rec.Code)
		}
		sum := sha256.Sum256(rec.Body.Bytes())
		want := "v=UAAC1; a=sha256; d=" + base64.StdEncoding.EncodeToString(sum[:])
		got, chain := followTXT(t, srv.Addr, "_ua-auto-config."+d+".")
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: TXT via %v = %q, want the served body's %q", d, chain, got, want)
		}
		if d != "plain.example" && (len(chain) != 1 || chain[0] != "_ua-auto-config.hoster.example.") {
			t.Errorf("%s: CNAME chain %v, want _ua-auto-config.hoster.example.", d, chain)
		}
	}
}

// followTXT asks server for name's TXT records as a stub resolver does,
// following CNAMEs itself (at most 8), whether or not the server put the
// target's records in the same answer.
func followTXT(t *testing.T, server, name string) (txt, chain []string) {
	t.Helper()
	c := &dns.Client{Timeout: 2 * time.Second}
	for range 8 {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		in, _, err := c.Exchange(m, server)
		if err != nil {
			t.Fatalf("TXT %s: %v", name, err)
		}
		next := name
		for moved := true; moved; {
			moved = false
			for _, rr := range in.Answer {
				if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, next) {
					next, moved = strings.ToLower(cn.Target), true
					chain = append(chain, next)
				}
			}
		}
		for _, rr := range in.Answer {
			if tx, ok := rr.(*dns.TXT); ok && strings.EqualFold(tx.Hdr.Name, next) {
				txt = append(txt, strings.Join(tx.Txt, ""))
			}
		}
		if len(txt) > 0 || next == name {
			return txt, chain
		}
		name = next
	}
	t.Fatalf("TXT %s: CNAME chain longer than 8", name)
	return nil, nil
}
