package doctor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// pox wraps Protocol elements (or other Account children) in a settings
// answer.
func pox(account string) []byte {
	return []byte(poxHead + `<Action>settings</Action>` + account + poxTail)
}

// proto is one Protocol element of the given children.
func proto(children ...string) string {
	return "<Protocol>" + strings.Join(children, "") + "</Protocol>"
}

// TestThunderbirdPOXRules: the rules of readAutoDiscoverXML that a
// Protocol's values decide (docs/thunderbird-parser.md#readautodiscoverxml).
// want is "" when Thunderbird skips the Protocol, else the server it
// keeps as "PROTO host:port socket user auth".
func TestThunderbirdPOXRules(t *testing.T) {
	imap := []string{"<Type>IMAP</Type>", "<Server>imap.example.com</Server>", "<Port>993</Port>"}
	with := func(extra ...string) string { return proto(append(slices.Clone(imap), extra...)...) }
	for _, tc := range []struct {
		name, protocol, want string
	}{
		{"plain defaults", with(), "IMAP imap.example.com:993 SSL alice@example.com password-cleartext"},
		{"SSL off", with("<SSL>Off</SSL>"), "IMAP imap.example.com:993 plain alice@example.com password-cleartext"},
		{"Encryption None", with("<Encryption>NONE</Encryption>"), "IMAP imap.example.com:993 plain alice@example.com password-cleartext"},
		{"port decides", proto("<Type>IMAP</Type><Server>imap.example.com</Server><Port>143</Port><Encryption>SSL</Encryption>"), "IMAP imap.example.com:143 STARTTLS alice@example.com password-cleartext"},
		{"SPA on", with("<SPA>ON</SPA>"), "IMAP imap.example.com:993 SSL alice@example.com secure"},
		{"LoginName", with("<LoginName>al</LoginName>"), "IMAP imap.example.com:993 SSL al password-cleartext"},
		// JXON makes an empty element the boolean true: "true" as a user
		// name (nonemptystring), but a throw in toLowerCase.
		{"LoginName empty", with("<LoginName/>"), "IMAP imap.example.com:993 SSL true password-cleartext"},
		{"LoginName false", with("<LoginName>false</LoginName>"), ""},
		{"LoginName 0", with("<LoginName> 0 </LoginName>"), ""},
		{"SSL true", with("<SSL>true</SSL>"), ""},
		{"SSL empty", with("<SSL/>"), ""},
		{"Encryption false", with("<Encryption>false</Encryption>"), ""},
		{"Encryption number", with("<Encryption>1</Encryption>"), ""},
		{"SPA true", with("<SPA>TRUE</SPA>"), ""},
		{"SPA object", with(`<SPA a="b">on</SPA>`), ""},
		{"lower-case type", proto("<Type>imap</Type><Server>imap.example.com</Server><Port>993</Port>"), ""},
		{"no port", proto("<Type>IMAP</Type><Server>imap.example.com</Server>"), ""},
	} {
		a := thunderbirdPOX("text/xml", pox(tc.protocol), alice)
		got := ""
		if a.ok {
			e := a.incoming
			got = fmt.Sprintf("%s %s %s", e, e.Username, e.Auth)
		}
		if got != tc.want {
			t.Errorf("%s: thunderbirdPOX(%s) = %q (%s), want %q", tc.name, tc.protocol, got, a.reason, tc.want)
		}
	}
}

// TestThunderbirdPOXRedirectAddr: RedirectAddr must be an e-mail address
// (Sanitizer.emailAddress); whatever Action says, it restarts discovery.
func TestThunderbirdPOXRedirectAddr(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"bob@other.example", "bob@other.example"},
		{" bob@other.example ", "bob@other.example"},
		{"bob", ""},
		{"bob@", ""},
	} {
		a := thunderbirdPOX("text/xml", pox(`<RedirectAddr>`+tc.addr+`</RedirectAddr>`+poxIMAP), alice)
		if a.redirectAddr != tc.want || a.ok || (tc.want == "" && a.reason == "") {
			t.Errorf("RedirectAddr %q: redirectAddr %q ok=%v reason %q, want %q", tc.addr, a.redirectAddr, a.ok, a.reason, tc.want)
		}
	}
}

// TestDeltaChatPOXRules: parse_protocol, parse_xml_reader and
// expand_ports of Delta Chat (docs/autodiscover.md#pox-response). want
// lists the connections tried, in order.
func TestDeltaChatPOXRules(t *testing.T) {
	smtp := proto("<Type>SMTP</Type><Server>smtp.example.com</Server><Port>465</Port>")
	for _, tc := range []struct {
		name, account string
		want          []string // the IMAP connections tried
		redirect      string
	}{
		{"automatic", proto("<Type>imap</Type><Server>imap.example.com</Server><Port>143</Port>"), []string{"IMAP imap.example.com:143 SSL", "IMAP imap.example.com:143 STARTTLS"}, ""},
		{"SSL off", proto("<Type>IMAP</Type><Server>imap.example.com</Server><Port>143</Port><SSL>off</SSL>"), []string{"IMAP imap.example.com:143 plain"}, ""},
		// Only "off" exactly: Off is "on".
		{"SSL Off", proto("<Type>IMAP</Type><Server>imap.example.com</Server><Port>143</Port><SSL>Off</SSL>"), []string{"IMAP imap.example.com:143 SSL", "IMAP imap.example.com:143 STARTTLS"}, ""},
		// A port that is no number reads as 0: the standard ports, TLS first.
		{"bad port", proto("<Type>IMAP</Type><Server>imap.example.com</Server><Port>x</Port>"), []string{"IMAP imap.example.com:993 SSL", "IMAP imap.example.com:143 STARTTLS"}, ""},
		{"bad port, plain", proto("<Type>IMAP</Type><Server>imap.example.com</Server><Port>99999</Port><SSL>off</SSL>"), []string{"IMAP imap.example.com:143 plain"}, ""},
		{"no port", proto("<Type>IMAP</Type><Server>imap.example.com</Server>"), nil, ""},
		// Text of nested elements counts; the last value wins.
		{"nested, last wins", proto("<Type>IMAP</Type><Server>a.example.com</Server><X><Server>imap.example.com</Server></X><Port>993</Port>"), []string{"IMAP imap.example.com:993 SSL", "IMAP imap.example.com:993 STARTTLS"}, ""},
		// The first RedirectUrl ends the reading, and wins over Protocols.
		{"RedirectUrl after Protocol", poxIMAP + `<RedirectUrl>https://other.example/autodiscover/autodiscover.xml</RedirectUrl>`, nil, "https://other.example/autodiscover/autodiscover.xml"},
	} {
		a := deltaChatPOX(pox(tc.account+smtp), alice)
		var got []string
		for _, e := range a.candidates {
			if e.Username != alice.address {
				t.Errorf("%s: username %q, want the address (LoginName is not read)", tc.name, e.Username)
			}
			if e.Protocol == "imap" {
				for _, c := range deltaChatTries(e) {
					got = append(got, c.String())
				}
			}
		}
		if !slices.Equal(got, tc.want) || a.redirectURL != tc.redirect {
			t.Errorf("%s: deltaChatPOX = %q redirect %q, want %q redirect %q", tc.name, got, a.redirectURL, tc.want, tc.redirect)
		}
	}
	// LoginName is not read.
	a := deltaChatPOX(pox(proto("<Type>IMAP</Type><Server>imap.example.com</Server><Port>993</Port><LoginName>al</LoginName>")+smtp), alice)
	if !a.ok || a.incoming.Username != alice.address {
		t.Errorf("LoginName: %+v, want username %q", a.incoming, alice.address)
	}
}
