package handlers

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"howett.net/plist"

	"mailautoconf/internal/i18n"
	"mailautoconf/internal/testutil/golden"
	"mailautoconf/provision"
)

// hostileAcceptLanguage is 10 KB of what no browser sends: markup, quotes,
// control bytes, broken UTF-8 and tags that do not parse. It must get the
// English page, a 200, and nothing of itself in the answer.
var hostileAcceptLanguage = strings.Repeat(`<script>alert("xss")</script>;q=\x00zz-ÿ-`+"\xff\xfe"+`,de-x-;q=2,`, 10<<10/48)[:10<<10]

// TestPageNegotiation goes through the router, Host header set, for each
// way a request names its language: the header with quality values, a
// regional variant, an unknown language, ?lang= against the header, and
// a hostile header.
func TestPageNegotiation(t *testing.T) {
	e := newTestEcho(t, pageCatalog(t))
	tests := []struct {
		name, query, header string
		want                i18n.Lang
		contains            string
	}{
		{"no header", "", "", i18n.English, "Set up your e-mail"},
		{"German", "", "de", i18n.German, "E-Mail einrichten"},
		{"de-AT falls back to de", "", "de-AT", i18n.German, "Geben Sie Ihre E-Mail-Adresse ein"},
		{"quality values", "", "fr;q=0.3, it;q=0.9, en;q=0.1", i18n.Italian, "Configura la tua posta"},
		{"quality beats order", "", "en;q=0.1, pl;q=0.8", i18n.Polish, "Skonfiguruj swoją pocztę"},
		{"pt-BR is Portuguese", "", "pt-BR,pt;q=0.9", i18n.Portuguese, "Configure o seu e-mail"},
		{"unknown language", "", "ja,zh;q=0.8", i18n.English, "Set up your e-mail"},
		{"lang beats the header", "lang=nl", "de", i18n.Dutch, "Je e-mail instellen"},
		{"lang in any case", "LANG=Es", "de", i18n.Spanish, "Configura tu correo"},
		{"unknown lang leaves the header", "lang=ja", "fr", i18n.French, "Configurer votre messagerie"},
		{"Swiss German reads German", "", "gsw", i18n.German, "E-Mail einrichten"},
		{"hostile lang", "lang=%3Cscript%3E", "", i18n.English, "Set up your e-mail"},
		{"hostile header", "", hostileAcceptLanguage, i18n.English, "Set up your e-mail"},
		{"wildcard", "", "*", i18n.English, "Set up your e-mail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := "http://setup.test/"
			if tc.query != "" {
				target += "?" + tc.query
			}
			var hdr []string
			if tc.header != "" {
				hdr = []string{"Accept-Language", tc.header}
			}
			rec := serve(e, http.MethodGet, target, "", hdr...)
			wantStatus(t, rec, http.StatusOK)
			body := rec.Body.Bytes()
			checkPage(t, target, rec, body)
			if want := `<html lang="` + tc.want.Code() + `">`; !bytes.Contains(body, []byte(want)) {
				t.Errorf("page lacks %s", want)
			}
			if !bytes.Contains(body, []byte(tc.contains)) {
				t.Errorf("page lacks %q", tc.contains)
			}
			if got := rec.Header().Get("Vary"); got != "Accept-Language" {
				t.Errorf("Vary = %q, want Accept-Language", got)
			}
			for _, echo := range []string{"script", "xss", "zz-"} {
				if bytes.Contains(bytes.ToLower(body), []byte(echo)) {
					t.Errorf("page echoes %q", echo)
				}
			}
		})
	}
}

// TestPageLanguageGolden keeps the page in other languages as golden
// files: the result in German (by the header) and French (by ?lang=,
// whose links then carry lang=fr), the unknown-domain problem in Polish.
func TestPageLanguageGolden(t *testing.T) {
	e := newTestEcho(t, pageCatalog(t))
	for _, tc := range []struct {
		golden, target, header string
		status                 int
		contains               []string
	}{
		{"result-imap-de.html", "http://setup.test/?email=fred@example.com", "de-DE,de;q=0.9", 200, []string{
			`href="/mobileconfig?email=fred%40example.com"`, "Eingehende E-Mails (IMAP)", `<td class="mono">imap.<wbr>example.<wbr>com<wbr></td>`,
			"<td>993</td>", "Kalender (CalDAV): ",
		}},
		{"result-pop3-fr.html", "http://setup.test/?email=fred@example.com&protocol=pop3&lang=fr", "de", 200, []string{
			`href="/mobileconfig?email=fred%40example.com&amp;lang=fr&amp;protocol=pop3"`, `src="/qr.png?email=fred%40example.com&amp;lang=fr&amp;protocol=pop3"`,
			`<input type="hidden" name="lang" value="fr">`, `href="/?lang=fr"`, "<td>995</td>", "Outlook</strong>\u00a0: ",
		}},
		{"unknown-domain-pl.html", "http://setup.test/?email=ann@unknown.example", "pl", 404, []string{
			"Nie mamy ustawień dla adresów w domenie unknown.example", `value="ann@unknown.example"`,
		}},
		{"bad-address-it.html", "http://setup.test/?email=ann.example.com", "it", 400, []string{
			"Non riusciamo a leggere questo indirizzo email (manca la @)",
		}},
	} {
		rec := serve(e, http.MethodGet, tc.target, "", "Accept-Language", tc.header)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.target, rec.Code, tc.status)
		}
		body := rec.Body.Bytes()
		checkPage(t, tc.target, rec, body)
		for _, c := range tc.contains {
			if !bytes.Contains(body, []byte(c)) {
				t.Errorf("%s: page lacks %q", tc.golden, c)
			}
		}
		golden.Check(t, "page/"+tc.golden, body)
	}
}

// TestAddressReason holds addressReason to provision.ParseAddress's
// messages: each kind of mistake gets the sentence that names it.
func TestAddressReason(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"fred.example.com", "reason.no-at"},
		{"@example.com", "reason.local"},
		{".fred@example.com", "reason.local"},
		{"fr<ed@example.com", "reason.local"},
		{strings.Repeat("a", 65) + "@example.com", "reason.local"},
		{"fred@", "reason.domain"},
		{"fred@localhost", "reason.domain"},
		{"fred@exa mple.com", "reason.domain"},
		{"fred@" + strings.Repeat("a", 64) + ".com", "reason.domain"},
	} {
		_, err := provision.ParseAddress(tc.addr)
		if err == nil {
			t.Fatalf("ParseAddress(%q) accepted", tc.addr)
		}
		if got := addressReason(err); got != tc.want {
			t.Errorf("addressReason(%v) = %s, want %s", err, got, tc.want)
		}
	}
}

// TestProfileLanguage: the profile speaks the language of ?lang= or the
// header, says Vary: Accept-Language, keeps English byte for byte as the
// renderer's default, and keeps its identifiers in every language. The
// profile cache keeps the languages apart.
func TestProfileLanguage(t *testing.T) {
	e := newTestEcho(t, nil)
	const target = "http://example.com/mobileconfig?email=fred%40example.com"
	addr := provision.Address{Local: "fred", Domain: "example.com"}
	demo := provision.Demo()
	p, _ := demo.Lookup("example.com")
	en := rendered(t)(demo.Mobileconfig(nil, p, "example.com", &addr, provision.Options{}))
	ids := func(doc []byte) string {
		var top struct {
			PayloadUUID, PayloadIdentifier string
			PayloadContent                 []struct{ PayloadUUID, PayloadIdentifier string }
		}
		if _, err := plist.Unmarshal(doc, &top); err != nil {
			t.Fatalf("profile does not parse: %v", err)
		}
		s := top.PayloadUUID + " " + top.PayloadIdentifier
		for _, c := range top.PayloadContent {
			s += " " + c.PayloadUUID + " " + c.PayloadIdentifier
		}
		return s
	}
	for _, tc := range []struct {
		name, query, header string
		want                i18n.Lang
	}{
		{"no header", "", "", i18n.English},
		{"German", "", "de-AT,de;q=0.9", i18n.German},
		{"English again, after German (cache)", "", "en-GB", i18n.English},
		{"lang beats the header", "&lang=pl", "de", i18n.Polish},
		{"apple route", "", "nl", i18n.Dutch},
		{"hostile header", "", hostileAcceptLanguage, i18n.English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := target + tc.query
			if tc.name == "apple route" {
				u = "http://example.com/apple?emailaddress=fred%40example.com"
			}
			var hdr []string
			if tc.header != "" {
				hdr = []string{"Accept-Language", tc.header}
			}
			rec := serve(e, http.MethodGet, u, "", hdr...)
			wantStatus(t, rec, http.StatusOK)
			if got := rec.Header().Get("Vary"); got != "Accept-Language" {
				t.Errorf("Vary = %q", got)
			}
			body := rec.Body.Bytes()
			want := rendered(t)(demo.Mobileconfig(nil, p, "example.com", &addr, provision.Options{Profile: provision.ProfileOptions{Language: tc.want}}))
			if !bytes.Equal(body, want) {
				t.Errorf("profile is not the %s one:\n%s", tc.want, body)
			}
			if tc.want == i18n.English && !bytes.Equal(body, en) {
				t.Error("English profile differs from the default rendering")
			}
			if ids(body) != ids(en) {
				t.Errorf("%s profile's identifiers differ from English's", tc.want)
			}
			if bytes.Contains(body, []byte("<script")) || bytes.Contains(body, []byte("xss")) {
				t.Error("profile echoes the header")
			}
		})
	}
	// Two ?lang= are one too many, as for every parameter of a profile.
	rec := serve(e, http.MethodGet, target+"&lang=de&lang=fr", "")
	wantStatus(t, rec, http.StatusBadRequest)
}

// TestPersonErrorPages: a browser that meets a 404 or 400 on the page's,
// a profile's or an unknown path gets a page in its language; a client
// (no text/html in Accept) and every client path get the plain text they
// always got. Neither shows the path or the query.
func TestPersonErrorPages(t *testing.T) {
	e := newTestEcho(t, nil)
	const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, tc := range []struct {
		name, method, target, accept, lang string
		status                             int
		page                               bool
		contains                           string
	}{
		{"unknown path", "GET", "http://example.com/wp-login.php%3Cscript%3E", browserAccept, "de", 404, true, "Seite nicht gefunden"},
		{"unknown path, English", "GET", "http://example.com/nothing/here", browserAccept, "", 404, true, "Page not found"},
		{"bad profile link", "GET", "http://example.com/mobileconfig?email=%3Cb%3Efred", browserAccept, "fr", 400, true, "Lien non valide"},
		{"profile without address", "GET", "http://example.com/mobileconfig", browserAccept, "es-MX", 400, true, "Enlace no válido"},
		{"static file", "GET", "http://example.com/static/nothing.css", browserAccept, "it", 404, true, "Pagina non trovata"},
		{"hostile header", "GET", "http://example.com/nothing", browserAccept, hostileAcceptLanguage, 404, true, "Page not found"},
		{"client on an unknown path", "GET", "http://example.com/nothing", "*/*", "de", 404, false, "not found"},
		{"client without Accept", "GET", "http://example.com/mobileconfig", "", "de", 400, false, "email missing"},
		{"HEAD", "HEAD", "http://example.com/nothing", browserAccept, "de", 404, false, ""},
		{"autoconfig path", "GET", "http://autoconfig.unknown.example/mail/config-v1.1.xml", browserAccept, "de", 404, false, "domain not served"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.accept != "" {
				hdr = append(hdr, "Accept", tc.accept)
			}
			if tc.lang != "" {
				hdr = append(hdr, "Accept-Language", tc.lang)
			}
			rec := serve(e, tc.method, tc.target, "", hdr...)
			wantStatus(t, rec, tc.status)
			body := rec.Body.Bytes()
			ct := rec.Header().Get("Content-Type")
			if tc.page {
				checkPage(t, tc.target, rec, body)
				if got := rec.Header().Get("Vary"); got != "Accept, Accept-Language" {
					t.Errorf("Vary = %q", got)
				}
				if !bytes.Contains(body, []byte(`href="/"`)) {
					t.Error("error page has no link to the form")
				}
			} else if tc.method == "GET" && !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want plain text", ct)
			}
			if !bytes.Contains(body, []byte(tc.contains)) {
				t.Errorf("body lacks %q: %.300s", tc.contains, body)
			}
			for _, echo := range []string{"wp-login", "script", "<b>", "nothing", "xss"} {
				if bytes.Contains(body, []byte(echo)) {
					t.Errorf("body echoes %q", echo)
				}
			}
		})
	}
	rec := serve(e, http.MethodGet, "http://example.com/nothing", "", "Accept", browserAccept, "Accept-Language", "pl")
	golden.Check(t, "page/error-404-pl.html", rec.Body.Bytes())
}
