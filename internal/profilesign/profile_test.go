package profilesign

import (
	"strings"
	"testing"

	"mailautoconf/provision"
)

// imapOnly is a provider of provision's mobileconfig tests that the demo
// catalog lacks.
const imapOnly = `providers:
  - id: imap-only.test
    display_name: IMAP Only
    domains: [imap-only.test]
    incoming: [{protocol: imap, host: imap.imap-only.test, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.imap-only.test, port: 465, security: tls}]
`

// renderProfile is provision's unsigned profile of addr: of the demo
// catalog for example.* domains, else of imapOnly.
func renderProfile(t testing.TB, addr string, opts provision.ProfileOptions) []byte {
	t.Helper()
	a, err := provision.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	cat := provision.Demo()
	if !strings.HasPrefix(a.Domain, "example.") {
		if cat, err = provision.Parse(provision.Source{Name: "imap-only.yaml", Data: []byte(imapOnly)}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := cat.Lookup(a.Domain)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cat.Mobileconfig(nil, p, a.Domain, &a, provision.Options{Profile: opts})
	if err != nil {
		t.Fatalf("Mobileconfig(%s, %+v) = %v", addr, opts, err)
	}
	return out
}
