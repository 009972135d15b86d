package provision

import (
	"slices"
	"testing"
)

func TestCatalogTLSNames(t *testing.T) {
	cat, err := Parse(Source{Name: "c.yaml", Data: []byte(`providers:
  - id: mail.example.org
    domains: [b.example, bücher.example]
    tls_names: [setup.example.org, Mail.Example.ORG]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
  - id: a.example
    domains: [a.example]
    tls_names: [setup.example.org]
    incoming: [{protocol: imap, host: imap.a.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.a.example, port: 465, security: tls}]
  - id: c.example
    domains: [c.example]
    incoming: [{protocol: imap, host: imap.c.example, port: 143, security: starttls}]
    outgoing: [{protocol: smtp, host: smtp.c.example, port: 587, security: starttls}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"autoconfig.a.example", "autoconfig.b.example", "autoconfig.c.example", "autoconfig.xn--bcher-kva.example",
		"autodiscover.a.example", "autodiscover.b.example", "autodiscover.c.example", "autodiscover.xn--bcher-kva.example",
		"mail.example.org", "setup.example.org",
		// PACC (HTTPS only) for the providers that have a document: not
		// c.example, whose servers are all STARTTLS.
		"ua-auto-config.a.example", "ua-auto-config.b.example", "ua-auto-config.xn--bcher-kva.example",
	}
	if got := cat.TLSNames("MAIL.example.org."); !slices.Equal(got, want) {
		t.Errorf("TLSNames(catalog, MAIL.example.org.) =\n%q\nwant\n%q", got, want)
	}
	if got := Demo().TLSNames(""); len(got) != 3*len(Demo().Domains()) {
		t.Errorf("TLSNames(demo, \"\") = %q, want three per domain", got)
	}
}
