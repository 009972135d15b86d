package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

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
