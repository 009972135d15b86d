package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	qr "github.com/piglig/go-qr"
	"golang.org/x/net/html"

	"mailautoconf/internal/testutil/golden"
	"mailautoconf/provision"
)

// pageCatalog is the demo catalog plus the branded IDN provider.
func pageCatalog(t testing.TB) *provision.Catalog {
	t.Helper()
	demo, err := os.ReadFile("../provision/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := provision.Parse(provision.Source{Name: provision.DemoName, Data: demo}, provision.Source{Name: "idn.yaml", Data: []byte(brandedIDNYAML)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var styleRE = regexp.MustCompile(`<style>([^<]*)</style>`)

// checkPage asserts what every page answer has: HTML, a CSP that allows
// no script and exactly the page's one inline style (by its hash), and no
// script anywhere.
func checkPage(t *testing.T, target string, rec interface {
	Header() http.Header
}, body []byte) {
	t.Helper()
	h := rec.Header()
	if ct := h.Get("Content-Type"); ct != "text/html; charset=UTF-8" {
		t.Errorf("%s: Content-Type %q", target, ct)
	}
	csp := h.Get("Content-Security-Policy")
	m := styleRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no inline style", target)
	}
	sum := sha256.Sum256(m[1])
	wantCSP := "default-src 'none'; style-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	if csp != wantCSP {
		t.Errorf("%s: CSP %q, want %q", target, csp, wantCSP)
	}
	if strings.Contains(strings.ToLower(string(body)), "<script") {
		t.Errorf("%s: page holds a script", target)
	}
	for _, hdr := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
		if h.Get(hdr) == "" {
			t.Errorf("%s: no %s", target, hdr)
		}
	}
	if err := onlyTemplateMarkup(body); err != nil {
		t.Errorf("%s: %v", target, err)
	}
}

func TestSetupPage(t *testing.T) {
	e := newTestEcho(t, pageCatalog(t))
	tests := []struct {
		golden, target string
		status         int
		contains       []string
	}{
		{"form.html", "http://setup.test/", 200, []string{`<label for="email">`, "Mail setup", "--accent:#1a5fb4"}},
		{"form-branded.html", "http://autoconfig.xn--bcher-kva.example/", 200, []string{"Bücher &amp; Co &lt;Mail&gt;", "--accent:#ffcc00;--on-accent:#000000"}},
		{"result-imap.html", "http://setup.test/?email=fred@example.com", 200, []string{
			`href="/mobileconfig?email=fred%40example.com"`, `src="/qr.png?email=fred%40example.com"`,
			"Incoming mail (IMAP)</th></tr>\n<tr><th scope=\"row\">Server</th><td class=\"mono\">imap.<wbr>example.<wbr>com<wbr></td></tr>\n<tr><th scope=\"row\">Port</th><td>993</td></tr>\n<tr><th scope=\"row\">Security</th><td>SSL/TLS</td></tr>",
			"Outgoing mail (SMTP)</th></tr>\n<tr><th scope=\"row\">Server</th><td class=\"mono\">smtp.<wbr>example.<wbr>com<wbr></td></tr>\n<tr><th scope=\"row\">Port</th><td>465</td></tr>\n<tr><th scope=\"row\">Security</th><td>SSL/TLS</td></tr>",
			`value="imap" checked`, "IMAP keeps your mail on the server and in sync on every device. POP3 downloads it to one device",
			"type only your address", "Example Mail",
		}},
		{"result-pop3.html", "http://setup.test/?email=fred@example.com&protocol=pop3", 200, []string{
			`href="/mobileconfig?email=fred%40example.com&amp;protocol=pop3"`, `value="pop3" checked`,
			"Incoming mail (POP3)</th></tr>\n<tr><th scope=\"row\">Server</th><td class=\"mono\">pop.<wbr>example.<wbr>com<wbr></td></tr>\n<tr><th scope=\"row\">Port</th><td>995</td></tr>",
		}},
		{"result-starttls-idn.html", "http://setup.test/?email=J%C3%B6rg@B%C3%BCcher.example", 200, []string{
			"Jörg@xn--bcher-kva.example", "<td>STARTTLS</td>", "<td>143</td>", "<td>587</td>", "--accent:#ffcc00",
		}},
		{"unknown-domain.html", "http://setup.test/?email=ann@unknown.example", 404, []string{
			"We have no settings for addresses at unknown.example", `value="ann@unknown.example"`, `aria-invalid="true"`,
		}},
		{"bad-address.html", "http://setup.test/?email=%3Cscript%3Ealert(1)%3C/script%3E%22", 400, []string{
			`value="&lt;script&gt;alert(1)&lt;/script&gt;&#34;"`, "That is not an e-mail address we can read",
		}},
	}
	for _, tc := range tests {
		rec := serve(e, http.MethodGet, tc.target, "")
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.target, rec.Code, tc.status)
		}
		body := rec.Body.Bytes()
		checkPage(t, tc.target, rec, body)
		for _, c := range tc.contains {
			if !bytes.Contains(body, []byte(c)) {
				t.Errorf("%s: page lacks %q", tc.target, c)
			}
		}
		golden.Check(t, "page/"+tc.golden, body)
	}

	// No choice where the provider offers only IMAP.
	rec := serve(e, http.MethodGet, "http://setup.test/?email=a@b%C3%BCcher.example", "")
	if bytes.Contains(rec.Body.Bytes(), []byte(`name="protocol"`)) {
		t.Error("IMAP-only provider: the page offers a protocol choice")
	}
	// protocol=pop3 where there is no POP3: the provider's IMAP.
	rec = serve(e, http.MethodGet, "http://setup.test/?email=a@b%C3%BCcher.example&protocol=pop3", "")
	wantStatus(t, rec, http.StatusOK)
	if !bytes.Contains(rec.Body.Bytes(), []byte("Incoming mail (IMAP)")) {
		t.Error("protocol=pop3 without POP3 did not fall back to IMAP")
	}
	for _, target := range []string{"/?email=a@example.com&protocol=smtp", "/?email=a@example.com&email=b@example.com"} {
		rec := serve(e, http.MethodGet, "http://setup.test"+target, "")
		wantStatus(t, rec, http.StatusBadRequest)
		checkPage(t, target, rec, rec.Body.Bytes())
	}
	rec = serve(e, http.MethodHead, "http://setup.test/?email=fred@example.com", "")
	wantStatus(t, rec, http.StatusOK)
}

func TestQRCode(t *testing.T) {
	e := newTestEcho(t, pageCatalog(t))
	tests := []struct {
		target string
		header []string
		want   string
	}{
		// The address's own names, https on the default port (origin.go).
		{"http://example.com:8080/qr.png?email=fred@example.com", nil, "https://example.com/mobileconfig?email=fred%40example.com"},
		{"http://AutoConfig.Example.com/qr.png?email=fred@example.com&protocol=pop3", []string{"X-Forwarded-Proto", "https"}, "https://autoconfig.example.com/mobileconfig?email=fred%40example.com&protocol=pop3"},
		// An IP literal is not a name of ours: autoconfig.<domain>.
		{"http://127.0.0.1:9/qr.png?email=j%C3%B6rg@b%C3%BCcher.example&protocol=pop3", nil, "https://autoconfig.xn--bcher-kva.example/mobileconfig?email=j%C3%B6rg%40xn--bcher-kva.example"},
		{"http://[::1]:8080/qr.png?email=fred@example.com", []string{"X-Forwarded-Proto", "javascript"}, "https://autoconfig.example.com/mobileconfig?email=fred%40example.com"},
		// The demo on a developer's machine.
		{"http://localhost:8080/qr.png?email=fred@example.com", nil, "http://localhost:8080/mobileconfig?email=fred%40example.com"},
		// A language ?lang= chose goes on, as our code for it; the
		// phone's own Accept-Language otherwise, and never the text sent.
		{"http://example.com/qr.png?email=fred@example.com&lang=de-AT", []string{"Accept-Language", "fr"}, "https://example.com/mobileconfig?email=fred%40example.com&lang=de"},
		{"http://example.com/qr.png?email=fred@example.com&lang=%3Cb%3E", []string{"Accept-Language", "fr"}, "https://example.com/mobileconfig?email=fred%40example.com"},
	}
	for _, tc := range tests {
		rec := serve(e, http.MethodGet, tc.target, "", tc.header...)
		wantStatus(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); ct != "image/png" {
			t.Errorf("%s: Content-Type %q", tc.target, ct)
		}
		img, err := png.Decode(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		got, err := qr.Decode(img)
		if err != nil {
			t.Fatalf("%s: QR code does not decode: %v", tc.target, err)
		}
		if got != tc.want {
			t.Errorf("%s: QR code says %q, want %q", tc.target, got, tc.want)
		}
	}
	for _, tc := range []struct {
		target string
		status int
	}{
		{"http://example.com/qr.png", 400},
		{"http://example.com/qr.png?email=a@unknown.example", 404},
		{"http://example.com/qr.png?email=a@example.com&protocol=x", 400},
	} {
		wantStatus(t, serve(e, http.MethodGet, tc.target, ""), tc.status)
	}
	// A Host that is no host name never reaches a QR code.
	for _, host := range []string{"evil.com/x", "a b", "example.com:99999", "example.com:08080", "exa\"mple.com"} {
		req := "http://example.com/qr.png?email=fred@example.com"
		rec := serveHost(e, req, host)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("Host %q: status %d, want 400", host, rec.Code)
		}
	}
}

func TestStaticFiles(t *testing.T) {
	e := newTestEcho(t, nil)
	for name, ctype := range map[string]string{"/static/page.css": "text/css; charset=utf-8", "/static/icon.svg": "image/svg+xml"} {
		rec := serve(e, http.MethodGet, "http://example.com"+name, "")
		wantStatus(t, rec, http.StatusOK)
		if got := rec.Header().Get("Content-Type"); got != ctype {
			t.Errorf("%s: Content-Type %q, want %q", name, got, ctype)
		}
	}
	for _, name := range []string{"/static/page.html", "/static/", "/static/..%2fpage.go", "/static/nope.css"} {
		rec := serve(e, http.MethodGet, "http://example.com"+name, "")
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", name, rec.Code)
		}
	}
}

func TestInkOn(t *testing.T) {
	tests := []struct{ bg, want string }{
		{"#000000", "#ffffff"}, {"#ffffff", "#000000"}, {"#1a5fb4", "#ffffff"}, {"#ffcc00", "#000000"}, {"#0a5fff", "#ffffff"}, {"#777777", "#000000"},
	}
	for _, tc := range tests {
		if got := inkOn(tc.bg); got != tc.want {
			t.Errorf("inkOn(%s) = %s, want %s", tc.bg, got, tc.want)
		}
	}
}

// FuzzSetupPage sends any query to / and checks the answer: 200, 400 or
// 404, always the page with its CSP, no script, and the address field's
// value escaped.
func FuzzSetupPage(f *testing.F) {
	for _, q := range []string{
		"", "email=fred@example.com", "email=fred@example.com&protocol=pop3", "email=%3Cscript%3E",
		"email=a@unknown.example", "email=%22%3E%3Cimg%20src=x%3E@example.com", "email=a@example.com&protocol=smtp",
		"email=%ff%fe", "email=a@b%C3%BCcher.example",
	} {
		f.Add(q)
	}
	e := newTestEcho(f, pageCatalog(f))
	f.Fuzz(func(t *testing.T, query string) {
		rec := serveQuery(e, "http://setup.test/", query)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound:
		default:
			t.Fatalf("?%s: status %d", query, rec.Code)
		}
		body := rec.Body.Bytes()
		checkPage(t, query, rec, body)
		// checkPage: whatever was typed appears only escaped, every
		// element and attribute is one the template writes.
	})
}

// templateElements are the elements page.html writes.
var templateElements = map[string]bool{}

func init() {
	for _, el := range strings.Fields(`html head meta title link style body header div svg rect path span main h1 h2
		section p a figure img figcaption form input fieldset legend label strong button table caption thead tr
		th td tbody ul li footer wbr nav`) {
		templateElements[el] = true
	}
}

// onlyTemplateMarkup fails on an element the template does not write, on
// an event-handler or style attribute, and on a reference to anything but
// a path of ours.
func onlyTemplateMarkup(body []byte) error {
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() == io.EOF {
				return nil
			}
			return z.Err()
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if !templateElements[tok.Data] {
				return fmt.Errorf("element <%s> not from the template", tok.Data)
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(a.Key, "on") || a.Key == "style" || a.Key == "srcdoc" || a.Key == "formaction" {
					return fmt.Errorf("attribute %s on <%s>", a.Key, tok.Data)
				}
				if (a.Key == "src" || a.Key == "href" || a.Key == "action") && (!strings.HasPrefix(a.Val, "/") || strings.HasPrefix(a.Val, "//")) {
					return fmt.Errorf("%s=%q on <%s>: not a path of ours", a.Key, a.Val, tok.Data)
				}
			}
		}
	}
}

// serveQuery sends a GET of target with a raw query string, as a client
// may send it: unescaped, malformed or not UTF-8.
func serveQuery(e http.Handler, target, rawQuery string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.URL.RawQuery = rawQuery
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// serveHost sends a GET with a Host header of its own.
func serveHost(e http.Handler, target, host string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Host = host
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestWrapPoints(t *testing.T) {
	tests := []struct{ in, want string }{
		{"imap.example.com", "imap.|example.|com"},
		{"fred@example.com", "fred@|example.|com"},
		{"mail", "mail"},
		{"", ""},
		{"a..b@", "a.|.|b@|"},
	}
	for _, tc := range tests {
		if got := strings.Join(wrapPoints(tc.in), "|"); got != tc.want {
			t.Errorf("wrapPoints(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
