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
`)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"autoconfig.a.example", "autoconfig.b.example", "autoconfig.xn--bcher-kva.example",
		"autodiscover.a.example", "autodiscover.b.example", "autodiscover.xn--bcher-kva.example",
		"mail.example.org", "setup.example.org",
	}
	if got := cat.TLSNames("MAIL.example.org."); !slices.Equal(got, want) {
		t.Errorf("TLSNames(catalog, MAIL.example.org.) =\n%q\nwant\n%q", got, want)
	}
	if got := Demo().TLSNames(""); len(got) != 2*len(Demo().Domains()) {
		t.Errorf("TLSNames(demo, \"\") = %q, want two per domain", got)
	}
}
