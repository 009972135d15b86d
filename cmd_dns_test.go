package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDNSNamedCheckzone pastes `mailautoconf dns` output into a minimal
// BIND zone and has named-checkzone (Debian's bind9-utils) load it, as an
// admin would.
func TestDNSNamedCheckzone(t *testing.T) {
	checkzone, err := exec.LookPath("named-checkzone")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("named-checkzone missing: CI must install bind9-utils (.ci/run APT_PACKAGES)")
		}
		t.Skip("skipping: named-checkzone is not installed (apt-get install bind9-utils)")
	}
	tests := []struct {
		name string
		args []string
	}{
		{"cname", []string{"--public-host", "autoconfig.hoster.example"}},
		{"addresses", []string{"--ipv4", "192.0.2.1", "--ipv6", "2001:db8::1,2001:db8::2"}},
		{"cname-and-addresses", []string{"--public-host", "mail.hoster.example", "--ipv4", "192.0.2.1"}},
		{"nothing-configured", nil},
		{"public-host-in-zone", []string{"--public-host", "autoconfig.example.com"}},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		domains := []string{"example.com"}
		if tc.name == "cname" {
			domains = append(domains, "example.net")
		}
		for _, domain := range domains {
			var out, errb bytes.Buffer
			args := append(append([]string{"dns"}, tc.args...), domain)
			if err := run(context.Background(), args, &out, &errb); err != nil {
				t.Fatalf("mailautoconf %s: %v\n%s", strings.Join(args, " "), err, errb.String())
			}
			zone := "$TTL 3600\n" +
				domain + ". IN SOA ns1." + domain + ". hostmaster." + domain + ". 1 7200 900 1209600 300\n" +
				domain + ". IN NS ns1." + domain + ".\n" +
				"ns1." + domain + ". IN A 192.0.2.53\n" +
				out.String()
			file := filepath.Join(dir, tc.name+"-"+domain+".zone")
			if err := os.WriteFile(file, []byte(zone), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(checkzone, "-k", "fail", "-n", "fail", "-i", "full", domain, file)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s/%s: named-checkzone refused the output: %v\n%s\n--- zone:\n%s", tc.name, domain, err, msg, zone)
			}
		}
	}
}

func TestDNSCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"dns", "--json", "--public-host", "h.example.org"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	var doc struct {
		Domains []struct {
			Domain  string
			Records []struct{ Name, Type, Data string }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	// Every domain of the demo catalog, sorted.
	if len(doc.Domains) != 2 || doc.Domains[0].Domain != "example.com" || doc.Domains[1].Domain != "example.net" {
		t.Fatalf("dns --json domains = %+v, want example.com and example.net", doc.Domains)
	}
	if r := doc.Domains[0].Records[0]; r.Name != "autoconfig.example.com." || r.Type != "CNAME" || r.Data != "h.example.org." {
		t.Errorf("first record = %+v, want autoconfig.example.com. CNAME h.example.org.", r)
	}

	for _, args := range [][]string{
		{"dns", "unknown.example"},
		{"dns", "not a domain"},
		{"dns", "--ipv4", "2001:db8::1"},
		{"dns", "--ipv6", "192.0.2.1"},
		{"dns", "--public-host", "bad_host"},
		{"dns", "--ttl", "0"},
	} {
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("mailautoconf %s: no error", strings.Join(args, " "))
		}
	}

	// Without a public host the records that need one are notes on
	// stderr and comments in the zone, never a broken record.
	out.Reset()
	errb.Reset()
	if err := run(context.Background(), []string{"dns", "example.com"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "MAILAUTOCONF_PUBLIC_HOST") || !strings.Contains(out.String(), "; NOT GIVEN: autoconfig.example.com.") {
		t.Errorf("dns without public host: stdout\n%s\nstderr\n%s", out.String(), errb.String())
	}
}
