package dnscheck

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/provision"
)

const (
	domain     = "example.com" // of the demo catalog, with a PACC document
	publicHost = "svc.host.test"
	publicIP   = "192.0.2.10"
)

// want derives the records example.com should publish, by the public
// host or, with byAddress, by our address alone.
func want(t testing.TB, byAddress bool) dnsrecords.Domain {
	t.Helper()
	cat := provision.Demo()
	p, err := cat.Lookup(domain)
	if err != nil {
		t.Fatal(err)
	}
	target := dnsrecords.Target{Host: publicHost}
	if byAddress {
		target = dnsrecords.Target{IPv4: []netip.Addr{netip.MustParseAddr(publicIP)}}
	}
	return dnsrecords.Derive(p, domain, target)
}

// publish is a zone holding exactly the records of d, and the public
// host's address; edit changes it before it is served.
func publish(d dnsrecords.Domain, edit func(z dnstest.Zone)) dnstest.Zone {
	z := dnstest.Zone{}
	z.Add(publicHost + ". 300 IN A " + publicIP)
	for _, r := range d.Records {
		z.Add(fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data))
	}
	if edit != nil {
		edit(z)
	}
	return z
}

func checker(t *testing.T, servers ...string) *Checker {
	t.Helper()
	pool, err := NewPool(servers, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &Checker{Pool: pool, Us: NewUs(publicHost, netip.MustParseAddr(publicIP))}
}

// states maps "name type" to the state of each record of d (the first
// of several with the same key).
func states(d Domain) map[string]Record {
	out := map[string]Record{}
	for _, r := range d.Records {
		k := strings.TrimSuffix(r.Name, ".") + " " + r.Type
		if _, ok := out[k]; !ok {
			out[k] = r
		}
	}
	return out
}

func TestCheckStates(t *testing.T) {
	byHost := want(t, false)
	tests := []struct {
		name       string
		want       dnsrecords.Domain
		edit       func(z dnstest.Zone)
		probe      Probe
		domain     State
		record     string // "name type" of the record the case is about
		state      State
		detail     string // part of its Detail
		pointsAtUs bool   // autoconfig.example.com
	}{
		{name: "all published", want: byHost, domain: OK, record: "autoconfig.example.com CNAME", state: OK, pointsAtUs: true},
		{name: "autoconfig missing", want: byHost,
			edit:   func(z dnstest.Zone) { delete(z, "autoconfig.example.com.") },
			domain: Missing, record: "autoconfig.example.com CNAME", state: Missing, detail: "NXDOMAIN"},
		{name: "autoconfig at another address", want: byHost,
			edit: func(z dnstest.Zone) {
				z["autoconfig.example.com."] = nil
				z.Add("autoconfig.example.com. 300 IN A 203.0.113.9")
			},
			domain: Drift, record: "autoconfig.example.com CNAME", state: Drift, detail: "leads to 203.0.113.9, not to this service"},
		{name: "another service answers autoconfig", want: byHost,
			edit: func(z dnstest.Zone) {
				z["autoconfig.example.com."] = nil
				z.Add("autoconfig.example.com. 300 IN A 203.0.113.9")
			},
			probe:  func(context.Context, string, string) (bool, string) { return true, "a clientConfig of provider \"x\"" },
			domain: Conflict, record: "autoconfig.example.com CNAME", state: Conflict, detail: "another service answers: a clientConfig"},
		{name: "autoconfig by our address, not by CNAME", want: byHost,
			edit: func(z dnstest.Zone) {
				z["autoconfig.example.com."] = nil
				z.Add("autoconfig.example.com. 300 IN A " + publicIP)
			},
			domain: OK, record: "autoconfig.example.com CNAME", state: OK, pointsAtUs: true},
		{name: "autoconfig by our address and another", want: byHost,
			edit: func(z dnstest.Zone) {
				z["autoconfig.example.com."] = nil
				z.Add("autoconfig.example.com. 300 IN A "+publicIP, "autoconfig.example.com. 300 IN A 203.0.113.9")
			},
			domain: Drift, record: "autoconfig.example.com CNAME", state: Drift},
		{name: "stale Microsoft 365 Autodiscover", want: byHost,
			edit: func(z dnstest.Zone) {
				z["autodiscover.example.com."] = nil
				z.Add("autodiscover.example.com. 300 IN CNAME autodiscover.outlook.com.")
			},
			domain: Conflict, record: "autodiscover.example.com CNAME", state: Conflict, detail: "leads to autodiscover.outlook.com (Microsoft 365)", pointsAtUs: true},
		{name: "Autodiscover SRV at Microsoft", want: byHost,
			edit: func(z dnstest.Zone) {
				z["_autodiscover._tcp.example.com."] = nil
				z.Add("_autodiscover._tcp.example.com. 300 IN SRV 0 0 443 autodiscover.outlook.com.")
			},
			domain: Conflict, record: "_autodiscover._tcp.example.com SRV", state: Conflict, detail: "(Microsoft 365)", pointsAtUs: true},
		{name: "stale PACC digest", want: byHost,
			edit: func(z dnstest.Zone) {
				z["_ua-auto-config.example.com."] = nil
				z.Add(`_ua-auto-config.example.com. 300 IN TXT "v=UAAC1; a=sha256; d=AAAA"`)
			},
			domain: Drift, record: "_ua-auto-config.example.com TXT", state: Drift, detail: "stale PACC digest", pointsAtUs: true},
		{name: "PACC not published: optional", want: byHost,
			edit: func(z dnstest.Zone) {
				delete(z, "_ua-auto-config.example.com.")
				delete(z, "ua-auto-config.example.com.")
			},
			domain: OK, record: "_ua-auto-config.example.com TXT", state: Missing, pointsAtUs: true},
		{name: "mail SRV elsewhere", want: byHost,
			edit: func(z dnstest.Zone) {
				z["_imaps._tcp.example.com."] = nil
				z.Add("_imaps._tcp.example.com. 300 IN SRV 0 1 993 imap.elsewhere.test.")
			},
			domain: Drift, record: "_imaps._tcp.example.com SRV", state: Drift, detail: "other targets", pointsAtUs: true},
		{name: "CNAME loop", want: byHost,
			edit: func(z dnstest.Zone) {
				z["autoconfig.example.com."] = nil
				z.Add("autoconfig.example.com. 300 IN CNAME a.loop.test.", "a.loop.test. 300 IN CNAME autoconfig.example.com.")
			},
			domain: Drift, record: "autoconfig.example.com CNAME", state: Drift, detail: "loops"},
		{name: "by address: A records equal", want: want(t, true), domain: OK, record: "autoconfig.example.com A", state: OK, pointsAtUs: true},
		{name: "by address: A record elsewhere", want: want(t, true),
			edit: func(z dnstest.Zone) {
				z["autoconfig.example.com."] = nil
				z.Add("autoconfig.example.com. 300 IN A 198.51.100.1")
			},
			domain: Drift, record: "autoconfig.example.com A", state: Drift, detail: "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := dnstest.ServeZone(t, publish(tc.want, tc.edit), nil)
			c := checker(t, srv)
			c.Probe = tc.probe
			got := c.Check(context.Background(), tc.want)
			if got.State != tc.domain {
				t.Errorf("domain state %s, want %s; records:\n%s", got.State, tc.domain, dump(got))
			}
			r, ok := states(got)[tc.record]
			if !ok {
				t.Fatalf("no record %q in\n%s", tc.record, dump(got))
			}
			if r.State != tc.state || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("%s: %s (%s), want %s with detail containing %q", tc.record, r.State, r.Detail, tc.state, tc.detail)
			}
			if ok, checked := got.PointsAtUs("autoconfig.example.com"); ok != tc.pointsAtUs || !checked {
				t.Errorf("PointsAtUs(autoconfig.example.com) = %v, %v; want %v, true", ok, checked, tc.pointsAtUs)
			}
			for _, r := range got.Records {
				if r.State != OK && r.Detail == "" {
					t.Errorf("%s %s is %s with no detail", r.Name, r.Type, r.State)
				}
			}
		})
	}
}

func TestCheckResolversMustAgree(t *testing.T) {
	d := want(t, false)
	good := dnstest.ServeZone(t, publish(d, nil), nil)
	stale := dnstest.ServeZone(t, publish(d, func(z dnstest.Zone) { delete(z, "autoconfig.example.com.") }), nil)
	got := checker(t, good, stale).Check(context.Background(), d)
	r := states(got)["autoconfig.example.com CNAME"]
	if r.State != Missing || !strings.Contains(r.Detail, "resolvers disagree: "+good+" says ok; "+stale+" says missing") {
		t.Errorf("autoconfig with one stale resolver: %s (%s), want missing, saying which resolver disagrees", r.State, r.Detail)
	}
	if got.State != Missing || got.RequiredOK() {
		t.Errorf("domain %s, RequiredOK %v; want missing, false", got.State, got.RequiredOK())
	}
	if ok, _ := got.PointsAtUs("autoconfig.example.com."); ok {
		t.Error("PointsAtUs is true while one resolver does not see the name")
	}
}

func TestCheckFailingServerIsMissingWithItsReason(t *testing.T) {
	d := want(t, false)
	broken := map[string]int{"autoconfig.example.com.": dns.RcodeServerFailure, "autodiscover.example.com.": dnstest.NoAnswer}
	srv := dnstest.ServeZone(t, publish(d, nil), broken)
	got := checker(t, srv).Check(context.Background(), d)
	s := states(got)
	if r := s["autoconfig.example.com CNAME"]; r.State != Missing || !strings.Contains(r.Detail, "could not be resolved: the server answered SERVFAIL") {
		t.Errorf("SERVFAIL: %s (%s)", r.State, r.Detail)
	}
	if r := s["autodiscover.example.com CNAME"]; r.State != Missing || !strings.Contains(r.Detail, "timed out") {
		t.Errorf("no answer: %s (%s)", r.State, r.Detail)
	}
}

func TestStateWords(t *testing.T) {
	for _, s := range States {
		b, _ := s.MarshalText()
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%s: round trip gave %v, %v", s, back, err)
		}
	}
	if _, ok := ParseState("pending"); ok {
		t.Error(`ParseState("pending") accepted a word that is no state`)
	}
}

func TestNewPoolRefusesBadResolvers(t *testing.T) {
	for _, s := range []string{"127.0.0.1", ":53", "dns.example:", "[::1"} {
		if _, err := NewPool([]string{s}, 0, 0); err == nil {
			t.Errorf("NewPool(%q) accepted it", s)
		}
	}
	if _, err := NewPool([]string{"127.0.0.1:53"}, -1, 0); err == nil {
		t.Error("NewPool accepted a negative pace")
	}
}

func dump(d Domain) string {
	var b strings.Builder
	for _, r := range d.Records {
		fmt.Fprintf(&b, "  %s %s %s: %s [%s]\n", r.Name, r.Type, r.State, r.Detail, r.Found)
	}
	return b.String()
}

func TestPublicDialerRefusesTheHostersNetwork(t *testing.T) {
	for addr, public := range map[string]bool{
		"127.0.0.1": false, "10.1.2.3": false, "192.168.0.1": false, "172.16.0.1": false, "100.64.0.1": false,
		"169.254.1.1": false, "::1": false, "fd00::1": false, "fe80::1": false, "0.0.0.0": false, "::ffff:127.0.0.1": false,
		"192.0.2.10": true, "2001:db8::1": true, "8.8.8.8": true,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != public {
			t.Errorf("Public(%s) = %v, want %v", addr, got, public)
		}
	}
	dial := PublicDialer(time.Second)
	if _, err := dial(context.Background(), "tcp", "127.0.0.1:443"); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Errorf("dial 127.0.0.1:443: %v, want a refusal", err)
	}
}

// sharedCatalog's provider publishes one PACC digest for its domains at
// pacc_txt; each domain's _ua-auto-config is a CNAME to it.
const sharedCatalog = `
providers:
  - id: hoster.test
    domains: [example.com]
    pacc_txt: _ua-auto-config.hoster.test
    incoming:
      - {protocol: imap, host: imap.hoster.test, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.hoster.test, port: 465, security: tls}
`

// The _ua-auto-config CNAME is ok when it leads to pacc_txt and the TXT
// record there holds the digest; the shared TXT record is judged through
// a chain too; a server that does not expand the chain is asked again.
func TestCheckSharedPACC(t *testing.T) {
	cat, err := provision.Parse(provision.Source{Name: "shared.yaml", Data: []byte(sharedCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cat.Lookup(domain)
	d := dnsrecords.Derive(p, domain, dnsrecords.Target{Host: publicHost})
	shared := dnsrecords.Shared(p, 0)
	digest := provision.PACCDigest(p)
	const alias = "_ua-auto-config.example.com."
	for _, tc := range []struct {
		name   string
		edit   func(z dnstest.Zone)
		state  State
		detail string
	}{
		{"ok", nil, OK, ""},
		{"stale digest at the target", func(z dnstest.Zone) {
			z["_ua-auto-config.hoster.test."] = nil
			z.Add(`_ua-auto-config.hoster.test. 300 IN TXT "v=UAAC1; a=sha256; d=c3RhbGU="`)
		}, Drift, "whose TXT record is drift: published with another value"},
		{"no TXT at the target", func(z dnstest.Zone) { delete(z, "_ua-auto-config.hoster.test.") }, Missing, "whose TXT record is missing"},
		{"CNAME elsewhere", func(z dnstest.Zone) {
			z[alias] = nil
			z.Add(alias + " 300 IN CNAME _ua-auto-config.other.test.")
		}, Drift, "leads to _ua-auto-config.other.test, not to _ua-auto-config.hoster.test"},
		{"own TXT instead", func(z dnstest.Zone) {
			z[alias] = nil
			z.Add(alias + ` 300 IN TXT "` + digest + `"`)
		}, Drift, "a TXT record of its own"},
		{"missing", func(z dnstest.Zone) { delete(z, alias) }, Missing, "not published"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := publish(d, func(z dnstest.Zone) {
				z.Add(fmt.Sprintf("%s %d IN TXT %s", shared.Records[0].Name, shared.Records[0].TTL, shared.Records[0].Data))
				if tc.edit != nil {
					tc.edit(z)
				}
			})
			c := checker(t, dnstest.ServeZone(t, z, nil))
			got := states(c.Check(context.Background(), d))["_ua-auto-config.example.com CNAME"]
			if got.State != tc.state || !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("CNAME %s = %s (%s), want %s saying %q", alias, got.State, got.Detail, tc.state, tc.detail)
			}
			if tc.name == "ok" {
				sh := c.Check(context.Background(), *shared)
				if sh.State != OK {
					t.Errorf("shared TXT = %+v, want ok", sh)
				}
			}
		})
	}
}

// A server that does not expand the CNAME (the target in another zone)
// is asked again at the target, as a resolver would.
func TestCheckSharedPACCUnexpanded(t *testing.T) {
	cat, err := provision.Parse(provision.Source{Name: "shared.yaml", Data: []byte(sharedCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cat.Lookup(domain)
	d := dnsrecords.Derive(p, domain, dnsrecords.Target{Host: publicHost})
	z := publish(d, nil)
	sh := dnsrecords.Shared(p, 0).Records[0]
	z.Add(fmt.Sprintf("%s %d IN TXT %s", sh.Name, sh.TTL, sh.Data))
	server := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		for _, rr := range z[strings.ToLower(q.Name)] {
			if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, rr) // the CNAME alone, never its target's records
			}
		}
		_ = w.WriteMsg(m)
	}))
	got := states(checker(t, server).Check(context.Background(), d))["_ua-auto-config.example.com CNAME"]
	if got.State != OK {
		t.Errorf("CNAME _ua-auto-config.example.com = %s (%s), want ok", got.State, got.Detail)
	}
}
