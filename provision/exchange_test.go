package provision

import (
	"strings"
	"testing"

	"github.com/beevik/etree"
)

const exchangeCatalog = `providers:
  - id: example.org
    domains: [example.org]
    ews: https://mail.example.org/EWS/Exchange.asmx
    owa: https://mail.example.org/owa/
    jmap: https://jmap.example.org/.well-known/jmap
    incoming:
      - {protocol: pop3, host: pop.example.org, port: 995, security: tls}
      - {protocol: imap, host: imap.example.org, port: 993, security: tls, auth: [password-cleartext, NTLM]}
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`

// TestExchangeServers: ews and owa come after the IMAP, POP3 and JMAP
// servers and before the outgoing one, with the url, the login and the
// first incoming server's authentication; the template and the etree
// renderer agree; Evolution's one-per-type answer and POX leave them out.
func TestExchangeServers(t *testing.T) {
	cat, err := Parse(Source{Name: "x.yaml", Data: []byte(exchangeCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cat.Lookup("example.org")
	if p.EWS != "https://mail.example.org/EWS/Exchange.asmx" || p.OWA != "https://mail.example.org/owa/" {
		t.Fatalf("EWS, OWA = %q, %q", p.EWS, p.OWA)
	}
	addr, _ := ParseAddress("alice@example.org")
	var ref *Catalog // the etree renderer, no templates
	for _, c := range []*Catalog{ref, cat} {
		for _, a := range []*Address{&addr, nil} {
			b, err := c.Autoconfig(nil, p, "example.org", a, Options{})
			if err != nil {
				t.Fatal(err)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(b); err != nil {
				t.Fatal(err)
			}
			var order []string
			for _, el := range doc.FindElement("//emailProvider").ChildElements() {
				if el.Tag == "incomingServer" || el.Tag == "outgoingServer" {
					order = append(order, el.Tag[:2]+":"+el.SelectAttrValue("type", ""))
				}
			}
			if got := strings.Join(order, " "); got != "in:pop3 in:imap in:jmap in:ews in:owa ou:smtp" {
				t.Errorf("servers = %s, want ews and owa after pop3, imap and jmap", got)
			}
			ews := doc.FindElement(`//incomingServer[@type='ews']`)
			user := "%EMAILADDRESS%"
			if a != nil {
				user = "alice@example.org"
			}
			if ews.FindElement("url").Text() != p.EWS || ews.FindElement("username").Text() != user || ews.FindElement("authentication").Text() != "password-cleartext" {
				t.Errorf("ews section: url %q, username %q, authentication %q", ews.FindElement("url").Text(), ews.FindElement("username").Text(), ews.FindElement("authentication").Text())
			}
		}
	}
	one, _ := cat.Autoconfig(nil, p, "example.org", &addr, Options{Servers: OnePerType})
	pox, _ := cat.Autodiscover(nil, p, "example.org", &addr, Options{})
	for name, b := range map[string][]byte{"one per type": one, "POX": pox} {
		if strings.Contains(string(b), "EWS") || strings.Contains(string(b), "owa") {
			t.Errorf("%s answer names EWS or OWA:\n%s", name, b)
		}
	}
}

// TestExchangeKeysHTTPS: the URLs must be https.
func TestExchangeKeysHTTPS(t *testing.T) {
	bad := strings.Replace(exchangeCatalog, "https://mail.example.org/owa/", "http://mail.example.org/owa/", 1)
	_, err := Parse(Source{Name: "x.yaml", Data: []byte(bad)})
	if err == nil || !strings.Contains(err.Error(), "owa") {
		t.Errorf("Parse with an http owa URL = %v, want an error naming owa", err)
	}
}
