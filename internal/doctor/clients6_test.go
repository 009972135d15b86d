package doctor

import (
	"fmt"
	"strings"
	"testing"

	"mailautoconf/provision"
)

// ours renders the demo's document for alice, with the address filled
// in, as config-v1.1.xml answers.
func ours(t testing.TB) []byte {
	t.Helper()
	cat := provision.Demo()
	p, _ := cat.Lookup("example.com")
	addr, _ := provision.ParseAddress("alice@example.com")
	b, err := cat.Autoconfig(nil, p, "example.com", &addr, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pick summarises a verdict: "" when refused, else the two servers.
func pick(v verdict) string {
	if !v.ok {
		return ""
	}
	return endpointOr(v.incoming, "-") + " / " + endpointOr(v.outgoing, "-")
}

func TestNewClientReaders(t *testing.T) {
	pop3First := doc(pop3SSL + imapSSL + smtpSSL)
	smtpStart := section("outgoingServer", "smtp", "smtp.example.com", "587", "STARTTLS", "%EMAILADDRESS%", "password-cleartext")
	const demo = "IMAP imap.example.com:993 SSL / SMTP smtp.example.com:465 SSL"
	tests := []struct {
		name   string
		read   func([]byte, ident) verdict
		body   []byte
		want   string // pick; "" refused
		reason string // a word of the refusal, fails or warnings
	}{
		{"Geary, our document", gearyAutoconfig, ours(t), demo, ""},
		{"Geary, POP3 first", gearyAutoconfig, pop3First, "", "Unsupported protocol"},
		{"Geary, socketType in lower case is no TLS", gearyAutoconfig, doc(section("incomingServer", "imap", "imap.example.com", "993", "ssl", "%EMAILADDRESS%") + smtpSSL), "IMAP imap.example.com:993 plain / SMTP smtp.example.com:465 SSL", ""},
		{"Geary, per-user login ignored", gearyAutoconfig, doc(section("incomingServer", "imap", "imap.example.com", "993", "SSL", "u1001") + smtpSSL), demo, "ignores <username>"},
		{"Geary, no outgoingServer", gearyAutoconfig, doc(imapSSL), "", "Invalid XML"},

		{"GNOME, our document", gnomeAutoconfig, ours(t), demo, "not exactly a placeholder"},
		{"GNOME, placeholders", gnomeAutoconfig, doc(imapSSL + smtpSSL), demo, ""},
		{"GNOME, POP3 first is fine", gnomeAutoconfig, pop3First, demo, ""},
		{"GNOME, port ignored", gnomeAutoconfig, doc(section("incomingServer", "imap", "imap.example.com", "1993", "SSL", "%EMAILADDRESS%") + smtpSSL), demo, "ignores the port 1993"},
		{"GNOME, plain shows as SSL on 993", gnomeAutoconfig, doc(imapPlain + smtpSSL), "IMAP imap.example.com:993 SSL / SMTP smtp.example.com:465 SSL", "ignores the port 143"},
		{"GNOME, no imap stops the lookup", gnomeAutoconfig, doc(pop3SSL + smtpSSL), "- / SMTP smtp.example.com:465 SSL", "fills nothing in"},
		{"GNOME, not clientConfig", gnomeAutoconfig, []byte(`<html/>`), "", "clientConfig"},

		{"aerc, our document: the last outgoingServer wins", aercAutoconfig, ours(t), "IMAP imap.example.com:993 SSL / SMTP smtp.example.com:587 STARTTLS", ""},
		{"aerc, POP3 first is skipped", aercAutoconfig, pop3First, demo, ""},
		{"aerc, unknown socketType is STARTTLS", aercAutoconfig, doc(section("incomingServer", "imap", "imap.example.com", "143", "tls", "%EMAILADDRESS%") + smtpStart), "IMAP imap.example.com:143 STARTTLS / SMTP smtp.example.com:587 STARTTLS", ""},
		{"aerc, port with spaces", aercAutoconfig, doc(section("incomingServer", "imap", "imap.example.com", " 993 ", "SSL", "%EMAILADDRESS%") + smtpSSL), "", "not a number"},
		{"aerc, no imap", aercAutoconfig, doc(pop3SSL + smtpSSL), "", "no imap"},
		{"aerc, other placeholder left as is", aercAutoconfig, doc(section("incomingServer", "imap", "imap.example.com", "993", "SSL", "%EMAILLOCALPART%") + smtpSSL), demo, "replaces only exactly"},

		{"Nextcloud, our document", nextcloudAutoconfig, ours(t), demo, ""},
		{"Nextcloud, POP3 first is skipped", nextcloudAutoconfig, pop3First, demo, ""},
		{"Nextcloud, tls means STARTTLS", nextcloudAutoconfig, doc(section("incomingServer", "imap", "imap.example.com", "143", "TLS", "%EMAILADDRESS%") + smtpSSL), "IMAP imap.example.com:143 STARTTLS / SMTP smtp.example.com:465 SSL", ""},
		{"Nextcloud, type in upper case is skipped", nextcloudAutoconfig, doc(section("incomingServer", "IMAP", "imap.example.com", "993", "SSL", "%EMAILADDRESS%") + smtpSSL), "- / SMTP smtp.example.com:465 SSL", "no imap server"},
		{"Nextcloud, neither", nextcloudAutoconfig, doc(pop3SSL), "", "no imap or smtp"},

		{"iOS, our document", tbiosAutoconfig, ours(t), demo, ""},
		{"iOS, POP3 first is fine", tbiosAutoconfig, []byte(strings.Replace(string(pop3First), `<domain>example.com</domain>`, `<domain>example.com</domain><displayName>E</displayName><displayShortName>E</displayShortName>`, 1)), demo, ""},
		{"iOS, no displayShortName", tbiosAutoconfig, doc(imapSSL + smtpSSL), "", "displayName"},
		{"iOS, an ews server fails the document", tbiosAutoconfig, []byte(strings.Replace(string(ours(t)), "<outgoingServer", `<incomingServer type="ews"><url>https://mail.example.com/EWS/Exchange.asmx</url></incomingServer><outgoingServer`, 1)), "", `type "ews"`},
		{"iOS, plain fails the document", tbiosAutoconfig, []byte(strings.Replace(string(ours(t)), "<socketType>STARTTLS</socketType>", "<socketType>plain</socketType>", 1)), "", `socketType "plain"`},
		{"iOS, authentication none fails the document", tbiosAutoconfig, []byte(strings.Replace(string(ours(t)), "<authentication>password-cleartext</authentication>\n    </outgoingServer>", "<authentication>none</authentication>\n    </outgoingServer>", 1)), "", `authentication "none"`},
		{"iOS, oAuth2 without issuer", tbiosAutoconfig, []byte(strings.Replace(string(ours(t)), "</clientConfig>", "<oAuth2><authURL>https://a.example/auth</authURL><tokenURL>https://a.example/token</tokenURL><scope>mail</scope></oAuth2></clientConfig>", 1)), "", "without issuer"},
		{"iOS, oAuth2 read", tbiosAutoconfig, []byte(strings.Replace(string(ours(t)), "</clientConfig>", "<oAuth2><authURL>https://a.example/auth</authURL><tokenURL>https://a.example/token</tokenURL><issuer>a.example</issuer><scope>mail</scope></oAuth2></clientConfig>", 1)), demo, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.read(tt.body, alice)
			if got := pick(v); got != tt.want {
				t.Errorf("pick = %q (%s), want %q", got, v.reason, tt.want)
			}
			all := v.reason + " " + strings.Join(v.fails, " ") + " " + strings.Join(v.warnings, " ")
			if tt.reason != "" && !strings.Contains(all, tt.reason) {
				t.Errorf("reason %q, want it to say %q", all, tt.reason)
			}
			if tt.reason == "" && (len(v.fails) > 0 || len(v.warnings) > 0) {
				t.Errorf("unexpected findings: %q", all)
			}
		})
	}
}

// TestAercSRV replays dns-srv.go: _imap before _imaps, _submission
// before _smtps, never _submissions, and no SMTP at all when the two
// labels it asks give nothing.
func TestAercSRV(t *testing.T) {
	rec := func(target string, port int) srvRecord { return srvRecord{Target: target, Port: port} }
	tests := []struct {
		name  string
		found map[string]srvRecord
		want  string // "" SRV gives nothing
		fails bool
	}{
		{"nothing", map[string]srvRecord{"_submission": rec("smtp.example.com", 587)}, "", false},
		{"both IMAP labels: STARTTLS wins", map[string]srvRecord{"_imap": rec("imap.example.com", 143), "_imaps": rec("imap.example.com", 993), "_submission": rec("smtp.example.com", 587)},
			"IMAP imap.example.com:143 STARTTLS / SMTP smtp.example.com:587 STARTTLS", false},
		{"465 only with _smtps", map[string]srvRecord{"_imaps": rec("imap.example.com", 993), "_smtps": rec("smtp.example.com", 465)},
			"IMAP imap.example.com:993 SSL / SMTP smtp.example.com:465 SSL", false},
		{"465 only without _smtps", map[string]srvRecord{"_imaps": rec("imap.example.com", 993)},
			"IMAP imap.example.com:993 SSL / -", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := aercFromSRV(tt.found, alice)
			if got := pick(v); ok != (tt.want != "") || got != tt.want {
				t.Errorf("aercFromSRV = %q, %v, want %q", got, ok, tt.want)
			}
			if (len(v.fails) > 0) != tt.fails {
				t.Errorf("fails = %q, want fails %v", v.fails, tt.fails)
			}
		})
	}
	// getHighestSRV: the greatest weight over every priority; "." is
	// no service.
	for _, tt := range []struct {
		list []srvRecord
		want string
	}{
		{[]srvRecord{{0, 1, 143, "a.example."}, {10, 5, 143, "b.example."}}, "b.example:143"},
		{[]srvRecord{{10, 1, 143, "b.example."}, {0, 1, 143, "a.example."}}, "a.example:143"},
		{[]srvRecord{{0, 0, 0, "."}}, ":0"},
	} {
		if h, p := aercHighestSRV(tt.list); fmt.Sprintf("%s:%d", h, p) != tt.want {
			t.Errorf("aercHighestSRV(%v) = %s:%d, want %s", tt.list, h, p, tt.want)
		}
	}
}

// TestClawsSRV: the lowest priority with a target and a port; "." is
// none.
func TestClawsSRV(t *testing.T) {
	if s, ok := clawsSRV([]srvRecord{{0, 0, 0, "."}}); ok {
		t.Errorf("clawsSRV(.) = %v, want none", s)
	}
	if s, ok := clawsSRV([]srvRecord{{10, 1, 587, "b.example."}, {0, 1, 465, "a.example."}}); !ok || s.Target != "a.example" || s.Port != 465 {
		t.Errorf("clawsSRV = %v %v, want a.example:465", s, ok)
	}
}

func FuzzNewClientReaders(f *testing.F) {
	f.Add(doc(imapSSL + smtpSSL))
	f.Add(doc(pop3SSL + imapStart + smtpSSL + smtpSSL))
	f.Add([]byte(`<clientConfig><emailProvider><displayName>x</displayName><displayShortName>x</displayShortName><domain>x</domain><incomingServer type="ews"><url>https://x/EWS/Exchange.asmx</url></incomingServer></emailProvider><oAuth2/></clientConfig>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkVerdict(t, "Geary", gearyAutoconfig(body, alice), true, 1)
		checkVerdict(t, "aerc", aercAutoconfig(body, alice), true, 0)
		ios := tbiosAutoconfig(body, alice)
		checkVerdict(t, "Thunderbird for iOS", ios, true, 0)
		// The strict decoder never accepts a socket or type it has no
		// value for.
		for _, e := range ios.candidates {
			if ios.ok && (e.Socket != "SSL" && e.Socket != "STARTTLS" || e.Protocol != "imap" && e.Protocol != "pop3" && e.Protocol != "smtp") {
				t.Fatalf("Thunderbird for iOS accepted %s", e)
			}
		}
		// GNOME and Nextcloud accept with fails instead of refusing:
		// an accepted answer with no fails has an IMAP server.
		for name, v := range map[string]verdict{"GNOME": gnomeAutoconfig(body, alice), "Nextcloud": nextcloudAutoconfig(body, alice)} {
			if v.ok && len(v.fails) == 0 && (v.incoming == nil || v.incoming.Protocol != "imap" || v.incoming.Host == "") {
				t.Fatalf("%s accepted without an IMAP server: %+v", name, v)
			}
			if !v.ok && (v.reason == "" || v.fix == "") {
				t.Fatalf("%s refused without reason or fix", name)
			}
		}
	})
}

// TestReadersWithExchange: with the ews and owa servers the service
// writes after IMAP and POP3 (provision/exchange.go), every reader but
// Thunderbird for iOS's still configures IMAP; that one discards the
// document (docs/clients/thunderbird-ios.md).
func TestReadersWithExchange(t *testing.T) {
	cat, err := provision.Parse(provision.Source{Name: "x.yaml", Data: []byte(`providers:
  - id: example.com
    domains: [example.com]
    ews: https://mail.example.com/EWS/Exchange.asmx
    owa: https://mail.example.com/owa/
    incoming:
      - {protocol: imap, host: imap.example.com, port: 993, security: tls}
      - {protocol: pop3, host: pop.example.com, port: 995, security: tls}
    outgoing: [{protocol: smtp, host: smtp.example.com, port: 465, security: tls}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cat.Lookup("example.com")
	addr, _ := provision.ParseAddress("alice@example.com")
	body, err := cat.Autoconfig(nil, p, "example.com", &addr, provision.Options{})
	if err != nil || !strings.Contains(string(body), `type="ews"`) {
		t.Fatalf("no ews server rendered (%v):\n%s", err, body)
	}
	readers := map[string]verdict{
		"Thunderbird": thunderbirdAutoconfig("text/xml", body, alice),
		"K-9":         k9Autoconfig(body, alice),
		"Evolution":   evolutionAutoconfig(body, alice),
		"FairEmail":   fairEmailAutoconfig(body, alice),
		"KMail":       kmailAutoconfig(body, alice),
		"Delta Chat":  deltaChatAutoconfig(body, alice),
		"Geary":       gearyAutoconfig(body, alice),
		"GNOME":       gnomeAutoconfig(body, alice),
		"aerc":        aercAutoconfig(body, alice),
		"Nextcloud":   nextcloudAutoconfig(body, alice),
	}
	for name, v := range readers {
		if !v.ok || len(v.fails) > 0 || v.incoming == nil || v.incoming.Protocol != "imap" {
			t.Errorf("%s: ok %v, fails %q, incoming %v (%s); want IMAP", name, v.ok, v.fails, v.incoming, v.reason)
		}
	}
	if v := tbiosAutoconfig(body, alice); v.ok || !strings.Contains(v.reason, `type "ews"`) {
		t.Errorf("Thunderbird for iOS: ok %v (%s); want the document refused on the ews server", v.ok, v.reason)
	}
}
