package dnsupdate

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/testutil/authdns"
	"mailautoconf/provision"
)

// TestApplyAll: a dry run prints the changes and sends nothing, the run
// sends them, the next finds the zone up to date; the provider's shared
// PACC record, in no zone of dns_updates, is skipped with what to do.
func TestApplyAll(t *testing.T) {
	want, shared := records(t)
	srv := authdns.StartWithKey(t, &testKey, authdns.Zone{Origin: "example.com.", Updatable: true, Text: messy(t, want)}, hosterZone())
	updates := []provision.DNSUpdate{{Zones: []string{"example.com"}, Server: srv.Addr, TSIGKeyEnv: "KEY", Source: "c.yaml:9"}}
	getenv := env("mailautoconf:hmac-sha256:" + secret)
	list := []dnsrecords.Domain{want, shared}
	run := func(o Options) string {
		t.Helper()
		var out bytes.Buffer
		if err := ApplyAll(context.Background(), updates, list, false, o, getenv, &out); err != nil {
			t.Fatalf("ApplyAll(%+v) = %v\n%s", o, err, out.String())
		}
		return out.String()
	}
	for _, c := range []struct {
		o    Options
		says []string
	}{
		{Options{DryRun: true}, []string{
			"example.com (zone example.com at " + srv.Addr + "): ",
			"  + autoconfig.example.com. 3600 IN CNAME autoconfig.hoster.test.\n",
			"_ua-auto-config.hoster.test: skipped: not in a dns_updates zone; publish provider example.com's PACC TXT record by hand\n",
			"2 names: 1 to update (dry run: nothing sent), 0 up to date, 1 skipped, 0 failed\n"}},
		{Options{}, []string{"example.com: updated\n", "2 names: 1 updated, 0 up to date, 1 skipped, 0 failed\n"}},
		{Options{}, []string{"example.com (zone example.com at " + srv.Addr + "): up to date\n", "2 names: 0 updated, 1 up to date, 1 skipped, 0 failed\n"}},
	} {
		out := run(c.o)
		for _, s := range c.says {
			if !strings.Contains(out, s) {
				t.Errorf("ApplyAll(%+v) does not say %q:\n%s", c.o, s, out)
			}
		}
	}
}

// TestApplyAllNeedsZones: without dns_updates there is nothing to send
// to, and the error says which key is missing.
func TestApplyAllNeedsZones(t *testing.T) {
	want, _ := records(t)
	var out bytes.Buffer
	err := ApplyAll(context.Background(), nil, []dnsrecords.Domain{want}, false, Options{}, env(""), &out)
	if err == nil || !strings.Contains(err.Error(), "dns_updates") || out.Len() != 0 {
		t.Errorf("ApplyAll without zones = %v, wrote %q", err, out.String())
	}
}
