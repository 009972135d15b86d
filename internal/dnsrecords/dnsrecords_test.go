package dnsrecords

import (
	"net/netip"
	"strings"
	"testing"

	"mailautoconf/internal/testutil/golden"
	"mailautoconf/provision"
)

// dnsCatalog has an order the SRV ranking must respect: STARTTLS listed
// before implicit TLS, POP3 before IMAP, two submission hosts.
const dnsCatalog = `
providers:
  - id: mail.example.org
    domains: [example.org, bücher.example]
    incoming:
      - {protocol: pop3, host: pop.example.org, port: 110, security: starttls}
      - {protocol: imap, host: imap.example.org, port: 143, security: starttls}
      - {protocol: pop3, host: pop.example.org, port: 995, security: tls}
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
      - {protocol: imap, host: old.example.org, port: 143, security: none}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 587, security: starttls}
      - {protocol: smtp, host: smtp2.example.org, port: 587, security: starttls}
`

func TestDNSRecordsGolden(t *testing.T) {
	demo := provision.Demo()
	other, err := provision.Parse(provision.Source{Name: "dns.yaml", Data: []byte(dnsCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	v4 := []netip.Addr{netip.MustParseAddr("192.0.2.10")}
	v6 := []netip.Addr{netip.MustParseAddr("2001:db8::10")}
	tests := []struct {
		name string
		cat  *provision.Catalog
		t    Target
	}{
		{"demo-host", demo, Target{Host: "autoconfig.example.org"}},
		{"demo-ips", demo, Target{IPv4: v4, IPv6: v6, TTL: 300}},
		{"demo-host-and-ips", demo, Target{Host: "mail.example.org", IPv4: v4}},
		{"demo-unset", demo, Target{}},
		{"demo-self", demo, Target{Host: "autoconfig.example.com"}},
		{"ordering", other, Target{Host: "autoconfig.example.net"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var all []Domain
			for _, d := range tc.cat.Domains() {
				p, err := tc.cat.Lookup(d)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, Derive(p, d, tc.t))
			}
			golden.Check(t, "dns/"+tc.name+".zone", Zone(all))
			golden.Check(t, "dns/"+tc.name+".json", ZoneJSON(all))
		})
	}
}

// sharedCatalog's provider has one PACC digest TXT record for all its
// domains (pacc_txt); one of its domains is in the hoster's zone itself.
const sharedCatalog = `
providers:
  - id: hoster.example
    domains: [customer1.example, customer2.example]
    pacc_txt: _ua-auto-config.hoster.example
    incoming:
      - {protocol: imap, host: imap.hoster.example, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.hoster.example, port: 465, security: tls}
  - id: plain.example
    domains: [plain.example]
    incoming:
      - {protocol: imap, host: imap.plain.example, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.plain.example, port: 465, security: tls}
`

// With pacc_txt, each domain's _ua-auto-config is a CNAME to it, and the
// one TXT record is printed once, after the domains; a provider without
// it keeps its TXT record per domain.
func TestDNSRecordsSharedPACC(t *testing.T) {
	cat, err := provision.Parse(provision.Source{Name: "shared.yaml", Data: []byte(sharedCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	var all []Domain
	var ps []*provision.Provider
	for _, d := range cat.Domains() {
		p, _ := cat.Lookup(d)
		ps = append(ps, p)
		all = append(all, Derive(p, d, Target{Host: "autoconfig.hoster.example"}))
	}
	shared := SharedOf(ps, 0)
	if len(shared) != 1 || shared[0].Records[0].Name != "_ua-auto-config.hoster.example." {
		t.Fatalf("SharedOf = %+v, want one TXT record at _ua-auto-config.hoster.example.", shared)
	}
	p, _ := cat.Lookup("customer1.example")
	if got, want := shared[0].Records[0].Text, provision.PACCDigest(p); got != want {
		t.Errorf("shared TXT = %q, want %q", got, want)
	}
	all = append(all, shared...)
	golden.Check(t, "dns/pacc-shared.zone", Zone(all))
	golden.Check(t, "dns/pacc-shared.json", ZoneJSON(all))
}

func TestDNSRecordsSRV(t *testing.T) {
	other, err := provision.Parse(provision.Source{Name: "dns.yaml", Data: []byte(dnsCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := other.Lookup("example.org")
	got := map[string][]string{}
	for _, r := range Derive(p, "example.org", Target{Host: "h.example.net"}).Records {
		if r.SRV != nil {
			got[strings.SplitN(r.Name, ".", 2)[0]] = append(got[strings.SplitN(r.Name, ".", 2)[0]], r.Data)
		}
	}
	want := map[string][]string{
		// POP3 is listed first, so it outranks IMAP; within each,
		// implicit TLS outranks STARTTLS; the duplicate collapses and
		// the server without TLS is not advertised.
		"_pop3s":        {"0 1 995 pop.example.org."},
		"_pop3":         {"10 1 110 pop.example.org."},
		"_imaps":        {"20 1 993 imap.example.org."},
		"_imap":         {"30 1 143 imap.example.org."},
		"_submissions":  {"0 0 0 ."},
		"_submission":   {"0 1 587 smtp.example.org.", "10 1 587 smtp2.example.org."},
		"_autodiscover": {"0 0 443 h.example.net."},
	}
	for k, w := range want {
		if strings.Join(got[k], "|") != strings.Join(w, "|") {
			t.Errorf("%s SRV = %q, want %q", k, got[k], w)
		}
	}
}

func TestDNSRecordsRequired(t *testing.T) {
	p, _ := provision.Demo().Lookup("example.com")
	for _, r := range Derive(p, "example.com", Target{Host: "h.example.net"}).Records {
		// PACC has no shipping client yet: its records are optional.
		wantReq := r.Type == "CNAME" && !strings.HasPrefix(r.Name, "ua-auto-config.")
		if r.Required != wantReq {
			t.Errorf("%s %s required = %v, want %v", r.Name, r.Type, r.Required, wantReq)
		}
		if r.Clients == "" || strings.Contains(r.Clients, "\n") {
			t.Errorf("%s %s: comment %q, want one non-empty line", r.Name, r.Type, r.Clients)
		}
	}
}

// submissionsOnlyCatalog submits on 465 only (implicit TLS), as many
// hosting providers do.
const submissionsOnlyCatalog = `
providers:
  - id: mail.example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 465, security: tls}
`

// TestDNSRecordsSMTPS: aerc's _smtps label comes beside _submissions for
// implicit-TLS submission, and only then; _submission is never pointed
// at 465 (docs/clients/aerc.md).
func TestDNSRecordsSMTPS(t *testing.T) {
	tests := []struct {
		name, catalog string
		want          map[string]string
	}{
		{"465 only", submissionsOnlyCatalog, map[string]string{
			"_submissions": "0 1 465 smtp.example.org.",
			"_smtps":       "0 1 465 smtp.example.org.",
			"_submission":  "0 0 0 .",
		}},
		{"587 only", dnsCatalog, map[string]string{
			"_submissions": "0 0 0 .",
			"_smtps":       "",
			"_submission":  "0 1 587 smtp.example.org.|10 1 587 smtp2.example.org.",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, err := provision.Parse(provision.Source{Name: "dns.yaml", Data: []byte(tt.catalog)})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := cat.Lookup("example.org")
			got := map[string][]string{}
			for _, r := range Derive(p, "example.org", Target{Host: "h.example.net"}).Records {
				label := strings.SplitN(r.Name, ".", 2)[0]
				if r.SRV != nil {
					got[label] = append(got[label], r.Data)
				}
				if label == "_smtps" && !strings.Contains(r.Clients, "aerc") {
					t.Errorf("_smtps comment %q does not name aerc", r.Clients)
				}
			}
			for label, w := range tt.want {
				if g := strings.Join(got[label], "|"); g != w {
					t.Errorf("%s SRV = %q, want %q", label, g, w)
				}
			}
		})
	}
}
