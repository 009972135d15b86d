package provision

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// This file re-implements, rule by rule, how two clients read our POX
// answers, so that tests can check what each client ends up with:
//
//   - Thunderbird's ExchangeAutoDiscover readAutoDiscoverXML, as
//     docs/thunderbird-parser.md#jxon and #readautodiscoverxml describe it;
//   - Delta Chat's auto_outlook.rs parse_xml and server_params.rs
//     expand_ports, as docs/autodiscover.md#pox-response describes them (checked against
//     chatmail/core src/configure/auto_outlook.rs).
//
// They are our own small models of those rules, not the clients' code.

// clientServer is one server as a client configured it.
type clientServer struct {
	Type     string // IMAP, POP3, SMTP
	Host     string
	Port     int
	Socket   string // SSL (implicit TLS), STARTTLS or plain
	Username string
	Auth     string
}

func (s clientServer) String() string {
	return fmt.Sprintf("%s %s:%d %s user=%q auth=%s", s.Type, s.Host, s.Port, s.Socket, s.Username, s.Auth)
}

// --- Thunderbird ---

// jxon is a JXON value: Thunderbird turns each element into a string, a
// number, a boolean or an object (docs/thunderbird-parser.md#jxon).
type jxon struct {
	kind string // "string", "number", "boolean", "object"
	s    string
	el   *etree.Element
}

// jxonOf converts an element the way JXON.build does: children make an
// object; an empty element is boolean true; "true"/"false" in any case are
// booleans; whatever isFinite accepts is a number.
func jxonOf(el *etree.Element) jxon {
	if len(el.ChildElements()) > 0 || len(el.Attr) > 0 {
		return jxon{kind: "object", el: el}
	}
	text := el.Text()
	t := strings.TrimSpace(text)
	switch {
	case text == "":
		return jxon{kind: "boolean", s: "true"}
	case strings.EqualFold(t, "true") || strings.EqualFold(t, "false"):
		return jxon{kind: "boolean", s: strings.ToLower(t)}
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return jxon{kind: "number", s: strconv.FormatFloat(f, 'f', -1, 64)}
	}
	return jxon{kind: "string", s: text}
}

// tbChild is x.name in Thunderbird's code: the first child whose qualified
// name (prefix included, namespace ignored) is name.
func tbChild(el *etree.Element, name string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.FullTag() == name {
			return c
		}
	}
	return nil
}

func tbChildren(el *etree.Element, name string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.FullTag() == name {
			out = append(out, c)
		}
	}
	return out
}

// thunderbirdResult is what readAutoDiscoverXML produces.
type thunderbirdResult struct {
	Incoming, Outgoing       *clientServer
	IncomingAlt, OutgoingAlt []clientServer
	RedirectAddr             string
	Err                      string
}

// all returns every server Thunderbird keeps, chosen ones first.
func (r thunderbirdResult) all() []clientServer {
	var out []clientServer
	if r.Incoming != nil {
		out = append(out, *r.Incoming)
	}
	out = append(out, r.IncomingAlt...)
	if r.Outgoing != nil {
		out = append(out, *r.Outgoing)
	}
	return append(out, r.OutgoingAlt...)
}

var tbTypes = []string{"WEB", "EXHTTP", "EXCH", "EXPR", "POP3", "IMAP", "SMTP"}

// thunderbirdRead applies docs/thunderbird-parser.md#readautodiscoverxml to a response body
// delivered with an XML Content-Type.
func thunderbirdRead(body []byte) thunderbirdResult {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil || doc.Root() == nil {
		return thunderbirdResult{Err: "Bad response content"}
	}
	var acct *etree.Element
	if root := doc.Root(); root.FullTag() == "Autodiscover" {
		if resp := tbChild(root, "Response"); resp != nil && tbChild(resp, "Error") == nil {
			acct = tbChild(resp, "Account")
		}
	}
	if acct == nil {
		return thunderbirdResult{Err: "The Exchange AutoDiscover XML is invalid."}
	}
	var res thunderbirdResult
	if ra := tbChild(acct, "RedirectAddr"); ra != nil {
		// The Action is not checked; the address must be one.
		if a, err := ParseAddress(ra.Text()); err == nil {
			res.RedirectAddr = a.String()
		} else {
			res.Err = "invalid RedirectAddr"
		}
		return res
	}
	for _, p := range tbChildren(acct, "Protocol") {
		s, ok := thunderbirdProtocol(p)
		if !ok {
			continue // an exception inside one Protocol skips it
		}
		switch s.Type {
		case "IMAP", "POP3":
			if res.Incoming == nil {
				res.Incoming = &s
			} else {
				res.IncomingAlt = append(res.IncomingAlt, s)
			}
		case "SMTP":
			if res.Outgoing == nil {
				res.Outgoing = &s
			} else {
				res.OutgoingAlt = append(res.OutgoingAlt, s)
			}
		}
	}
	// isComplete: an incoming server with hostname, port, socket type,
	// auth and username. The outgoing one may be missing.
	if in := res.Incoming; in == nil || in.Host == "" || in.Port == 0 || in.Socket == "" || in.Auth == "" || in.Username == "" {
		res.Err = "No valid configs found in AutoDiscover XML"
	}
	return res
}

func thunderbirdProtocol(p *etree.Element) (clientServer, bool) {
	t := tbChild(p, "Type")
	if t == nil {
		return clientServer{}, false
	}
	tv := jxonOf(t)
	if tv.kind != "string" || !slices.Contains(tbTypes, tv.s) {
		return clientServer{}, false // any other value, imap included, is ignored
	}
	s := clientServer{Type: tv.s}
	if s.Type != "IMAP" && s.Type != "POP3" && s.Type != "SMTP" {
		return clientServer{}, false // Exchange types: not ours to check
	}
	srv := tbChild(p, "Server")
	if srv == nil {
		return clientServer{}, false
	}
	host, err := NormalizeHost(jxonOf(srv).s)
	if err != nil {
		return clientServer{}, false // InputSanitizer.hostname throws
	}
	s.Host = host
	port := tbChild(p, "Port")
	if port == nil {
		return clientServer{}, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(port.Text()))
	if err != nil || n < 1 || n > 65535 {
		return clientServer{}, false
	}
	s.Port = n
	// SSL off or Encryption None: plain. Otherwise by port. A boolean or
	// number value throws in toLowerCase and skips the Protocol.
	plain := false
	for _, name := range []string{"SSL", "Encryption"} {
		el := tbChild(p, name)
		if el == nil {
			continue
		}
		v := jxonOf(el)
		if v.kind != "string" {
			return clientServer{}, false
		}
		if name == "SSL" && strings.ToLower(v.s) == "off" || name == "Encryption" && strings.ToLower(v.s) == "none" {
			plain = true
		}
	}
	switch {
	case plain:
		s.Socket = "plain"
	case slices.Contains([]int{143, 110, 25, 587}, n):
		s.Socket = "STARTTLS"
	default:
		s.Socket = "SSL"
	}
	s.Auth = "passwordCleartext"
	if spa := tbChild(p, "SPA"); spa != nil {
		if v := jxonOf(spa); v.kind == "string" && strings.ToLower(v.s) == "on" {
			s.Auth = "secure"
		}
	}
	s.Username = PlaceholderAddress
	if ln := tbChild(p, "LoginName"); ln != nil {
		v := jxonOf(ln)
		if v.kind == "object" {
			return clientServer{}, false
		}
		if v.s == "" {
			return clientServer{}, false // nonemptystring throws
		}
		s.Username = v.s
	}
	return s, true
}

// --- Delta Chat ---

// deltaChatResult is what outlk_autodiscover produces: the candidates it
// will try, in order, or a RedirectUrl to fetch next.
type deltaChatResult struct {
	Candidates  []clientServer
	RedirectURL string
	Err         string
}

// deltaChatRead applies auto_outlook.rs: tag names lower-cased with any
// prefix kept; the first RedirectUrl start tag anywhere wins; every
// Protocol start tag anywhere yields type/server/port/ssl from its
// children's text; only imap and smtp (any case) are kept; SSL "off" is
// plain, anything else "automatic", which expand_ports turns into
// implicit TLS then STARTTLS on the given port. LoginName is not read: the
// username is the address, then its local part.
//
// One difference from quick_xml: encoding/xml reports <a/> as a start and
// an end tag; our Protocol elements hold no empty elements.
func deltaChatRead(body []byte) deltaChatResult {
	dec := xml.NewDecoder(bytes.NewReader(body))
	lower := func(n xml.Name) string {
		if n.Space != "" {
			return strings.ToLower(n.Space + ":" + n.Local)
		}
		return strings.ToLower(n.Local)
	}
	var res deltaChatResult
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return deltaChatResult{Err: "InvalidXml"}
		}
		st, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch lower(st.Name) {
		case "redirecturl":
			next, err := dec.RawToken()
			if err != nil {
				return deltaChatResult{Err: "InvalidXml"}
			}
			if cd, ok := next.(xml.CharData); ok {
				res.RedirectURL = strings.TrimSpace(string(cd))
			}
			return res
		case "protocol":
			var typ, server, ssl = "", "", "on"
			port, havePort := 0, false
			current := ""
			for done := false; !done; {
				tok, err := dec.RawToken()
				if err != nil {
					return deltaChatResult{Err: "InvalidXml"}
				}
				switch t := tok.(type) {
				case xml.StartElement:
					current = lower(t.Name)
				case xml.EndElement:
					name := lower(t.Name)
					if name == "protocol" {
						done = true
					} else if name == current {
						current = ""
					}
				case xml.CharData:
					val := strings.TrimSpace(string(t))
					if val == "" {
						continue // trim_text drops white space
					}
					switch current {
					case "type":
						typ = val
					case "server":
						server = val
					case "port":
						port, havePort = 0, true
						if n, err := strconv.ParseUint(val, 10, 16); err == nil {
							port = int(n)
						}
					case "ssl":
						ssl = val
					}
				}
			}
			if typ == "" || server == "" || !havePort {
				continue
			}
			kind := strings.ToLower(typ)
			if kind != "imap" && kind != "smtp" {
				continue
			}
			s := clientServer{Type: strings.ToUpper(kind), Host: server, Port: port}
			if ssl == "off" {
				s.Socket = "plain"
				res.Candidates = append(res.Candidates, s)
				continue
			}
			if port == 0 {
				std := map[string][2]int{"IMAP": {143, 993}, "SMTP": {587, 465}}[s.Type]
				a, b := s, s
				a.Port, a.Socket = std[0], "STARTTLS"
				b.Port, b.Socket = std[1], "SSL"
				res.Candidates = append(res.Candidates, a, b)
				continue
			}
			a, b := s, s
			a.Socket, b.Socket = "SSL", "STARTTLS"
			res.Candidates = append(res.Candidates, a, b)
		}
	}
	return res
}

// --- the tests ---

// wantSocket is the socket type a client must end up with for s.
func wantSocket(s Server) string {
	if s.Security == TLS {
		return "SSL"
	}
	return "STARTTLS"
}

func containsServer(list []clientServer, typ, host string, port int, socket string) bool {
	return slices.ContainsFunc(list, func(c clientServer) bool {
		return c.Type == typ && c.Host == host && c.Port == port && c.Socket == socket
	})
}

// TestThunderbirdReadsAutodiscover: Thunderbird's reader obtains the
// demo's IMAP and SMTP servers (and POP3) with the right TLS mode, the
// first of each as the chosen server, and the address as username.
func TestThunderbirdReadsAutodiscover(t *testing.T) {
	cat := Demo()
	p, _ := cat.Lookup("example.com")
	addr := &Address{Local: "fred", Domain: "example.com"}
	res := thunderbirdRead(etreeAutodiscover(p, "example.com", addr))
	if res.Err != "" {
		t.Fatalf("Thunderbird: %s", res.Err)
	}
	want := clientServer{"IMAP", "imap.example.com", 993, "SSL", "fred@example.com", "passwordCleartext"}
	if res.Incoming == nil || *res.Incoming != want {
		t.Errorf("incoming = %v, want %v", res.Incoming, want)
	}
	want = clientServer{"SMTP", "smtp.example.com", 465, "SSL", "fred@example.com", "passwordCleartext"}
	if res.Outgoing == nil || *res.Outgoing != want {
		t.Errorf("outgoing = %v, want %v", res.Outgoing, want)
	}
	all := res.all()
	servers := append(p.AdvertisedIncoming(), p.AdvertisedOutgoing()...)
	if len(all) != len(servers) {
		t.Errorf("Thunderbird kept %d servers, want %d: %v", len(all), len(servers), all)
	}
	for _, s := range servers {
		if !containsServer(all, poxType[s.Protocol], s.Host, s.Port, wantSocket(s)) {
			t.Errorf("Thunderbird lacks %s %s:%d %s; got %v", s.Protocol, s.Host, s.Port, wantSocket(s), all)
		}
	}

	// GET: the same servers, with the placeholder Thunderbird fills in.
	res = thunderbirdRead(etreeAutodiscover(p, "example.com", nil))
	if res.Err != "" || res.Incoming.Username != PlaceholderAddress {
		t.Errorf("GET answer: %+v", res)
	}
}

// TestThunderbirdAutodiscoverVariants runs Thunderbird's reader on the
// other answer kinds.
func TestThunderbirdAutodiscoverVariants(t *testing.T) {
	cat := loadADCatalog(t)
	answer := func(body string) []byte {
		r, err := cat.AnswerAutodiscover(nil, "", []byte(body), adNow)
		if err != nil {
			t.Fatal(err)
		}
		return r.Body
	}
	// STARTTLS on 143 and 587/25, SPA for an encrypted-only server, and
	// per-server login names.
	res := thunderbirdRead(answer(outlookRequest("fred@hoster.net")))
	want := []clientServer{
		{"IMAP", "mail.hoster.net", 143, "STARTTLS", "fred", "passwordCleartext"},
		{"SMTP", "mail.hoster.net", 587, "STARTTLS", "fred+hoster.net", "secure"},
		{"SMTP", "mail.hoster.net", 25, "STARTTLS", "fred", "passwordCleartext"},
	}
	if res.Err != "" || !slices.Equal(res.all(), want) {
		t.Errorf("hoster.net: %+v, want %v", res, want)
	}
	// Thunderbird follows redirectAddr…
	if res := thunderbirdRead(answer(outlookRequest("fred@old.example"))); res.RedirectAddr != "fred@hoster.net" {
		t.Errorf("redirectAddr: %+v", res)
	}
	// …and finds no settings in redirectUrl or an error document.
	for _, body := range []string{
		outlookRequest("fred@moved.example"),
		poxRequest(nsOutlookRequest, "fred@example.com", "urn:x"),
	} {
		if res := thunderbirdRead(answer(body)); res.Err == "" {
			t.Errorf("Thunderbird took settings from %s", answer(body))
		}
	}
	// A prefixed document is invisible to it (why we never write one).
	prefixed := []byte(`<a:Autodiscover xmlns:a="` + nsAutodiscoverResponse + `"><a:Response><a:Account><a:Protocol><a:Type>IMAP</a:Type></a:Protocol></a:Account></a:Response></a:Autodiscover>`)
	if res := thunderbirdRead(prefixed); res.Err == "" {
		t.Error("model: a prefixed document should be invalid for Thunderbird")
	}
}

// TestThunderbirdNonStandardPort documents a limit of Thunderbird's
// reader that no answer can fix: it infers the TLS mode from the port, so
// STARTTLS on a port other than 143, 110, 25 or 587 reads as implicit TLS.
func TestThunderbirdNonStandardPort(t *testing.T) {
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(`providers:
  - id: example.org
    domains: [example.org]
    incoming: [{protocol: imap, host: imap.example.org, port: 1143, security: starttls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 2525, security: starttls}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Lookup("example.org")
	body := etreeAutodiscover(p, "example.org", &Address{Local: "a", Domain: "example.org"})
	if !bytes.Contains(body, []byte("<Encryption>TLS</Encryption>")) {
		t.Errorf("answer does not say STARTTLS to Outlook:\n%s", body)
	}
	if res := thunderbirdRead(body); res.Incoming == nil || res.Incoming.Socket != "SSL" {
		t.Errorf("model: Thunderbird should read port 1143 as SSL, got %+v", res)
	}
}

// TestDeltaChatReadsAutodiscover: Delta Chat's GET of
// /autodiscover/autodiscover.xml obtains the demo's IMAP and SMTP servers,
// each with its right TLS mode among the candidates it tries and never a
// plain one, in catalog order.
func TestDeltaChatReadsAutodiscover(t *testing.T) {
	cat := Demo()
	p, _ := cat.Lookup("example.com")
	res := deltaChatRead(etreeAutodiscover(p, "example.com", nil))
	if res.Err != "" || res.RedirectURL != "" {
		t.Fatalf("Delta Chat: %+v", res)
	}
	var order []string
	for _, s := range append(p.AdvertisedIncoming(), p.AdvertisedOutgoing()...) {
		if s.Protocol == POP3 {
			continue // Delta Chat has no POP3
		}
		if !containsServer(res.Candidates, poxType[s.Protocol], s.Host, s.Port, wantSocket(s)) {
			t.Errorf("Delta Chat lacks %s %s:%d %s; candidates %v", s.Protocol, s.Host, s.Port, wantSocket(s), res.Candidates)
		}
		order = append(order, fmt.Sprintf("%s:%d", s.Host, s.Port))
	}
	var got []string
	for _, c := range res.Candidates {
		if c.Socket == "plain" {
			t.Errorf("plain candidate %v", c)
		}
		if hp := fmt.Sprintf("%s:%d", c.Host, c.Port); !slices.Contains(got, hp) {
			got = append(got, hp)
		}
		if c.Type != "IMAP" && c.Type != "SMTP" {
			t.Errorf("candidate of type %s", c.Type)
		}
	}
	if !slices.Equal(got, order) {
		t.Errorf("candidate order %v, want catalog order %v", got, order)
	}
	// The first IMAP and the first SMTP candidate are the catalog's first
	// servers in their right mode (implicit TLS is tried first).
	if c := res.Candidates[0]; c != (clientServer{Type: "IMAP", Host: "imap.example.com", Port: 993, Socket: "SSL"}) {
		t.Errorf("first candidate %v", c)
	}
}

func TestDeltaChatAutodiscoverVariants(t *testing.T) {
	cat := loadADCatalog(t)
	hoster, _ := cat.Lookup("hoster.net")
	// Delta Chat follows redirectUrl, on GET too…
	if res := deltaChatRead(etreeAutodiscover(hoster, "moved.example", nil)); res.RedirectURL != "https://autodiscover.hoster.net/autodiscover/autodiscover.xml" {
		t.Errorf("redirectUrl: %+v", res)
	}
	// …but not redirectAddr: that answer has no servers for it.
	if res := deltaChatRead(etreeAutodiscover(hoster, "shared.example", nil)); len(res.Candidates) != 0 || res.RedirectURL != "" {
		t.Errorf("redirectAddr: %+v", res)
	}
	// A GET for a redirect_address that needs the local part gets the
	// settings, which Delta Chat can use.
	res := deltaChatRead(etreeAutodiscover(hoster, "old.example", nil))
	if !containsServer(res.Candidates, "IMAP", "mail.hoster.net", 143, "STARTTLS") || !containsServer(res.Candidates, "SMTP", "mail.hoster.net", 587, "STARTTLS") {
		t.Errorf("old.example GET: %+v", res)
	}
	// Error documents give it nothing to try.
	if res := deltaChatRead(AutodiscoverError(OutlookSchema, 600, adNow)); len(res.Candidates) != 0 {
		t.Errorf("error document: %+v", res)
	}
}
