package provision

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"mailautoconf/internal/testutil/golden"
)

// variants is one catalog per rendered variant the golden files cover.
var variants = map[string]string{
	"imap-only": `providers:
  - id: imap.example.org
    domains: [example.org]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`,
	"pop3-only": `providers:
  - id: pop.example.org
    display_name: Pop Mail
    domains: [example.org]
    incoming:
      - protocol: pop3
        host: pop.example.org
        port: 995
        security: tls
        username: "%EMAILLOCALPART%"
        pop3: {leave_on_server: true, days_on_server: 30, download_on_check: true, check_interval: 15}
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 587, security: starttls, username: "%EMAILLOCALPART%"}]
`,
	"starttls-only": `providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: mail.example.org, port: 143, security: starttls}
      - {protocol: imap, host: mail.example.org, port: 143, security: none}
    outgoing:
      - {protocol: smtp, host: mail.example.org, port: 25, security: none}
      - {protocol: smtp, host: mail.example.org, port: 587, security: starttls, auth: [password-encrypted, password-cleartext]}
`,
	"oauth2": `providers:
  - id: example.org
    display_name: OAuth & Co <Mail>
    domains: [example.org]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls, auth: [OAuth2, password-cleartext]}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls, auth: [OAuth2, password-cleartext]}]
    oauth2: {issuer: login.example.org, scope: "https://mail.example.org/ offline", auth_url: "https://login.example.org/auth?x=1&y=2", token_url: "https://login.example.org/token"}
`,
}

func TestThunderbirdGolden(t *testing.T) {
	addr := &Address{Local: "alice", Domain: "example.com"}
	demo, _ := Demo().Lookup("example.com")
	golden.Check(t, "thunderbird/demo-placeholders.xml", etreeAutoconfig(demo, "example.com", nil))
	golden.Check(t, "thunderbird/demo-filled.xml", etreeAutoconfig(demo, "example.com", addr))
	checkAutoconfig(t, etreeAutoconfig(demo, "example.com", addr), "example.com", "alice@example.com")
	checkAutoconfig(t, etreeAutoconfig(demo, "example.com", nil), "example.com", PlaceholderAddress)

	for name, src := range variants {
		c, err := Parse(Source{Name: name, Data: []byte(src)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, _ := c.Lookup("example.org")
		a := &Address{Local: "bob", Domain: "example.org"}
		doc := etreeAutoconfig(p, "example.org", a)
		golden.Check(t, "thunderbird/"+name+".xml", doc)
		checkAutoconfig(t, doc, "example.org", "")
	}
}

func TestThunderbirdOrderAndAdvertising(t *testing.T) {
	c, err := Parse(Source{Name: "s", Data: []byte(variants["starttls-only"])})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Lookup("example.org")
	doc := parse(t, etreeAutoconfig(p, "example.org", nil))
	var got []string
	for _, el := range append(doc.FindElements("//incomingServer"), doc.FindElements("//outgoingServer")...) {
		got = append(got, el.FindElement("port").Text()+"/"+el.FindElement("socketType").Text())
	}
	// The security: none servers (143 plain, 25) are never advertised.
	if want := "143/STARTTLS,587/STARTTLS"; strings.Join(got, ",") != want {
		t.Errorf("servers = %v, want %s", got, want)
	}
	auth := doc.FindElements("//outgoingServer/authentication")
	if len(auth) != 2 || auth[0].Text() != "password-encrypted" || auth[1].Text() != "password-cleartext" {
		t.Errorf("outgoing auth order lost: %v", auth)
	}
}

func TestThunderbirdEscapes(t *testing.T) {
	c, err := Parse(Source{Name: "o", Data: []byte(variants["oauth2"])})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Lookup("example.org")
	a, err := ParseAddress("o'neil+x@example.org")
	if err != nil {
		t.Fatal(err)
	}
	out := etreeAutoconfig(p, "example.org", &a)
	doc := parse(t, out)
	if got := doc.FindElement("//displayName").Text(); got != "OAuth & Co <Mail>" {
		t.Errorf("displayName = %q", got)
	}
	if got := doc.FindElement("//oAuth2/authURL").Text(); got != "https://login.example.org/auth?x=1&y=2" {
		t.Errorf("authURL = %q", got)
	}
	if got := doc.FindElement("//username").Text(); got != "o'neil+x@example.org" {
		t.Errorf("username = %q", got)
	}
}

func parse(t testing.TB, b []byte) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatalf("not well-formed XML: %v\n%s", err, b)
	}
	return doc
}

// checkAutoconfig asserts the generation rules of docs/autoconfig.md#what-we-generate that
// Thunderbird, K-9, Evolution and KMail all rely on. A non-empty username
// must be the username of every server.
func checkAutoconfig(t testing.TB, b []byte, domain, username string) {
	t.Helper()
	doc := parse(t, b)
	ep := doc.FindElement("/clientConfig/emailProvider")
	if ep == nil {
		t.Fatalf("no clientConfig/emailProvider:\n%s", b)
	}
	if _, err := NormalizeHost(ep.SelectAttrValue("id", "")); err != nil {
		t.Errorf("emailProvider id %q is not a host name", ep.SelectAttrValue("id", ""))
	}
	if d := ep.FindElement("domain"); d == nil || d.Text() != domain {
		t.Errorf("domain = %v, want %s", d, domain)
	}
	in, out := ep.SelectElements("incomingServer"), ep.SelectElements("outgoingServer")
	if len(in) == 0 || len(out) == 0 {
		t.Fatalf("need incoming and outgoing servers:\n%s", b)
	}
	for _, s := range append(in, out...) {
		typ := s.SelectAttrValue("type", "")
		if s.Tag == "outgoingServer" && typ != "smtp" || s.Tag == "incomingServer" && typ != "imap" && typ != "pop3" {
			t.Errorf("%s type %q", s.Tag, typ)
		}
		for _, name := range []string{"hostname", "port", "socketType", "username"} {
			el := s.SelectElement(name)
			if el == nil || el.Text() == "" || strings.TrimSpace(el.Text()) != el.Text() || strings.ContainsAny(el.Text(), " \t\r\n") {
				t.Errorf("%s/%s missing or has white space: %v", s.Tag, name, el)
			}
		}
		if _, err := NormalizeHost(s.SelectElement("hostname").Text()); err != nil {
			t.Errorf("hostname %q: %v", s.SelectElement("hostname").Text(), err)
		}
		if port, err := strconv.Atoi(s.SelectElement("port").Text()); err != nil || port < 1 || port > 65535 {
			t.Errorf("port %q", s.SelectElement("port").Text())
		}
		if st := s.SelectElement("socketType").Text(); st != "SSL" && st != "STARTTLS" {
			t.Errorf("socketType %q (never plain)", st)
		}
		if u := s.SelectElement("username").Text(); username != "" && u != username {
			t.Errorf("username %q, want %q", u, username)
		}
		var auth []string
		for _, a := range s.SelectElements("authentication") {
			auth = append(auth, a.Text())
		}
		if !slices.ContainsFunc(auth, IsPasswordAuth) {
			t.Errorf("%s has no password method: %v", s.Tag, auth)
		}
	}
}
