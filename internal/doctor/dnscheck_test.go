package doctor

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/provision"
)

const testPublicHost = "mail.hoster.test"

// publishedZone is the zone of a deployment that publishes every record
// `mailautoconf dns` prints for the demo catalog's example.com, with the
// public host on 127.0.0.1.
func publishedZone(t *testing.T, target dnsrecords.Target) (dnstest.Zone, *provision.Provider) {
	t.Helper()
	p, err := provision.Demo().Lookup("example.com")
	if err != nil {
		t.Fatal(err)
	}
	z := dnstest.Zone{}
	for _, r := range dnsrecords.Derive(p, "example.com", target).Records {
		z.Add(r.Name + " 300 IN " + r.Type + " " + r.Data)
	}
	z.Add(testPublicHost+". 300 IN A 127.0.0.1", "example.com. 300 IN MX 10 mx.example.com.")
	return z, p
}

// dnsFindings runs the doctor's DNS check alone against a real DNS server
// serving z; HTTPS (the autoconfig probe) goes to a port nothing listens
// on.
func dnsFindings(t *testing.T, z dnstest.Zone, opts Options) map[string]Finding {
	t.Helper()
	server := dnstest.ServeZone(t, z, nil)
	opts.Timeout = 2 * time.Second
	res, err := newResolver(server, opts.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := dnscheck.NewPool([]string{server}, 0, opts.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{
		net:    &network{res: res, ports: map[int]int{443: testutil.FreePort(t)}, timeout: opts.Timeout, now: time.Now},
		pool:   pool,
		domain: "example.com",
		opts:   opts,
	}
	out := map[string]Finding{}
	for _, f := range r.checkDNS(context.Background(), &Report{}) {
		if _, dup := out[f.Name]; dup {
			t.Errorf("two findings named %s", f.Name)
		}
		out[f.Name] = f
	}
	return out
}

// TestDNSFindings: each record's dnscheck state becomes the finding's
// status by the doctor's mapping (recordStatus, judge), and the others
// stay as they are.
func TestDNSFindings(t *testing.T) {
	hostTarget := dnsrecords.Target{Host: testPublicHost}
	addrTarget := dnsrecords.Target{IPv4: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, IPv6: []netip.Addr{netip.MustParseAddr("::1")}}
	for _, tc := range []struct {
		name   string
		target dnsrecords.Target
		edit   func(z dnstest.Zone)
		// finding, its status, words its detail must hold, and words
		// its fix must hold ("" for none).
		finding    string
		status     Status
		detail     []string
		fix        string
		notOurs    bool // Options.Expected unset: a domain not in the catalog
		otherNames bool // other findings need not pass
	}{
		{name: "published", target: hostTarget, finding: "autoconfig.example.com", status: Pass, detail: []string{"CNAME mail.hoster.test."}},
		{name: "stale Microsoft 365 Autodiscover", target: hostTarget, edit: func(z dnstest.Zone) {
			delete(z, "autodiscover.example.com.")
			z.Add("autodiscover.example.com. 300 IN CNAME autodiscover.outlook.com.", "autodiscover.outlook.com. 300 IN A 192.0.2.10")
		}, finding: "autodiscover.example.com", status: Fail, detail: []string{"leads to autodiscover.outlook.com (Microsoft 365)"}, fix: "publish autodiscover.example.com. CNAME mail.hoster.test."},
		{name: "autoconfig elsewhere", target: hostTarget, edit: func(z dnstest.Zone) {
			delete(z, "autoconfig.example.com.")
			z.Add("autoconfig.example.com. 300 IN CNAME old.hoster.test.", "old.hoster.test. 300 IN A 127.0.0.20")
		}, finding: "autoconfig.example.com", status: Fail, detail: []string{"leads to old.hoster.test"}, fix: "publish autoconfig.example.com. CNAME mail.hoster.test."},
		{name: "autoconfig missing", target: hostTarget, edit: func(z dnstest.Zone) { delete(z, "autoconfig.example.com.") },
			finding: "autoconfig.example.com", status: Fail, detail: []string{"NXDOMAIN"}, fix: "publish it: autoconfig.example.com. CNAME mail.hoster.test."},
		{name: "one family of ours missing", target: addrTarget, edit: func(z dnstest.Zone) {
			delete(z, "autoconfig.example.com.")
			z.Add("autoconfig.example.com. 300 IN A 127.0.0.1")
		}, finding: "autoconfig.example.com", status: Warn, detail: []string{"no AAAA record", "clients reach it"}, fix: "autoconfig.example.com. AAAA ::1"},
		{name: "no PACC TXT", target: hostTarget, edit: func(z dnstest.Zone) { delete(z, "_ua-auto-config.example.com.") },
			finding: "TXT _ua-auto-config.example.com", status: Warn, detail: []string{"(optional)"}, fix: "_ua-auto-config.example.com. TXT \"v=UAAC1"},
		{name: "stale PACC digest", target: hostTarget, edit: func(z dnstest.Zone) {
			delete(z, "_ua-auto-config.example.com.")
			z.Add(`_ua-auto-config.example.com. 300 IN TXT "` + provision.PACCDigestOf([]byte("{}\n")) + `"`)
		}, finding: "TXT _ua-auto-config.example.com", status: Warn, detail: []string{"stale PACC digest"}},
		{name: "SRV elsewhere", target: hostTarget, edit: func(z dnstest.Zone) {
			delete(z, "_imaps._tcp.example.com.")
			z.Add("_imaps._tcp.example.com. 300 IN SRV 0 1 9993 old-imap.example.com.")
		}, finding: "SRV _imaps._tcp.example.com", status: Warn, detail: []string{"other targets", "9993 old-imap.example.com"}, fix: "publish _imaps._tcp.example.com SRV 0 1 993 imap.example.com."},
		{name: "Autodiscover SRV to Microsoft 365", target: hostTarget, edit: func(z dnstest.Zone) {
			delete(z, "_autodiscover._tcp.example.com.")
			z.Add("_autodiscover._tcp.example.com. 300 IN SRV 0 0 443 autodiscover.outlook.com.")
		}, finding: "SRV _autodiscover._tcp.example.com", status: Fail, detail: []string{"autodiscover.outlook.com (Microsoft 365)"}},
		{name: "not ours: names resolve", notOurs: true, finding: "autoconfig.example.com", status: Pass, detail: []string{"CNAME mail.hoster.test."}},
		{name: "not ours: SRV shown", notOurs: true, finding: "SRV _imaps._tcp.example.com", status: Info, detail: []string{"0 1 993 imap.example.com"}},
		{name: "not ours: name missing", notOurs: true, edit: func(z dnstest.Zone) { delete(z, "autodiscover.example.com.") },
			finding: "autodiscover.example.com", status: Fail, detail: []string{"does not resolve"}, fix: "publish it: autodiscover.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := tc.target
			if tc.notOurs {
				target = hostTarget
			}
			z, p := publishedZone(t, target)
			if tc.edit != nil {
				tc.edit(z)
			}
			opts := Options{Expected: p, Target: tc.target}
			if tc.notOurs {
				opts = Options{}
			}
			fs := dnsFindings(t, z, opts)
			f, ok := fs[tc.finding]
			if !ok {
				t.Fatalf("no finding %s in %v", tc.finding, fs)
			}
			if f.Status != tc.status {
				t.Errorf("%s: %s (%s), want %s", f.Name, f.Status, f.Detail, tc.status)
			}
			for _, w := range tc.detail {
				if !strings.Contains(f.Detail, w) {
					t.Errorf("%s: detail %q lacks %q", f.Name, f.Detail, w)
				}
			}
			if tc.fix == "" && tc.status == Pass && f.Fix != "" || !strings.Contains(f.Fix, tc.fix) {
				t.Errorf("%s: fix %q, want it to hold %q", f.Name, f.Fix, tc.fix)
			}
			// Nothing else is worse than a warning: the edit touched
			// one record set. With the whole zone published, everything
			// but information passes.
			for _, o := range fs {
				switch {
				case o.Name == tc.finding:
				case tc.edit == nil && !tc.notOurs && o.Status != Pass:
					t.Errorf("%s: %s (%s), want pass", o.Name, o.Status, o.Detail)
				case o.Status == Fail:
					t.Errorf("%s: %s (%s), want no failure", o.Name, o.Status, o.Detail)
				}
			}
		})
	}
}

// TestRecordStatus: required records fail unless ok; optional ones warn,
// and fail only when another service answers for them.
func TestRecordStatus(t *testing.T) {
	for _, tc := range []struct {
		required bool
		state    dnscheck.State
		want     Status
	}{
		{true, dnscheck.OK, Pass},
		{true, dnscheck.Missing, Fail},
		{true, dnscheck.Drift, Fail},
		{true, dnscheck.Conflict, Fail},
		{false, dnscheck.OK, Pass},
		{false, dnscheck.Missing, Warn},
		{false, dnscheck.Drift, Warn},
		{false, dnscheck.Conflict, Fail},
	} {
		rec := dnscheck.Record{Record: dnsrecords.Record{Required: tc.required}, State: tc.state}
		if got := recordStatus(rec); got != tc.want {
			t.Errorf("recordStatus(required %v, %s) = %s, want %s", tc.required, tc.state, got, tc.want)
		}
	}
}
