package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDNSSMTPSNamedCheckzone: the `dns` output of a provider that submits
// on 465 only carries aerc's _smtps._tcp record (docs/clients/aerc.md),
// and named-checkzone loads it.
func TestDNSSMTPSNamedCheckzone(t *testing.T) {
	checkzone, err := exec.LookPath("named-checkzone")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("named-checkzone missing: CI must install bind9-utils (.ci/run APT_PACKAGES)")
		}
		t.Skip("skipping: named-checkzone is not installed (apt-get install bind9-utils)")
	}
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(catalog, []byte(`providers:
  - id: mail.example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 465, security: tls}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"dns", "--catalog", catalog, "--public-host", "autoconfig.hoster.example", "example.org"}, &out, &errb); err != nil {
		t.Fatalf("mailautoconf dns: %v\n%s", err, errb.String())
	}
	for _, want := range []string{
		"_smtps._tcp.example.org. 3600 IN SRV 0 1 465 smtp.example.org.",
		"_submissions._tcp.example.org. 3600 IN SRV 0 1 465 smtp.example.org.",
		"_submission._tcp.example.org. 3600 IN SRV 0 0 0 .",
	} {
		if !slices.ContainsFunc(strings.Split(out.String(), "\n"), func(l string) bool { return strings.Join(strings.Fields(l), " ") == want }) {
			t.Errorf("dns output lacks %q:\n%s", want, out.String())
		}
	}
	zone := "$TTL 3600\n" +
		"example.org. IN SOA ns1.example.org. hostmaster.example.org. 1 7200 900 1209600 300\n" +
		"example.org. IN NS ns1.example.org.\n" +
		"ns1.example.org. IN A 192.0.2.53\n" +
		out.String()
	file := filepath.Join(dir, "example.org.zone")
	if err := os.WriteFile(file, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(checkzone, "-k", "fail", "-n", "fail", "-i", "full", "example.org", file)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("named-checkzone refused the output: %v\n%s\n--- zone:\n%s", err, msg, zone)
	}
}
