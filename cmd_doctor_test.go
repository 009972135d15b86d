package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dnstest"
)

func provisionDemoYAML() []byte {
	b, err := os.ReadFile("provision/demo.yaml")
	if err != nil {
		panic(err)
	}
	return b
}

// nxdomainServer is a DNS server on 127.0.0.1 that knows no name.
func nxdomainServer(t *testing.T) string {
	return dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNameError)
		_ = w.WriteMsg(m)
	}))
}

// TestDoctorCommand runs the command against a domain with no records at
// all: every client fails, the table says so, the exit status is 1. The
// scenarios with a working deployment are in internal/doctor/scenario.
func TestDoctorCommand(t *testing.T) {
	resolver := nxdomainServer(t)
	var out, errb bytes.Buffer
	// Flags before and after the address.
	err := run(context.Background(), []string{"doctor", "--resolver", resolver, "alice@example.com", "--timeout", "1s", "--port-map", "443:1,80:2"}, &out, &errb)
	var ee exitError
	if !errors.As(err, &ee) {
		t.Fatalf("doctor on a domain without records: err = %v, want exit status 1\n%s", err, errb.String())
	}
	for _, want := range []string{"CLIENT", "RESULT", "Thunderbird", "Outlook", "Apple Mail", "FAIL", "fix: publish autoconfig.example.com", "autoconfig.example.com", "NXDOMAIN"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	err = run(context.Background(), []string{"doctor", "--json", "--resolver", resolver, "--timeout", "1s", "bob@example.net"}, &out, &errb)
	if !errors.As(err, &ee) {
		t.Fatalf("doctor --json: err = %v, want exit status 1", err)
	}
	var rep struct {
		Address string
		Failed  bool
		Clients []struct{ ID, Status, Reason string }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("doctor --json output: %v\n%s", err, out.String())
	}
	if rep.Address != "bob@example.net" || !rep.Failed || len(rep.Clients) < 9 || rep.Clients[0].Status != "fail" {
		t.Errorf("doctor --json = %+v", rep)
	}
}

// TestDoctorCatalogExpectations: with a catalog serving the domain, the
// doctor names the records `mailautoconf dns` would print as the fix.
func TestDoctorCatalogExpectations(t *testing.T) {
	resolver := nxdomainServer(t)
	cat := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(cat, provisionDemoYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILAUTOCONF_PUBLIC_HOST", "mail.hoster.example")
	var out, errb bytes.Buffer
	_ = run(context.Background(), []string{"doctor", "--resolver", resolver, "--timeout", "1s", "--catalog", cat, "alice@example.com"}, &out, &errb)
	for _, want := range []string{
		"fix: publish it: autoconfig.example.com. CNAME mail.hoster.example.",
		"SRV _imaps._tcp.example.com",
		"fix: publish _imaps._tcp.example.com SRV 0 1 993 imap.example.com.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor --catalog output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDoctorUsage(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"doctor"},
		{"doctor", "a@example.com", "b@example.com"},
		{"doctor", "not-an-address"},
		{"doctor", "--port-map", "443", "a@example.com"},
		{"doctor", "--port-map", "443:99999", "a@example.com"},
		{"doctor", "--resolver", "no-port", "a@example.com"},
		{"doctor", "--ca", ca, "a@example.com"},
		{"doctor", "--ca", ca + ".missing", "a@example.com"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		var ee exitError
		if err == nil || errors.As(err, &ee) {
			t.Errorf("mailautoconf %s: err = %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}

func TestParsePortMap(t *testing.T) {
	m, err := parsePortMap(" 443:18443, 80:18080 ,993:10993")
	if err != nil || len(m) != 3 || m[443] != 18443 || m[80] != 18080 || m[993] != 10993 {
		t.Errorf("parsePortMap = %v, %v", m, err)
	}
	if m, err := parsePortMap(""); err != nil || len(m) != 0 {
		t.Errorf("parsePortMap(\"\") = %v, %v", m, err)
	}
}

// silentListener accepts TCP connections (the kernel completes the
// handshake) and never reads or writes: a server that hangs. It returns
// the port.
func silentListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDoctorStepTimes: each step's time is the time it took. With a 1 s
// timeout, the HTTPS request to a server that never answers the TLS
// handshake, and the SRV and TXT lookups a DNS server never answers,
// report at least 1 s in -v and in --json (they reported 0 ms: the time
// was set on a copy already returned); every other step, all of which
// asked the network, reports at least 1 ms.
func TestDoctorStepTimes(t *testing.T) {
	const timeout = time.Second
	resolver := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		switch strings.ToLower(q.Name) {
		case "_autodiscover._tcp.example.com.", "_ua-auto-config.example.com.":
			return // no answer at all
		case "autoconfig.example.com.":
			if q.Qtype == dns.TypeA {
				rr, _ := dns.NewRR("autoconfig.example.com. 300 IN A 127.0.0.1")
				m.Answer = append(m.Answer, rr)
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	}))
	portMap := fmt.Sprintf("443:%d,80:%d", silentListener(t), testutil.FreePort(t))
	slow := map[string]bool{
		"GET https://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com": true,
		"DNS SRV _autodiscover._tcp.example.com":                                                   true,
		"TXT _ua-auto-config.example.com":                                                          true,
	}
	run1 := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		args = append([]string{"doctor", "--resolver", resolver, "--timeout", timeout.String(), "--port-map", portMap}, args...)
		if err := run(context.Background(), append(args, "alice@example.com"), &out, &errb); err == nil {
			t.Fatalf("mailautoconf %s: exit status 0, want 1\n%s", strings.Join(args, " "), out.String())
		}
		return out.String()
	}

	var rep struct {
		Clients []struct {
			ID    string
			Steps []struct {
				Method, URL string
				MS          int64 `json:"ms"`
			}
		}
	}
	js := run1("--json")
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, js)
	}
	seen := map[string]bool{}
	for _, c := range rep.Clients {
		for _, s := range c.Steps {
			step := s.Method + " " + s.URL
			switch {
			case slow[step] && s.MS < timeout.Milliseconds():
				t.Errorf("--json: %s: %s took %d ms, want at least the %v timeout", c.ID, step, s.MS, timeout)
			case s.MS < 1:
				t.Errorf("--json: %s: %s took %d ms, want its real time (at least 1 ms)", c.ID, step, s.MS)
			}
			if slow[step] {
				seen[step] = true
			}
		}
	}
	if len(seen) != len(slow) {
		t.Errorf("--json: slow steps seen %v, want %v", seen, slow)
	}

	// -v: "  METHOD URL\n      -> result (N ms...".
	text := run1("-v")
	line := regexp.MustCompile(`(?m)^  (\S+ .+)\n      -> .*\((\d+) ms`)
	seen = map[string]bool{}
	timed := line.FindAllStringSubmatch(text, -1)
	if steps := strings.Count(text, "\n      -> "); len(timed) != steps {
		t.Errorf("-v: %d of %d steps show a time", len(timed), steps)
	}
	for _, m := range timed {
		ms, _ := strconv.ParseInt(m[2], 10, 64)
		switch {
		case slow[m[1]] && ms < timeout.Milliseconds():
			t.Errorf("-v: %s took %d ms, want at least the %v timeout", m[1], ms, timeout)
		case ms < 1:
			t.Errorf("-v: %s took %d ms, want its real time (at least 1 ms)", m[1], ms)
		}
		if slow[m[1]] {
			seen[m[1]] = true
		}
	}
	if len(seen) != len(slow) {
		t.Errorf("-v: slow steps with a time %v, want %v\n%s", seen, slow, text)
	}
}
