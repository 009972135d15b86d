package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/testutil/authdns"
)

// applySecret is the TSIG secret of the apply tests: no output may hold
// it.
const applySecret = "YXBwbHktc2VjcmV0LW5ldmVyLWluLWFueS1vdXRwdXQh"

// applyCatalog serves two customer domains, one in an updatable zone and
// one not, with one PACC digest record in the hoster's zone.
func applyCatalog(server string) string {
	return fmt.Sprintf(`providers:
  - id: hoster.test
    domains: [customer.example, elsewhere.example]
    pacc_txt: _ua-auto-config.hoster.test
    incoming: [{protocol: imap, host: imap.hoster.test, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.hoster.test, port: 465, security: tls}]
dns_updates:
  - zones: [customer.example, hoster.test]
    server: %s
    tsig_key_env: TEST_TSIG_KEY
`, server)
}

func runCmd(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

// TestDNSApply: --dry-run sends nothing; --apply turns a zone with
// missing, drifted and stale records into one `dns --check` passes; a
// second --apply sends nothing; a foreign CNAME is refused without
// --force; the secret is in no output.
func TestDNSApply(t *testing.T) {
	customer := authdns.ZoneText("customer.example.",
		`_ua-auto-config.customer.example. 3600 IN TXT "v=UAAC1; a=sha256; d=c3RhbGU="`, // stale: a digest of its own
		"_imaps._tcp.customer.example. 3600 IN SRV 0 1 143 imap.hoster.test.",           // drift
		"_caldavs._tcp.customer.example. 3600 IN SRV 0 1 443 dav.hoster.test.",          // stale: no CalDAV now
		"autodiscover.customer.example. 3600 IN CNAME autodiscover.outlook.com.",        // foreign
		"www.customer.example. 3600 IN A 192.0.2.80")
	hoster := authdns.ZoneText("hoster.test.", "autoconfig.hoster.test. IN A 127.0.0.1")
	srv := authdns.StartWithKey(t, &authdns.Key{Name: "mailautoconf", Algorithm: "hmac-sha256", Secret: applySecret},
		authdns.Zone{Origin: "customer.example.", Updatable: true, Text: customer},
		authdns.Zone{Origin: "hoster.test.", Updatable: true, Text: hoster})
	t.Setenv("TEST_TSIG_KEY", "mailautoconf:hmac-sha256:"+applySecret)
	file := writeCatalog(t, applyCatalog(srv.Addr))
	base := []string{"dns", "--catalog", file, "--public-host", "autoconfig.hoster.test"}
	var outputs []string
	runOut := func(extra ...string) (string, error) {
		out, err := runCmd(append(append([]string{}, base...), extra...)...)
		outputs = append(outputs, out)
		return out, err
	}
	updates := func() int { return strings.Count(srv.Log(), "updating zone 'customer.example/IN'") }

	out, err := runOut("--apply", "--dry-run", "customer.example")
	if err == nil || !strings.Contains(out, "autodiscover.customer.example holds CNAME autodiscover.outlook.com.") || updates() != 0 {
		t.Fatalf("--dry-run with a foreign CNAME: err %v, %d updates:\n%s", err, updates(), out)
	}
	out, err = runOut("--apply", "customer.example")
	if err == nil || !strings.Contains(out, "refused, nothing changed") || updates() != 0 {
		t.Fatalf("--apply with a foreign CNAME: err %v, %d updates:\n%s", err, updates(), out)
	}
	out, err = runOut("--apply", "--dry-run", "--force")
	if err != nil || !strings.Contains(out, "+ autoconfig.customer.example. 3600 IN CNAME autoconfig.hoster.test.") ||
		!strings.Contains(out, "elsewhere.example: skipped: not in a dns_updates zone") || updates() != 0 {
		t.Fatalf("--apply --dry-run --force: err %v, %d updates:\n%s", err, updates(), out)
	}
	out, err = runOut("--apply", "--force")
	// The shared TXT record went out with the refused run: it is a name
	// of its own, in its own update.
	if err != nil || !strings.Contains(out, "\ncustomer.example: updated") || !strings.Contains(out, "_ua-auto-config.hoster.test (zone hoster.test at "+srv.Addr+"): up to date") {
		t.Fatalf("--apply --force: %v\n%s\n%s", err, out, srv.Log())
	}
	out, err = runOut("--check", "--resolver", srv.Addr, "customer.example")
	if err != nil || !strings.Contains(out, "records: ok 13, missing 0, drift 0, conflict 0") {
		t.Errorf("dns --check after --apply: %v\n%s", err, out)
	}
	before := updates()
	out, err = runOut("--apply")
	if err != nil || !strings.Contains(out, "0 updated, 2 up to date, 1 skipped, 0 failed") || updates() != before {
		t.Errorf("second --apply: err %v, %d updates:\n%s", err, updates()-before, out)
	}
	if rrs := digA(t, srv.Addr, "www.customer.example."); !strings.Contains(rrs, "192.0.2.80") {
		t.Errorf("www.customer.example: %s: another name was touched", rrs)
	}
	out, err = runOut("--apply", "elsewhere.example")
	if err == nil || !strings.Contains(out, "elsewhere.example: FAILED: elsewhere.example: not in a dns_updates zone") {
		t.Errorf("--apply elsewhere.example: %v\n%s", err, out)
	}

	t.Setenv("TEST_TSIG_KEY", "mailautoconf:hmac-sha256:d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=")
	srv2 := strings.Replace(applyCatalog(srv.Addr), "_ua-auto-config.hoster.test", "_ua-auto-config.customer.example", 1) // a change to send
	out, err = runCmd("dns", "--catalog", writeCatalog(t, srv2), "--public-host", "autoconfig.hoster.test", "--apply", "customer.example")
	outputs = append(outputs, out)
	if err == nil || !strings.Contains(out, "did not accept the key (TSIG BADSIG)") {
		t.Errorf("--apply with a wrong key: %v\n%s", err, out)
	}
	for _, o := range outputs {
		if strings.Contains(o, applySecret) {
			t.Errorf("an output holds the TSIG secret:\n%s", o)
		}
	}
}

// digA is the A records at name, as one line.
func digA(t *testing.T, server, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	in, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, server)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range in.Answer {
		out = append(out, rr.String())
	}
	return strings.Join(out, "; ")
}
