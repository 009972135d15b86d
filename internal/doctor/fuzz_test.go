package doctor

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"mailautoconf/provision"

	// -update: go test ./... -update rewrites golden files, and every test
	// binary must accept the flag.
	_ "mailautoconf/internal/testutil/golden"
)

// checkVerdict asserts what every accepting reader promises: a chosen
// incoming server and (unless optional) an outgoing one, each with a host
// and a port in range and a known connection mode, and a reason with a
// fix for every refusal.
func checkVerdict(t *testing.T, reader string, v verdict, needOutgoing bool, portMin int) {
	t.Helper()
	if !v.ok {
		if v.reason == "" || v.fix == "" {
			t.Fatalf("%s refused without reason or fix: %+v", reader, v)
		}
		return
	}
	eps := []*Endpoint{v.incoming}
	if needOutgoing || v.outgoing != nil {
		eps = append(eps, v.outgoing)
	}
	for _, e := range eps {
		if e == nil {
			t.Fatalf("%s accepted without a server: %+v", reader, v)
		}
		if e.Host == "" || e.Port < portMin || e.Port > 65535 {
			t.Fatalf("%s accepted %s", reader, e)
		}
		switch e.Socket {
		case "SSL", "STARTTLS", "plain", "auto":
		default:
			t.Fatalf("%s accepted socket %q", reader, e.Socket)
		}
	}
}

func FuzzAutoconfigReaders(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input, which for
	// kilobyte documents takes longer than the CI's fuzz budget. Our own
	// full documents are checked in TestOwnDocumentsAccepted.
	f.Add("text/xml", doc(imapSSL+imapPlain+smtpSSL))
	f.Add("application/xml", doc(pop3SSL+imapStart+smtpSSL))
	f.Add("text/plain", doc(section("incomingServer", "imap", "imap.%EMAILDOMAIN%", " 993 ", " SSL ", "", "OAuth2")+smtpSSL))
	f.Add("text/xml", []byte(`<clientConfig><emailProvider id="x"><domain/><incomingServer type="imap"><hostname>a</hostname><port>0</port></incomingServer></emailProvider></clientConfig>`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		tb := thunderbirdAutoconfig(ct, body, alice)
		checkVerdict(t, "Thunderbird", tb, true, 0)
		k9 := k9Autoconfig(body, alice)
		checkVerdict(t, "K-9", k9, true, 0)
		checkVerdict(t, "Evolution", evolutionAutoconfig(body, alice), true, 1)
		checkVerdict(t, "FairEmail", fairEmailAutoconfig(body, alice), true, 1)
		checkVerdict(t, "KMail", kmailAutoconfig(body, alice), true, 0)
		checkVerdict(t, "Delta Chat", deltaChatAutoconfig(body, alice), true, 1)
		// K-9 never accepts a document with a plain or non-exact
		// socketType in an imap or smtp section (docs/autoconfig.md#thunderbird-for-android-k-9).
		if k9.ok {
			for _, e := range k9.candidates {
				if e.Socket != "SSL" && e.Socket != "STARTTLS" {
					t.Fatalf("K-9 accepted %s", e)
				}
			}
			if k9.incoming.Protocol != "imap" || k9.outgoing.Protocol != "smtp" {
				t.Fatalf("K-9 picked %s and %s", k9.incoming, k9.outgoing)
			}
		}
		// Thunderbird needs an XML content type before anything else.
		if tb.ok && !xmlContentType(ct) {
			t.Fatalf("Thunderbird accepted Content-Type %q", ct)
		}
		// Same input, same verdict: the doctor's answer is stable.
		if again := thunderbirdAutoconfig(ct, body, alice); again.ok != tb.ok || again.reason != tb.reason {
			t.Fatal("Thunderbird verdict not deterministic")
		}
	})
}

func FuzzPOXReaders(f *testing.F) {
	p, _ := provision.Demo().Lookup("example.com")
	addr, _ := provision.ParseAddress("alice@example.com")
	var ref *provision.Catalog // renders without templates
	if pox, err := ref.Autodiscover(nil, p, "example.com", &addr, provision.Options{}); err == nil {
		f.Add(pox)
	}
	if ms, err := ref.MobileSync(nil, p, "example.com", &addr, provision.Options{}); err == nil {
		f.Add(ms)
	}
	f.Add([]byte(poxHead + `<Action>redirectUrl</Action><RedirectUrl>https://h.example/a</RedirectUrl>` + poxTail))
	f.Add([]byte(poxHead + `<Action>settings</Action>` + poxIMAP + poxTail))
	f.Fuzz(func(t *testing.T, body []byte) {
		o := outlookPOX("text/xml", body, alice)
		if u, err := url.Parse(o.redirectURL); o.redirectURL != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
			t.Fatalf("Outlook follows a non-https RedirectUrl %q", o.redirectURL)
		}
		if o.redirectURL == "" && o.redirectAddr == "" {
			checkVerdict(t, "Outlook", o.verdict, true, 1)
		}
		tb := thunderbirdPOX("text/xml", body, alice)
		if tb.redirectAddr == "" {
			checkVerdict(t, "Thunderbird", tb.verdict, false, 1)
		}
		dc := deltaChatPOX(body, alice)
		if dc.redirectURL == "" || dc.ok {
			checkVerdict(t, "Delta Chat", dc.verdict, true, 1)
		}
		if u, v := mobileSyncAnswer(body); v.ok == (v.reason != "") || (u != "" && !v.ok) {
			t.Fatalf("mobileSyncAnswer inconsistent: %q %+v", u, v)
		}
		// Thunderbird reads names as written: a document it accepts
		// has an Autodiscover root without prefix.
		if tb.ok && !bytes.Contains(body, []byte("<Autodiscover")) {
			t.Fatal("Thunderbird accepted a document without an unprefixed Autodiscover element")
		}
	})
}

func FuzzAppleProfile(f *testing.F) {
	p, _ := provision.Demo().Lookup("example.com")
	addr, _ := provision.ParseAddress("alice@example.com")
	if b, err := provision.Demo().Mobileconfig(nil, p, "example.com", &addr, provision.Options{}); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>PayloadType</key><string>Configuration</string></dict></plist>`))
	f.Add([]byte{0x30, 0x80, 0x06, 0x09})
	now := time.Now()
	f.Fuzz(func(t *testing.T, body []byte) {
		v := appleProfile(appleContentType, body, nil, now)
		checkVerdict(t, "Apple", v, true, 1)
		if v.ok && v.incoming.Protocol != "imap" && v.incoming.Protocol != "pop3" {
			t.Fatalf("Apple incoming protocol %q", v.incoming.Protocol)
		}
	})
}
