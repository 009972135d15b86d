package dnsupdate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/authdns"
	"mailautoconf/provision"
)

// secret is the test key's secret: no error or output may hold it.
const secret = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVkIQ=="

var testKey = authdns.Key{Name: "mailautoconf", Algorithm: "hmac-sha256", Secret: secret}

const catalogYAML = `providers:
  - id: example.com
    domains: [example.com]
    pacc_txt: _ua-auto-config.hoster.test
    incoming: [{protocol: imap, host: imap.example.com, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.com, port: 465, security: tls}]
`

const publicHost = "autoconfig.hoster.test"

// records derives example.com's records, and the provider's shared one.
func records(t *testing.T) (dnsrecords.Domain, dnsrecords.Domain) {
	t.Helper()
	cat, err := provision.Parse(provision.Source{Name: "c.yaml", Data: []byte(catalogYAML)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cat.Lookup("example.com")
	return dnsrecords.Derive(p, "example.com", dnsrecords.Target{Host: publicHost}), *dnsrecords.Shared(p, 0)
}

// messy is example.com's zone with a record missing (autoconfig), three
// drifted (the _imaps port, a POP3 server the provider no longer
// offers, a stale digest where the CNAME belongs), stale ones (_carddavs,
// which the provider does not offer) and two that are none of our
// business.
func messy(t *testing.T, want dnsrecords.Domain, extra ...string) string {
	var recs []string
	for _, r := range want.Records {
		switch {
		case strings.HasPrefix(r.Name, "autoconfig."):
			continue
		case strings.HasPrefix(r.Name, "_imaps."):
			recs = append(recs, r.Name+" 3600 IN SRV 0 1 143 imap.example.com.")
		case strings.HasPrefix(r.Name, "_pop3s."):
			recs = append(recs, r.Name+" 3600 IN SRV 0 1 995 pop.example.com.")
		case strings.HasPrefix(r.Name, "_ua-auto-config."):
			recs = append(recs, r.Name+` 3600 IN TXT "v=UAAC1; a=sha256; d=c3RhbGU="`)
		default:
			recs = append(recs, fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data))
		}
	}
	recs = append(recs,
		"_carddavs._tcp.example.com. 3600 IN SRV 0 1 443 dav.example.com.",
		`_carddavs._tcp.example.com. 3600 IN TXT "path=/old"`,
		"www.example.com. 3600 IN A 192.0.2.80",
		`_dmarc.example.com. 3600 IN TXT "v=DMARC1; p=none"`,
	)
	return authdns.ZoneText("example.com.", append(recs, extra...)...)
}

func hosterZone() authdns.Zone {
	return authdns.Zone{Origin: "hoster.test.", Updatable: true, Text: authdns.ZoneText("hoster.test.", publicHost+". IN A 127.0.0.1")}
}

func updater(t *testing.T, server string, getenv func(string) string, zones ...string) (*Updater, *atomic.Int64) {
	t.Helper()
	z, err := NewZones([]provision.DNSUpdate{{Zones: zones, Server: server, TSIGKeyEnv: "KEY", Source: "c.yaml:9"}}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	return &Updater{Zones: z, Timeout: 2 * time.Second, Sent: func() { sent.Add(1) }}, &sent
}

func env(v string) func(string) string {
	return func(k string) string {
		if k == "KEY" {
			return v
		}
		return ""
	}
}

func check(t *testing.T, server string, want dnsrecords.Domain) dnscheck.Domain {
	t.Helper()
	pool, err := dnscheck.NewPool([]string{server}, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &dnscheck.Checker{Pool: pool, Us: dnscheck.NewUs(publicHost, netip.MustParseAddr("127.0.0.1"))}
	return c.Check(context.Background(), want)
}

func notOK(d dnscheck.Domain) []string {
	var out []string
	for _, r := range d.Records {
		if r.State != dnscheck.OK {
			out = append(out, fmt.Sprintf("%s %s %s (%s)", r.Name, r.Type, r.State, r.Detail))
		}
	}
	return out
}

func query(t *testing.T, server, name string, qtype uint16) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	in, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(m, server)
	if err != nil {
		t.Fatal(err)
	}
	return in.Answer
}

// TestApply: one update per domain turns a zone with missing, drifted and
// stale records into one the check passes, touches no other name, and a
// second run sends nothing.
func TestApply(t *testing.T) {
	want, shared := records(t)
	srv := authdns.StartWithKey(t, &testKey, authdns.Zone{Origin: "example.com.", Updatable: true, Text: messy(t, want)}, hosterZone())
	u, sent := updater(t, srv.Addr, env("mailautoconf:hmac-sha256:"+secret), "example.com", "hoster.test")
	ctx := context.Background()

	for _, d := range []dnsrecords.Domain{want, shared} {
		p, err := u.Plan(ctx, d, false)
		if err != nil {
			t.Fatalf("Plan(%s) = %v", d.Domain, err)
		}
		if p.Empty() {
			t.Fatalf("Plan(%s) is empty, want changes", d.Domain)
		}
		if err := u.Apply(ctx, p); err != nil {
			t.Fatalf("Apply(%s) = %v", d.Domain, err)
		}
	}
	if n := sent.Load(); n != 2 {
		t.Errorf("sent %d messages, want 2 (one per domain)", n)
	}
	if bad := notOK(check(t, srv.Addr, want)); len(bad) > 0 {
		t.Errorf("after Apply, not ok:\n%s\n%s", strings.Join(bad, "\n"), srv.Log())
	}
	for _, n := range []string{"_carddavs._tcp.example.com."} {
		if rrs := query(t, srv.Addr, n, dns.TypeANY); len(rrs) != 0 {
			t.Errorf("stale %s still holds %v", n, rrs)
		}
	}
	if rrs := query(t, srv.Addr, "www.example.com.", dns.TypeA); len(rrs) != 1 {
		t.Errorf("www.example.com A = %v: another name was touched", rrs)
	}
	if rrs := query(t, srv.Addr, "_dmarc.example.com.", dns.TypeTXT); len(rrs) != 1 {
		t.Errorf("_dmarc.example.com TXT = %v: another name was touched", rrs)
	}

	for _, d := range []dnsrecords.Domain{want, shared} {
		p, err := u.Plan(ctx, d, false)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Empty() {
			t.Errorf("second Plan(%s) = %+v, want nothing to change", d.Domain, p.Changes)
		}
		if err := u.Apply(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := sent.Load(); n != 2 {
		t.Errorf("the second run sent %d messages, want none", n-2)
	}
}

// TestForeign: a name held by a CNAME this service did not write stops
// the domain's whole update, with the name and what holds it; --force
// replaces it.
func TestForeign(t *testing.T) {
	want, _ := records(t)
	zone := messy(t, want, "autoconfig.example.com. 3600 IN CNAME mail.provider.example.")
	// A TXT record where the CNAME belongs: no CNAME can go beside it.
	zone = strings.Replace(zone, "ua-auto-config.example.com. 3600 IN CNAME autoconfig.hoster.test.", `ua-auto-config.example.com. 3600 IN TXT "v=spf1 -all"`, 1)
	zone = strings.Replace(zone, "autodiscover.example.com. 3600 IN CNAME autoconfig.hoster.test.", "autodiscover.example.com. 3600 IN CNAME autodiscover.outlook.com.", 1)
	srv := authdns.StartWithKey(t, &testKey, authdns.Zone{Origin: "example.com.", Updatable: true, Text: zone}, hosterZone())
	u, sent := updater(t, srv.Addr, env("mailautoconf:hmac-sha256:"+secret), "example.com")
	ctx := context.Background()

	p, err := u.Plan(ctx, want, false)
	if err != nil {
		t.Fatal(err)
	}
	err = u.Apply(ctx, p)
	if !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "autodiscover.example.com holds CNAME autodiscover.outlook.com.") ||
		!strings.Contains(err.Error(), "autoconfig.example.com holds CNAME mail.provider.example.") || !strings.Contains(err.Error(), "--force") ||
		!strings.Contains(err.Error(), `ua-auto-config.example.com holds TXT "v=spf1 -all", beside which a CNAME cannot be`) {
		t.Errorf("Apply = %v, want ErrForeign naming the three names", err)
	}
	if sent.Load() != 0 {
		t.Errorf("a refused plan sent %d messages", sent.Load())
	}
	if rrs := query(t, srv.Addr, "_imaps._tcp.example.com.", dns.TypeSRV); len(rrs) != 1 || rrs[0].(*dns.SRV).Port != 143 {
		t.Errorf("_imaps = %v: the domain was half-applied", rrs)
	}

	p, err = u.Plan(ctx, want, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Apply(ctx, p); err != nil {
		t.Fatalf("Apply(force) = %v", err)
	}
	for _, r := range check(t, srv.Addr, want).Records {
		if r.Type == "CNAME" && !strings.HasPrefix(r.Name, "_") && r.State != dnscheck.OK {
			t.Errorf("after --force: %s %s (%s)", r.Name, r.State, r.Detail)
		}
	}
	if rrs := query(t, srv.Addr, "ua-auto-config.example.com.", dns.TypeTXT); slices.ContainsFunc(rrs, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeTXT }) {
		t.Errorf("after --force, ua-auto-config.example.com still holds %v beside its CNAME", rrs)
	}
}

// TestBadUpdates: a wrong key, a zone that refuses updates, a zone the
// server does not serve, an unreachable server, a domain in no listed
// zone: each a clear error, nothing changed, the secret in none.
func TestBadUpdates(t *testing.T) {
	want, _ := records(t)
	srv := authdns.StartWithKey(t, &testKey,
		authdns.Zone{Origin: "example.com.", Updatable: true, Text: messy(t, want)},
		authdns.Zone{Origin: "example.net.", Text: authdns.ZoneText("example.net.")})
	netWant := want
	netWant.Domain = "example.net"
	netWant.Records = nil
	for _, r := range want.Records {
		r.Name = strings.Replace(r.Name, "example.com.", "example.net.", 1)
		netWant.Records = append(netWant.Records, r)
	}
	const wrong = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="
	for _, tc := range []struct {
		name   string
		server string
		key    string
		zones  []string
		want   dnsrecords.Domain
		err    string
	}{
		{"wrong secret", srv.Addr, "mailautoconf:hmac-sha256:" + wrong, []string{"example.com"}, want, "did not accept the key (TSIG BADSIG)"},
		{"unknown key", srv.Addr, "other:hmac-sha256:" + secret, []string{"example.com"}, want, "did not accept the key (TSIG BADKEY)"},
		{"no update-policy", srv.Addr, "mailautoconf:hmac-sha256:" + secret, []string{"example.net"}, netWant, "REFUSED: the server's update-policy"},
		// The names are read from the parent zone, which the server
		// serves; the update names a zone it does not.
		{"NOTAUTH", srv.Addr, "mailautoconf:hmac-sha256:" + secret, []string{"sub.example.com"}, retarget(want, "sub.example.com"), "NOTAUTH: the server is not the primary of this zone"},
		{"zone not served", srv.Addr, "mailautoconf:hmac-sha256:" + secret, []string{"example.com.other"}, retarget(want, "example.com.other"), "the server answered REFUSED"},
		{"unreachable", "127.0.0.1:" + fmt.Sprint(testutil.FreePort(t)), "mailautoconf:hmac-sha256:" + secret, []string{"example.com"}, want, "connection refused"},
		{"not listed", srv.Addr, "mailautoconf:hmac-sha256:" + secret, []string{"example.org"}, want, "example.com: not in a dns_updates zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := updater(t, tc.server, env(tc.key), tc.zones...)
			p, err := u.Plan(context.Background(), tc.want, false)
			if err == nil {
				err = u.Apply(context.Background(), p)
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), wrong)) {
				t.Errorf("the error holds the secret: %v", err)
			}
		})
	}
	if rrs := query(t, srv.Addr, "_imaps._tcp.example.com.", dns.TypeSRV); len(rrs) != 1 || rrs[0].(*dns.SRV).Port != 143 {
		t.Errorf("_imaps = %v: a failed update changed the zone", rrs)
	}
	if strings.Contains(srv.Log(), "updating zone 'example.com/IN'") {
		t.Errorf("named logged an update of example.com:\n%s", srv.Log())
	}
}

func retarget(d dnsrecords.Domain, domain string) dnsrecords.Domain {
	out := dnsrecords.Domain{Domain: domain}
	for _, r := range d.Records {
		r.Name = strings.Replace(r.Name, d.Domain+".", domain+".", 1)
		out.Records = append(out.Records, r)
	}
	return out
}

// The key's errors name the variable and never hold its value.
func TestParseKey(t *testing.T) {
	k, err := ParseKey("K", "MailAutoConf.:HMAC-SHA512:"+secret)
	if err != nil || k.Name != "mailautoconf." || k.Algorithm != dns.HmacSHA512 {
		t.Fatalf("ParseKey = %+v, %v", k, err)
	}
	for _, s := range []string{k.String(), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, secret) {
			t.Errorf("the key prints its secret: %s", s)
		}
	}
	for _, tc := range []struct{ value, want string }{
		{"", "want name:algorithm:secret"},
		{secret, "want name:algorithm:secret"},
		{"k:hmac-md5:" + secret, "the algorithm (the second field) is not"},
		{"k:" + secret + ":hmac-sha256", "the algorithm (the second field) is not"},
		{"k:hmac-sha256:not base64!" + secret, "is not base64"},
		{"k:hmac-sha256:c2hvcnQ=", "16 bytes or more"},
	} {
		_, err := ParseKey("MAILAUTOCONF_TSIG_KEY", tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "MAILAUTOCONF_TSIG_KEY: ") {
			t.Errorf("ParseKey(%q) = %v, want %q", tc.value, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("ParseKey(%q) error holds the secret: %v", tc.value, err)
		}
	}
	if _, err := NewZones([]provision.DNSUpdate{{Zones: []string{"example.com"}, Server: "ns:53", TSIGKeyEnv: "KEY", Source: "c.yaml:3"}}, env("")); err == nil ||
		err.Error() != "c.yaml:3: dns_updates: KEY is not set: it holds the TSIG key, name:algorithm:secret" {
		t.Errorf("NewZones without the variable = %v", err)
	}
}
