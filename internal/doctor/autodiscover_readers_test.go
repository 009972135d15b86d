package doctor

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mailautoconf/provision"
)

// These tests check what two clients end up with when they read our POX
// answers (provision's renderers), through the doctor's models of their
// readers (one model per client, autodiscover.go):
//
//   - Thunderbird's ExchangeAutoDiscover readAutoDiscoverXML
//     (docs/thunderbird-parser.md#jxon and #readautodiscoverxml);
//   - Delta Chat's auto_outlook.rs parse_xml and server_params.rs
//     expand_ports (docs/autodiscover.md#pox-response).

// wantSocket is the socket type a client must end up with for s.
func wantSocket(s provision.Server) string {
	if s.Security == provision.TLS {
		return "SSL"
	}
	return "STARTTLS"
}

// etreeAutodiscover is the outlook-schema answer by the reference
// renderer: a nil catalog renders without templates.
func etreeAutodiscover(t *testing.T, p *provision.Provider, domain string, addr *provision.Address) []byte {
	t.Helper()
	var ref *provision.Catalog
	b, err := ref.Autodiscover(nil, p, domain, addr, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func containsServer(list []Endpoint, protocol provision.Protocol, host string, port int, socket string) bool {
	return slices.ContainsFunc(list, func(e Endpoint) bool {
		return e.Protocol == string(protocol) && e.Host == host && e.Port == port && e.Socket == socket
	})
}

// TestThunderbirdReadsAutodiscover: Thunderbird's reader obtains the
// demo's provision.IMAP and provision.SMTP servers (and provision.POP3) with the right provision.TLS mode, the
// first of each as the chosen server, and the address as username.
func TestThunderbirdReadsAutodiscover(t *testing.T) {
	cat := provision.Demo()
	p, _ := cat.Lookup("example.com")
	addr := &provision.Address{Local: "fred", Domain: "example.com"}
	res := thunderbirdReads("text/xml; charset=utf-8", etreeAutodiscover(t, p, "example.com", addr), "")
	if !res.OK {
		t.Fatalf("Thunderbird: %s", res.Reason)
	}
	want := Endpoint{Protocol: "imap", Host: "imap.example.com", Port: 993, Socket: "SSL", Username: "fred@example.com", Auth: "password-cleartext"}
	if res.Incoming == nil || *res.Incoming != want {
		t.Errorf("incoming = %v, want %v", res.Incoming, want)
	}
	want = Endpoint{Protocol: "smtp", Host: "smtp.example.com", Port: 465, Socket: "SSL", Username: "fred@example.com", Auth: "password-cleartext"}
	if res.Outgoing == nil || *res.Outgoing != want {
		t.Errorf("outgoing = %v, want %v", res.Outgoing, want)
	}
	servers := append(p.AdvertisedIncoming(), p.AdvertisedOutgoing()...)
	if len(res.Servers) != len(servers) {
		t.Errorf("Thunderbird kept %d servers, want %d: %v", len(res.Servers), len(servers), res.Servers)
	}
	for _, s := range servers {
		if !containsServer(res.Servers, s.Protocol, s.Host, s.Port, wantSocket(s)) {
			t.Errorf("Thunderbird lacks %s %s:%d %s; got %v", s.Protocol, s.Host, s.Port, wantSocket(s), res.Servers)
		}
	}

	// GET: the same servers, with the placeholder Thunderbird fills in.
	res = thunderbirdReads("text/xml; charset=utf-8", etreeAutodiscover(t, p, "example.com", nil), "")
	if !res.OK || res.Incoming.Username != provision.PlaceholderAddress {
		t.Errorf("GET answer: %+v", res)
	}
}

// TestThunderbirdAutodiscoverVariants runs Thunderbird's reader on the
// other answer kinds.
func TestThunderbirdAutodiscoverVariants(t *testing.T) {
	cat := loadADCatalog(t)
	answer := func(body string) []byte {
		r, err := cat.AnswerAutodiscover(nil, "", []byte(body), adNow, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Body
	}
	read := func(body []byte) poxView { return thunderbirdReads("text/xml; charset=utf-8", body, "") }
	// STARTTLS on 143 and 587/25, SPA for an encrypted-only server, and
	// per-server login names.
	res := read(answer(outlookRequest("fred@hoster.net")))
	want := []Endpoint{
		{Protocol: "imap", Host: "mail.hoster.net", Port: 143, Socket: "STARTTLS", Username: "fred", Auth: "password-cleartext"},
		{Protocol: "smtp", Host: "mail.hoster.net", Port: 587, Socket: "STARTTLS", Username: "fred+hoster.net", Auth: "secure"},
		{Protocol: "smtp", Host: "mail.hoster.net", Port: 25, Socket: "STARTTLS", Username: "fred", Auth: "password-cleartext"},
	}
	if !res.OK || !slices.Equal(res.Servers, want) {
		t.Errorf("hoster.net: %+v, want %v", res, want)
	}
	// Thunderbird follows redirectAddr…
	if res := read(answer(outlookRequest("fred@old.example"))); res.RedirectAddr != "fred@hoster.net" {
		t.Errorf("redirectAddr: %+v", res)
	}
	// …and finds no settings in redirectUrl or an error document.
	for _, body := range []string{
		outlookRequest("fred@moved.example"),
		poxRequest(nsRequestOutlook, "fred@example.com", "urn:x"),
	} {
		if res := read(answer(body)); res.OK {
			t.Errorf("Thunderbird took settings from %s", answer(body))
		}
	}
	// A prefixed document is invisible to it (why we never write one).
	prefixed := []byte(`<a:Autodiscover xmlns:a="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><a:Response><a:Account><a:Protocol><a:Type>IMAP</a:Type></a:Protocol></a:Account></a:Response></a:Autodiscover>`)
	if res := read(prefixed); res.OK {
		t.Error("model: a prefixed document should be invalid for Thunderbird")
	}
}

// TestThunderbirdNonStandardPort documents a limit of Thunderbird's
// reader that no answer can fix: it infers the provision.TLS mode from the port, so
// STARTTLS on a port other than 143, 110, 25 or 587 reads as implicit provision.TLS.
func TestThunderbirdNonStandardPort(t *testing.T) {
	c, err := provision.Parse(provision.Source{Name: "c.yaml", Data: []byte(`providers:
  - id: example.org
    domains: [example.org]
    incoming: [{protocol: imap, host: imap.example.org, port: 1143, security: starttls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 2525, security: starttls}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Lookup("example.org")
	body := etreeAutodiscover(t, p, "example.org", &provision.Address{Local: "a", Domain: "example.org"})
	if !bytes.Contains(body, []byte("<Encryption>TLS</Encryption>")) {
		t.Errorf("answer does not say STARTTLS to Outlook:\n%s", body)
	}
	if res := thunderbirdReads("text/xml; charset=utf-8", body, ""); res.Incoming == nil || res.Incoming.Socket != "SSL" {
		t.Errorf("model: Thunderbird should read port 1143 as SSL, got %+v", res)
	}
}

// TestDeltaChatReadsAutodiscover: Delta Chat's GET of
// /autodiscover/autodiscover.xml obtains the demo's provision.IMAP and provision.SMTP servers,
// each with its right provision.TLS mode among the candidates it tries and never a
// plain one, in catalog order.
func TestDeltaChatReadsAutodiscover(t *testing.T) {
	cat := provision.Demo()
	p, _ := cat.Lookup("example.com")
	res := deltaChatReads(etreeAutodiscover(t, p, "example.com", nil), "")
	if !res.OK || res.RedirectURL != "" {
		t.Fatalf("Delta Chat: %+v", res)
	}
	var order []string
	for _, s := range append(p.AdvertisedIncoming(), p.AdvertisedOutgoing()...) {
		if s.Protocol == provision.POP3 {
			continue // Delta Chat has no provision.POP3
		}
		if !containsServer(res.Servers, s.Protocol, s.Host, s.Port, wantSocket(s)) {
			t.Errorf("Delta Chat lacks %s %s:%d %s; candidates %v", s.Protocol, s.Host, s.Port, wantSocket(s), res.Servers)
		}
		order = append(order, fmt.Sprintf("%s:%d", s.Host, s.Port))
	}
	var got []string
	for _, c := range res.Servers {
		if c.Socket == "plain" {
			t.Errorf("plain candidate %v", c)
		}
		if hp := fmt.Sprintf("%s:%d", c.Host, c.Port); !slices.Contains(got, hp) {
			got = append(got, hp)
		}
		if c.Protocol != "imap" && c.Protocol != "smtp" {
			t.Errorf("candidate of type %s", c.Protocol)
		}
	}
	if !slices.Equal(got, order) {
		t.Errorf("candidate order %v, want catalog order %v", got, order)
	}
	// The first provision.IMAP and the first provision.SMTP candidate are the catalog's first
	// servers in their right mode (implicit provision.TLS is tried first).
	if c := res.Servers[0]; c.Protocol != "imap" || c.Host != "imap.example.com" || c.Port != 993 || c.Socket != "SSL" {
		t.Errorf("first candidate %v", c)
	}
}

func TestDeltaChatAutodiscoverVariants(t *testing.T) {
	cat := loadADCatalog(t)
	hoster, _ := cat.Lookup("hoster.net")
	// Delta Chat follows redirectUrl, on GET too…
	if res := deltaChatReads(etreeAutodiscover(t, hoster, "moved.example", nil), ""); res.RedirectURL != "https://autodiscover.hoster.net/autodiscover/autodiscover.xml" {
		t.Errorf("redirectUrl: %+v", res)
	}
	// …but not redirectAddr: that answer has no servers for it.
	if res := deltaChatReads(etreeAutodiscover(t, hoster, "shared.example", nil), ""); len(res.Servers) != 0 || res.RedirectURL != "" {
		t.Errorf("redirectAddr: %+v", res)
	}
	// A GET for a redirect_address that needs the local part gets the
	// settings, which Delta Chat can use.
	res := deltaChatReads(etreeAutodiscover(t, hoster, "old.example", nil), "")
	if !containsServer(res.Servers, provision.IMAP, "mail.hoster.net", 143, "STARTTLS") || !containsServer(res.Servers, provision.SMTP, "mail.hoster.net", 587, "STARTTLS") {
		t.Errorf("old.example GET: %+v", res)
	}
	// Error documents give it nothing to try.
	if res := deltaChatReads(provision.AutodiscoverError(provision.OutlookSchema, 600, adNow), ""); len(res.Servers) != 0 {
		t.Errorf("error document: %+v", res)
	}
}

// poxView is a client's reading of a POX answer: these tests hold the
// service's answers to the reader models the doctor replays.
type poxView struct {
	OK       bool
	Reason   string    // why the client refuses the answer (when !OK)
	Incoming *Endpoint // the servers the client configures
	Outgoing *Endpoint
	// Servers is every server Thunderbird keeps, incoming ones first
	// (incoming, incomingAlternatives, outgoing, outgoingAlternatives),
	// or every connection Delta Chat tries, in order.
	Servers      []Endpoint
	RedirectURL  string
	RedirectAddr string
}

func (a poxAnswer) view(servers []Endpoint) poxView {
	return poxView{OK: a.ok, Reason: a.reason, Incoming: a.incoming, Outgoing: a.outgoing, Servers: servers, RedirectURL: a.redirectURL, RedirectAddr: a.redirectAddr}
}

// viewIdent is the ident of address; without one, the username stays
// the placeholder Thunderbird fills in later (replaceVariables).
func viewIdent(address string) ident {
	i := strings.LastIndexByte(address, '@')
	if i < 0 {
		return ident{address: provision.PlaceholderAddress}
	}
	return newIdent(address[:i], address[i+1:])
}

// thunderbirdReads is thunderbirdPOX's reading of an answer to address
// ("" for none: a GET, or a username not yet known).
func thunderbirdReads(contentType string, body []byte, address string) poxView {
	a := thunderbirdPOX(contentType, body, viewIdent(address))
	var in, out []Endpoint
	for _, e := range a.candidates {
		if e.Protocol == "smtp" {
			out = append(out, e)
		} else {
			in = append(in, e)
		}
	}
	return a.view(append(in, out...))
}

// deltaChatReads is deltaChatPOX's reading of an answer to address;
// Servers are the connections Delta Chat tries, in order.
func deltaChatReads(body []byte, address string) poxView {
	a := deltaChatPOX(body, viewIdent(address))
	var tries []Endpoint
	for _, e := range a.candidates {
		tries = append(tries, deltaChatTries(e)...)
	}
	return a.view(tries)
}

// adCatalogFile is the demo provider plus a hoster with every kind of
// redirect (provision's Autodiscover tests read the same file):
//   - hoster.net: no redirect (the empty override turns the provider-wide
//     redirect_url off)
//   - old.example: redirect_address to the same local part at hoster.net
//   - moved.example: the provider-wide redirect_url
//   - shared.example: a literal redirect_address, usable without an address
const adCatalogFile = "../../provision/testdata/autodiscover-catalog.yaml"

func loadADCatalog(t testing.TB) *provision.Catalog {
	t.Helper()
	c, err := provision.Load(adCatalogFile)
	if err != nil {
		t.Fatalf("test catalog: %v", err)
	}
	return c
}

// adNow is the fixed time of the answers (error documents carry it).
var adNow = time.Date(2026, 3, 1, 9, 14, 5, 123456700, time.UTC)

// poxRequest builds a request document as Thunderbird and Outlook send it.
func poxRequest(ns, email, schema string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="` + ns + `">
  <Request>
    <EMailAddress>` + email + `</EMailAddress>
    <AcceptableResponseSchema>` + schema + `</AcceptableResponseSchema>
  </Request>
</Autodiscover>
`
}

func outlookRequest(email string) string {
	return poxRequest(nsRequestOutlook, email, nsResponseOutlook)
}
