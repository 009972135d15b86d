package doctor

import (
	"strings"
	"testing"
	"time"

	"mailautoconf/provision"
)

var alice = newIdent("alice", "example.com")

// doc builds a config-v1.1.xml around server sections.
func doc(sections string) []byte {
	return []byte(`<?xml version="1.0"?><clientConfig version="1.1"><emailProvider id="example.com"><domain>example.com</domain>` + sections + `</emailProvider></clientConfig>`)
}

func section(kind, typ, host, port, socket, user string, auth ...string) string {
	var b strings.Builder
	b.WriteString("<" + kind + ` type="` + typ + `">`)
	if host != "" {
		b.WriteString("<hostname>" + host + "</hostname>")
	}
	if port != "" {
		b.WriteString("<port>" + port + "</port>")
	}
	if socket != "" {
		b.WriteString("<socketType>" + socket + "</socketType>")
	}
	if user != "" {
		b.WriteString("<username>" + user + "</username>")
	}
	for _, a := range auth {
		b.WriteString("<authentication>" + a + "</authentication>")
	}
	b.WriteString("</" + kind + ">")
	return b.String()
}

var (
	imapSSL   = section("incomingServer", "imap", "imap.example.com", "993", "SSL", "%EMAILADDRESS%", "password-cleartext")
	imapPlain = section("incomingServer", "imap", "imap.example.com", "143", "plain", "%EMAILADDRESS%", "password-cleartext")
	imapStart = section("incomingServer", "imap", "imap.example.com", "143", "STARTTLS", "%EMAILADDRESS%", "password-cleartext")
	pop3SSL   = section("incomingServer", "pop3", "pop.example.com", "995", "SSL", "%EMAILADDRESS%", "password-cleartext")
	smtpSSL   = section("outgoingServer", "smtp", "smtp.example.com", "465", "SSL", "%EMAILADDRESS%", "password-cleartext")
)

func TestAutoconfigReaders(t *testing.T) {
	type want struct{ tb, k9, evo, kmail, dc string } // "" accepted, else a word of the reason
	tests := []struct {
		name string
		ct   string
		body []byte
		want want
		// in is the incoming server each accepting reader picks, by
		// reader, when it matters.
		evoIn, kmailIn string
	}{
		{"good", "text/xml", doc(imapSSL + smtpSSL), want{}, "", ""},
		{"text/plain", "text/plain", doc(imapSSL + smtpSSL), want{tb: "Content-Type"}, "", ""},
		{"not xml", "text/xml", []byte("<html><body>hi"), want{"well-formed", "well-formed", "well-formed", "well-formed", "well-formed"}, "", ""},
		{"plain second", "text/xml", doc(imapSSL + imapPlain + smtpSSL), want{k9: "plain"}, "IMAP imap.example.com:143 plain", "IMAP imap.example.com:993 SSL"},
		{"starttls last", "text/xml", doc(imapSSL + imapStart + smtpSSL), want{}, "IMAP imap.example.com:143 STARTTLS", ""},
		{"white space", "text/xml", doc(section("incomingServer", "imap", "imap.example.com", "993", " SSL ", "%EMAILADDRESS%", "password-cleartext") + smtpSSL), want{tb: "socketType", k9: "white space", evo: "socketType"}, "", ""},
		{"lower-case ssl", "text/xml", doc(section("incomingServer", "imap", "imap.example.com", "993", "ssl", "%EMAILADDRESS%", "password-cleartext") + smtpSSL), want{tb: "socketType", k9: "socketType", evo: "socketType"}, "", "IMAP imap.example.com:993 plain"},
		{"no smtp", "text/xml", doc(imapSSL), want{"outgoingServer", "smtp", "smtp", "smtp", "SMTP"}, "", ""},
		{"pop3 only", "text/xml", doc(pop3SSL + smtpSSL), want{k9: "IMAP", dc: "IMAP"}, "POP3 pop.example.com:995 SSL", ""},
		{"no username", "text/xml", doc(section("incomingServer", "imap", "imap.example.com", "993", "SSL", "", "password-cleartext") + smtpSSL), want{tb: "username", k9: "username"}, "", ""},
		{"oauth2 only, unknown host", "text/xml", doc(section("incomingServer", "imap", "imap.example.com", "993", "SSL", "%EMAILADDRESS%", "OAuth2") + smtpSSL), want{tb: "authentication"}, "", ""},
		{"smtp without port", "text/xml", doc(imapSSL + section("outgoingServer", "smtp", "smtp.example.com", "", "SSL", "%EMAILADDRESS%", "password-cleartext")), want{tb: "port", k9: "port", evo: "port", kmail: "smtp", dc: "SMTP"}, "", ""},
		{"bad id", "text/xml", []byte(`<clientConfig><emailProvider id="not a host"><domain>example.com</domain>` + imapSSL + smtpSSL + `</emailProvider></clientConfig>`), want{tb: "id", k9: "id"}, "", ""},
	}
	check := func(t *testing.T, reader, wantWord string, v verdict) {
		t.Helper()
		switch {
		case wantWord == "" && !v.ok:
			t.Errorf("%s refused: %s; want accepted", reader, v.reason)
		case wantWord != "" && v.ok:
			t.Errorf("%s accepted; want refused (%s)", reader, wantWord)
		case wantWord != "" && !strings.Contains(v.reason, wantWord):
			t.Errorf("%s reason %q does not mention %q", reader, v.reason, wantWord)
		case !v.ok && v.fix == "":
			t.Errorf("%s refused without a fix", reader)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, "Thunderbird", tc.want.tb, thunderbirdAutoconfig(tc.ct, tc.body, alice))
			check(t, "K-9", tc.want.k9, k9Autoconfig(tc.body, alice))
			evo := evolutionAutoconfig(tc.body, alice)
			check(t, "Evolution", tc.want.evo, evo)
			km := kmailAutoconfig(tc.body, alice)
			check(t, "KMail", tc.want.kmail, km)
			check(t, "Delta Chat", tc.want.dc, deltaChatAutoconfig(tc.body, alice))
			if tc.evoIn != "" && evo.ok && evo.incoming.String() != tc.evoIn {
				t.Errorf("Evolution incoming = %s, want %s (the last section wins)", evo.incoming, tc.evoIn)
			}
			if tc.kmailIn != "" && km.ok && km.incoming.String() != tc.kmailIn {
				t.Errorf("KMail incoming = %s, want %s", km.incoming, tc.kmailIn)
			}
		})
	}
}

func TestPlaceholdersExpanded(t *testing.T) {
	body := doc(section("incomingServer", "imap", "imap.%EMAILDOMAIN%", "993", "SSL", "%EMAILLOCALPART%", "password-cleartext") + smtpSSL)
	for name, v := range map[string]verdict{
		"Thunderbird": thunderbirdAutoconfig("text/xml", body, alice),
		"K-9":         k9Autoconfig(body, alice),
		"Evolution":   evolutionAutoconfig(body, alice),
		"Delta Chat":  deltaChatAutoconfig(body, alice),
	} {
		if !v.ok || v.incoming.Host != "imap.example.com" || v.incoming.Username != "alice" {
			t.Errorf("%s: %+v %v, want imap.example.com as alice", name, v.incoming, v.reason)
		}
	}
}

// TestOwnDocumentsAccepted: what the service renders, every reader takes.
func TestOwnDocumentsAccepted(t *testing.T) {
	cat := provision.Demo()
	p, _ := cat.Lookup("example.com")
	addr, _ := provision.ParseAddress("alice@example.com")
	for _, a := range []*provision.Address{nil, &addr} {
		body, err := cat.Autoconfig(nil, p, "example.com", a, provision.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]verdict{
			"Thunderbird": thunderbirdAutoconfig("text/xml; charset=utf-8", body, alice),
			"K-9":         k9Autoconfig(body, alice),
			"Evolution":   evolutionAutoconfig(body, alice),
			"KMail":       kmailAutoconfig(body, alice),
			"Delta Chat":  deltaChatAutoconfig(body, alice),
		} {
			if !v.ok || len(v.warnings) > 0 {
				t.Errorf("%s on our autoconfig (addr %v): ok=%v %s %v", name, a, v.ok, v.reason, v.warnings)
			}
		}
	}
	pox, err := cat.Autodiscover(nil, p, "example.com", &addr, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]poxAnswer{
		"Outlook":     outlookPOX("text/xml; charset=utf-8", pox, alice),
		"Thunderbird": thunderbirdPOX("text/xml; charset=utf-8", pox, alice),
		"Delta Chat":  deltaChatPOX(pox, alice),
	} {
		if !a.ok || len(a.warnings) > 0 {
			t.Errorf("%s on our Autodiscover answer: ok=%v %s %v", name, a.ok, a.reason, a.warnings)
		}
	}
	if ms, err := cat.MobileSync(nil, p, "example.com", &addr, provision.Options{}); err == nil {
		if _, v := mobileSyncAnswer(ms); !v.ok {
			t.Errorf("our mobilesync answer refused: %s", v.reason)
		}
	}
}

const poxHead = `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><Account><AccountType>email</AccountType>`
const poxTail = `</Account></Response></Autodiscover>`
const poxIMAP = `<Protocol><Type>IMAP</Type><Server>imap.example.com</Server><Port>993</Port><SPA>off</SPA><SSL>on</SSL></Protocol>`
const poxSMTP = `<Protocol><Type>SMTP</Type><Server>smtp.example.com</Server><Port>587</Port><SPA>off</SPA><Encryption>TLS</Encryption></Protocol>`

func TestPOXReaders(t *testing.T) {
	settings := poxHead + `<Action>settings</Action>` + poxIMAP + poxSMTP + poxTail
	prefixed := `<a:Autodiscover xmlns:a="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><b:Response xmlns:b="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><b:Account><b:Action>settings</b:Action><b:Protocol><b:Type>IMAP</b:Type><b:Server>imap.example.com</b:Server><b:Port>993</b:Port><b:SPA>off</b:SPA></b:Protocol><b:Protocol><b:Type>SMTP</b:Type><b:Server>smtp.example.com</b:Server><b:Port>465</b:Port><b:SPA>off</b:SPA></b:Protocol></b:Account></b:Response></a:Autodiscover>`
	redirect := poxHead + `<Action>redirectUrl</Action><RedirectUrl>https://other.example.net/autodiscover/autodiscover.xml</RedirectUrl>` + poxTail
	noSPA := strings.ReplaceAll(settings, "<SPA>off</SPA>", "")
	boolSSL := strings.ReplaceAll(settings, "<SSL>on</SSL>", "<SSL>true</SSL>")
	errDoc := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response><Error><ErrorCode>500</ErrorCode><Message>unknown</Message></Error></Response></Autodiscover>`

	o := outlookPOX("text/xml", []byte(settings), alice)
	if !o.ok || o.incoming.Socket != "SSL" || o.outgoing.Socket != "STARTTLS" {
		t.Errorf("Outlook on settings: %+v", o)
	}
	if o := outlookPOX("text/xml", []byte(prefixed), alice); !o.ok {
		t.Errorf("Outlook on prefixed names: %s (Outlook resolves namespaces)", o.reason)
	}
	if tb := thunderbirdPOX("text/xml", []byte(prefixed), alice); tb.ok {
		t.Error("Thunderbird accepted prefixed names; JXON keys on the prefix")
	}
	if o := outlookPOX("text/xml", []byte(redirect), alice); o.redirectURL == "" {
		t.Errorf("Outlook on redirectUrl: %+v", o)
	}
	if tb := thunderbirdPOX("text/xml", []byte(redirect), alice); tb.ok || !strings.Contains(tb.reason, "RedirectUrl") {
		t.Errorf("Thunderbird on redirectUrl: ok=%v %q; it ignores RedirectUrl", tb.ok, tb.reason)
	}
	if dc := deltaChatPOX([]byte(redirect), alice); dc.redirectURL == "" || dc.ok {
		t.Errorf("Delta Chat on redirectUrl: %+v; it follows RedirectUrl", dc)
	}
	if o := outlookPOX("text/xml", []byte(noSPA), alice); !o.ok || len(o.warnings) == 0 {
		t.Errorf("Outlook without SPA: ok=%v warnings %v; SPA defaults to on", o.ok, o.warnings)
	}
	if tb := thunderbirdPOX("text/xml", []byte(boolSSL), alice); tb.ok {
		t.Error("Thunderbird accepted <SSL>true</SSL>; JXON makes it a boolean and skips the Protocol")
	}
	if o := outlookPOX("text/xml", []byte(errDoc), alice); o.ok || !strings.Contains(o.reason, "500") {
		t.Errorf("Outlook on an error: %+v", o)
	}
	if tb := thunderbirdPOX("text/plain", []byte(settings), alice); tb.ok {
		t.Error("Thunderbird accepted text/plain")
	}
}

func TestMobileSyncAnswer(t *testing.T) {
	ok601 := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"><Action><Error><ErrorCode>601</ErrorCode></Error></Action></Response></Autodiscover>`
	as := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"><Action><Settings><Server><Type>MobileSync</Type><Url>https://eas.example.com/Microsoft-Server-ActiveSync</Url></Server></Settings></Action></Response></Autodiscover>`
	imap := poxHead + `<Action>settings</Action>` + poxIMAP + poxTail
	if u, v := mobileSyncAnswer([]byte(ok601)); !v.ok || u != "" {
		t.Errorf("601: %q %+v", u, v)
	}
	if u, v := mobileSyncAnswer([]byte(as)); !v.ok || u == "" {
		t.Errorf("ActiveSync: %q %+v", u, v)
	}
	if _, v := mobileSyncAnswer([]byte(imap)); v.ok {
		t.Error("IMAP settings in the outlook schema accepted as a mobilesync answer")
	}
}

func TestJSONAnswer(t *testing.T) {
	tests := []struct {
		ct, body string
		ok       bool
	}{
		{"application/json", `{"Protocol":"AutodiscoverV1","Url":"https://h.example/autodiscover/autodiscover.xml"}`, true},
		{"text/html", `{"Protocol":"AutodiscoverV1","Url":"https://h.example/autodiscover/autodiscover.xml"}`, false},
		{"application/json", `{"Protocol":"AutodiscoverV1","Url":"http://h.example/autodiscover/autodiscover.xml"}`, false},
		{"application/json", `{"ErrorCode":"InvalidProtocol"}`, false},
	}
	for _, tc := range tests {
		if _, v := jsonAnswer(tc.ct, []byte(tc.body)); v.ok != tc.ok {
			t.Errorf("jsonAnswer(%q, %s) ok = %v, want %v (%s)", tc.ct, tc.body, v.ok, tc.ok, v.reason)
		}
	}
}

func TestAppleProfileUnsigned(t *testing.T) {
	cat := provision.Demo()
	p, _ := cat.Lookup("example.com")
	addr, _ := provision.ParseAddress("alice@example.com")
	body, err := cat.Mobileconfig(nil, p, "example.com", &addr, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := appleProfile(provision.MobileconfigContentType, body, nil, time.Now())
	if !v.ok || len(v.warnings) == 0 || !strings.Contains(v.warnings[0], "Not Verified") {
		t.Errorf("unsigned profile: ok=%v %s %v; want accepted with a Not Verified warning", v.ok, v.reason, v.warnings)
	}
	if v.ok && (v.incoming.Host != "imap.example.com" || v.incoming.Socket != "SSL") {
		t.Errorf("profile incoming = %s", v.incoming)
	}
	if v := appleProfile("application/xml", body, nil, time.Now()); v.ok {
		t.Error("profile served as application/xml accepted; iOS needs application/x-apple-aspen-config")
	}
}

func TestParseXML(t *testing.T) {
	for _, bad := range []string{"", "<a>", "<a></b>", "<a/><b/>", "text<a/>", "<p:a/>", strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1)} {
		if _, err := parseXML([]byte(bad)); err == nil {
			t.Errorf("parseXML(%.40q) accepted", bad)
		}
	}
	n, err := parseXML([]byte(`<p:a xmlns:p="urn:x"><p:b> t </p:b><c/></p:a>`))
	if err != nil || n.qname() != "p:a" || n.ns != "urn:x" || n.child("p:b").text != " t " || n.child("b") != nil || n.childNS("urn:x", "b") == nil {
		t.Errorf("parseXML prefixed: %+v %v", n, err)
	}
}

func TestOneLineNeutralizesControls(t *testing.T) {
	got := oneLine("a\x1b[31mred\u202e\nnext\tline")
	if strings.ContainsAny(got, "\x1b\u202e\n\t") || got != "a?[31mred? next line" {
		t.Errorf("oneLine = %q", got)
	}
}
