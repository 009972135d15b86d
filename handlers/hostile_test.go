package handlers

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	qr "github.com/piglig/go-qr"

	"mailautoconf/provision"
)

// hostileCatalog serves the demo domains, an IDN domain, and a hoster
// with redirects and ActiveSync: every kind of answer.
const hostileCatalog = `providers:
  - id: example.com
    display_name: Example Mail
    domains: [example.com, example.net]
    tls_names: [setup.example.com]
    incoming:
      - {protocol: imap, host: imap.example.com, port: 993, security: tls}
      - {protocol: pop3, host: pop.example.com, port: 995, security: tls}
    outgoing: [{protocol: smtp, host: smtp.example.com, port: 465, security: tls}]
    caldav: https://dav.example.com/
    carddav: https://dav.example.com/
  - id: mail.xn--bcher-kva.example
    domains: [bücher.example]
    incoming: [{protocol: imap, host: imap.bücher.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.bücher.example, port: 465, security: tls}]
  - id: hoster.example
    domains: [hoster.example, old.example, moved.example]
    incoming: [{protocol: imap, host: mail.hoster.example, port: 143, security: starttls, username: "%EMAILLOCALPART%"}]
    outgoing: [{protocol: smtp, host: mail.hoster.example, port: 587, security: starttls}]
    activesync: https://mail.hoster.example/Microsoft-Server-ActiveSync
    domain_redirects:
      old.example: {redirect_address: "%EMAILLOCALPART%@hoster.example"}
      moved.example: {redirect_url: "https://autodiscover.hoster.example/autodiscover/autodiscover.xml"}
`

// hostileRouters are the routers the corpus runs against: without and
// with a public host, and the plain-HTTP listener's rules.
func hostileRouters(t testing.TB) map[string]http.Handler {
	t.Helper()
	cat, err := provision.Parse(provision.Source{Name: "hostile.yaml", Data: []byte(hostileCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	plain := newTestConfig(t, cat)
	plain.PublicHost = "public.example"
	plain.Plain = &PlainRules{PublicHost: "public.example", HasCertificate: func(host string) bool {
		return host == "example.com" || host == "autoconfig.example.com"
	}}
	public := newTestConfig(t, cat)
	public.PublicHost = "public.example"
	return map[string]http.Handler{
		"no public host": New(newTestConfig(t, cat)).Router(),
		"public host":    New(public).Router(),
		"plain listener": New(plain).PlainRouter(),
	}
}

// pox is an Autodiscover request for email; body, when given, replaces
// the whole document.
func pox(email string) string {
	return `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>` +
		email + `</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
}

const (
	tbURL   = "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress="
	jsonURL = "http://autodiscover.example.com/autodiscover/autodiscover.json?Protocol=AutodiscoverV1&Email="
	adURL   = "http://autodiscover.example.com/autodiscover/autodiscover.xml"
	mcURL   = "http://example.com/mobileconfig?email="
	pageURL = "http://example.com/?email="
)

type hostileCase struct {
	name, method, target, body string
	host                       string // replaces the target's host when set
	header                     []string
	// want is the status; 0 accepts any 4xx. Routers that differ on
	// purpose (the plain listener's redirect) are given in wantOn.
	want   int
	wantOn map[string]int
	// check looks at a 200 body beyond its being well-formed.
	check func(t *testing.T, body []byte)
}

// is600 checks for the Autodiscover error document of a bad request.
func is600(t *testing.T, body []byte) {
	if !bytes.Contains(body, []byte("<ErrorCode>600</ErrorCode>")) {
		t.Errorf("not the 600 error document:\n%s", body)
	}
}

// noHost fails when a body names the hostile host.
func noHost(host string) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		if bytes.Contains(bytes.ToLower(body), []byte(host)) {
			t.Errorf("the answer names the request's host %s:\n%s", host, body)
		}
	}
}

// jsonURLIs checks an Autodiscover v2 answer's Url.
func jsonURLIs(want ...string) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		var a struct {
			URL string `json:"Url"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if a.URL == w {
				return
			}
		}
		t.Errorf("Url = %q, want one of %q", a.URL, want)
	}
}

var hostileCases = []hostileCase{
	// Path traversal, in the ISPDB route's domain and elsewhere.
	{name: "traversal in /v1.1/", method: "GET", target: "http://svc.example/v1.1/../../etc/passwd"},
	{name: "escaped traversal in /v1.1/", method: "GET", target: "http://svc.example/v1.1/..%2f..%2fetc%2fpasswd"},
	{name: "dot-dot domain", method: "GET", target: "http://svc.example/v1.1/..", want: 400},
	{name: "escaped dots domain", method: "GET", target: "http://svc.example/v1.1/%2e%2e", want: 400},
	{name: "backslash traversal", method: "GET", target: "http://svc.example/v1.1/..%5c..%5cetc", want: 400},
	{name: "NUL in domain", method: "GET", target: "http://svc.example/v1.1/example.com%00.evil", want: 400},
	{name: "domain with slash and dot", method: "GET", target: "http://svc.example/v1.1/example.com/."},
	{name: "static traversal", method: "GET", target: "http://svc.example/static/../routes.go", want: 404},
	{name: "static escaped traversal", method: "GET", target: "http://svc.example/static/..%2froutes.go", want: 404},
	{name: "static unknown file", method: "GET", target: "http://svc.example/static/page.html", want: 404},
	{name: "well-known traversal", method: "GET", target: "http://example.com/.well-known/autoconfig/../../../etc/passwd", want: 404},
	{name: "ISPDB served", method: "GET", target: "http://svc.example/v1.1/example.net", want: 200},

	// Header injection through the profile's file name.
	{name: "CRLF in profile address", method: "GET", target: mcURL + "a%0d%0aSet-Cookie:%20x=1@example.com", want: 400},
	{name: "quote in profile address", method: "GET", target: mcURL + "a%22;%20filename=x.exe@example.com", want: 400},
	{name: "CRLF after profile domain", method: "GET", target: mcURL + "a@example.com%0d%0aX-Injected:%201", want: 400},
	{name: "apostrophe profile", method: "GET", target: mcURL + "o'neil@example.com", want: 200},
	{name: "IDN profile", method: "GET", target: mcURL + "j%C3%BCrgen@b%C3%BCcher.example", want: 200},
	{name: "profile name with CRLF", method: "GET", target: mcURL + "a@example.com&name=x%0d%0aSet-Cookie:%201", want: 400},

	// Hosts that try to get their name into an answer.
	{name: "autodiscover.json on a foreign Host", method: "GET", target: jsonURL + "alice@example.com", host: "evil.example",
		want: 200, check: jsonURLIs("https://autodiscover.example.com/autodiscover/autodiscover.xml", "https://public.example/autodiscover/autodiscover.xml"),
		wantOn: map[string]int{"plain listener": 302}},
	{name: "autodiscover.json path form on a foreign Host", method: "GET", target: "http://x/autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=AutodiscoverV1", host: "autodiscover.evil.example",
		want: 200, check: jsonURLIs("https://autodiscover.example.com/autodiscover/autodiscover.xml", "https://public.example/autodiscover/autodiscover.xml"),
		wantOn: map[string]int{"plain listener": 302}},
	{name: "autodiscover.json Host with userinfo", method: "GET", target: jsonURL + "alice@example.com", host: "example.com@evil.example",
		want: 200, check: noHost("evil.example"), wantOn: map[string]int{"plain listener": 302}},
	{name: "Autodiscover GET on a foreign Host", method: "GET", target: adURL, host: "autodiscover.evil.example", want: 404, wantOn: map[string]int{"plain listener": 302}},
	{name: "Autodiscover POST on a foreign Host", method: "POST", target: adURL, host: "evil.example", body: pox("alice@example.com"),
		want: 200, check: noHost("evil.example"), wantOn: map[string]int{"plain listener": 302}},
	{name: "Autodiscover POST with CRLF Host", method: "POST", target: adURL, host: "example.com\r\nX: y", body: pox("alice@example.com"),
		want: 200, wantOn: map[string]int{"plain listener": 302}},
	{name: "page on a foreign Host", method: "GET", target: pageURL + "alice@example.com", host: "evil.example", want: 200, check: noHost("evil.example")},
	{name: "page on a served Host redirects to HTTPS only on the plain listener", method: "GET", target: "http://example.com/", want: 200,
		wantOn: map[string]int{"plain listener": 302}},
	// Proxy headers a client forges: the service takes its hosts from
	// the catalog and its settings, never from these.
	{name: "autodiscover.json with X-Forwarded-Host", method: "GET", target: jsonURL + "alice@example.com",
		header: []string{"X-Forwarded-Host", "evil.example", "Forwarded", "host=evil.example"},
		want:   200, check: noHost("evil.example"), wantOn: map[string]int{"plain listener": 302}},
	{name: "page with X-Forwarded-Host", method: "GET", target: pageURL + "alice@example.com",
		header: []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "javascript"}, want: 200, check: noHost("evil.example"),
		wantOn: map[string]int{"plain listener": 302}},
	{name: "POX POST with a forged request id and credentials", method: "POST", target: adURL, body: pox("alice@example.com"),
		header: []string{"X-Request-Id", "a\r\nX-Evil: 1", "Authorization", "Basic YWxpY2VAZXhhbXBsZS5jb206c2VjcmV0"},
		want:   200, check: noHost("secret"), wantOn: map[string]int{"plain listener": 302}},
	{name: "page on an uncertified Host is served", method: "GET", target: "http://evil.example/", want: 200},
	{name: "autoconfig on a foreign Host", method: "GET", target: "http://autoconfig.evil.example/mail/config-v1.1.xml", want: 404},
	{name: "autoconfig on an IP Host", method: "GET", target: "http://[::1]:8080/mail/config-v1.1.xml", want: 400},
	{name: "autoconfig on an empty Host", method: "GET", target: "http://example.com/mail/config-v1.1.xml", host: "-", want: 400},
	// PACC: the domain is the Host's, nothing of the request is echoed.
	{name: "PACC on a served Host", method: "GET", target: "http://ua-auto-config.example.com/.well-known/user-agent-configuration.json?emailaddress=x@evil.example", want: 200, check: noHost("evil.example")},
	{name: "PACC in another letter case", method: "GET", target: "http://ua-auto-config.example.com/.Well-Known/User-Agent-Configuration.JSON", want: 200},
	{name: "PACC on a foreign Host", method: "GET", target: "http://ua-auto-config.evil.example/.well-known/user-agent-configuration.json", want: 404},
	{name: "PACC on an IP Host", method: "GET", target: "http://[::1]:8443/.well-known/user-agent-configuration.json", want: 400},
	{name: "PACC on an empty Host", method: "GET", target: "http://example.com/.well-known/user-agent-configuration.json", host: "-", want: 400},
	{name: "PACC with CRLF Host", method: "GET", target: "http://example.com/.well-known/user-agent-configuration.json", host: "example.com\r\nX: y", want: 400},
	{name: "PACC Host with userinfo", method: "GET", target: "http://example.com/.well-known/user-agent-configuration.json", host: "example.com@evil.example", want: 400},
	{name: "PACC of a STARTTLS-only provider", method: "GET", target: "http://ua-auto-config.hoster.example/.well-known/user-agent-configuration.json", want: 404},
	{name: "PACC by POST", method: "POST", target: "http://ua-auto-config.example.com/.well-known/user-agent-configuration.json", body: "{}", want: 405},
	{name: "PACC path with a trailing slash", method: "GET", target: "http://ua-auto-config.example.com/.well-known/user-agent-configuration.json/", want: 404},

	// Addresses.
	{name: "quoted local part", method: "GET", target: tbURL + "%22a%22@example.com", want: 400},
	{name: "quote inside", method: "GET", target: tbURL + "a%22b@example.com", want: 400},
	{name: "angle brackets", method: "GET", target: tbURL + "%3Ca%3E@example.com", want: 400},
	{name: "angle bracket after domain", method: "GET", target: tbURL + "a@example.com%3E", want: 400},
	{name: "placeholder local part", method: "GET", target: tbURL + "%25EMAILADDRESS%25@example.com", want: 400},
	{name: "percent in local part", method: "GET", target: tbURL + "a%25b@example.com", want: 400},
	{name: "newline in local part", method: "GET", target: tbURL + "a%0Ab@example.com", want: 400},
	{name: "NUL in local part", method: "GET", target: tbURL + "a%00b@example.com", want: 400},
	{name: "ampersand in local part", method: "GET", target: tbURL + "a%26b@example.com", want: 400},
	{name: "space", method: "GET", target: tbURL + "a%20b@example.com", want: 400},
	{name: "overlong label", method: "GET", target: tbURL + "a@" + strings.Repeat("a", 64) + ".com", want: 400},
	{name: "overlong domain", method: "GET", target: tbURL + "a@" + strings.Repeat("abcdefghi.", 26) + "com", want: 400},
	{name: "overlong local part", method: "GET", target: tbURL + strings.Repeat("l", 65) + "@example.com", want: 400},
	{name: "empty label", method: "GET", target: tbURL + "a@example..com", want: 400},
	{name: "leading dot", method: "GET", target: tbURL + "a@.example.com", want: 400},
	{name: "hyphen label", method: "GET", target: tbURL + "a@-example.com", want: 400},
	{name: "underscore", method: "GET", target: tbURL + "a@exa_mple.com", want: 400},
	{name: "IP literal", method: "GET", target: tbURL + "a@[127.0.0.1]", want: 400},
	{name: "all-digit TLD", method: "GET", target: tbURL + "a@1.2.3.4", want: 400},
	{name: "two at signs", method: "GET", target: tbURL + "a@b@example.com", want: 400},
	{name: "no at sign", method: "GET", target: tbURL + "example.com", want: 400},
	{name: "empty punycode label", method: "GET", target: tbURL + "a@xn--.example", want: 400},
	{name: "invalid punycode", method: "GET", target: tbURL + "a@xn--zz-.example", want: 400},
	{name: "punycode of ASCII", method: "GET", target: tbURL + "a@xn--example-.com", want: 400},
	{name: "A-label of a served IDN", method: "GET", target: tbURL + "a@XN--BCHER-KVA.EXAMPLE", want: 200},
	{name: "U-label, decomposed", method: "GET", target: tbURL + "a@bu%CC%88cher.example", want: 200},
	{name: "fullwidth domain maps to a served one", method: "GET", target: tbURL + "a@%EF%BD%85xample.com", want: 200},
	{name: "bidi domain", method: "GET", target: tbURL + "a@%D7%90%D7%91.example", want: 404},
	{name: "zero-width joiner", method: "GET", target: tbURL + "a@exa%E2%80%8Dmple.com", want: 400},
	{name: "invalid UTF-8 address", method: "GET", target: tbURL + "%FF@example.com", want: 400},
	{name: "invalid UTF-8 domain", method: "GET", target: tbURL + "a@ex%C3ample.com", want: 400},
	{name: "address twice", method: "GET", target: tbURL + "a@example.com&EmailAddress=b@example.net", want: 400},
	{name: "invalid escape ignored", method: "GET", target: "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=%zz", want: 200},
	{name: "semicolon separator", method: "GET", target: "http://autoconfig.example.com/mail/config-v1.1.xml?x=1;emailaddress=a%22@example.com", want: 200},
	{name: "apostrophe address", method: "GET", target: tbURL + "o'neil@example.com", want: 200},
	{name: "huge query", method: "GET", target: "http://autoconfig.example.com/mail/config-v1.1.xml?" + strings.Repeat("x=1&", 25000) + "emailaddress=a@example.com", want: 200},
	{name: "huge address", method: "GET", target: tbURL + strings.Repeat("a", 100000) + "@example.com", want: 400},
	{name: "JSON address with markup", method: "GET", target: jsonURL + "%3Cscript%3E@example.com", want: 400, wantOn: map[string]int{"plain listener": 302}},
	{name: "JSON unknown protocol with markup", method: "GET", target: "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=a@example.com&Protocol=%3Cscript%3E", want: 400, wantOn: map[string]int{"plain listener": 302}},
	{name: "page address with markup", method: "GET", target: pageURL + "%3Cscript%3Ealert(1)%3C/script%3E@example.com", want: 400, wantOn: map[string]int{"plain listener": 302}},
	{name: "page unknown domain", method: "GET", target: pageURL + "a@unknown.example", want: 404, wantOn: map[string]int{"plain listener": 302}},
	{name: "QR of a bad address", method: "GET", target: "http://example.com/qr.png?email=a%0d@example.com", want: 400},

	// Autodiscover request documents.
	{name: "DOCTYPE with entities", method: "POST", target: adURL, want: 200,
		body:  `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>` + pox("&lol2;@example.com")[len(`<?xml version="1.0" encoding="utf-8"?>`):],
		check: noHost("lollol"), wantOn: map[string]int{"plain listener": 302}},
	{name: "external entity", method: "POST", target: adURL, want: 200,
		body:  `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + pox("&x;")[len(`<?xml version="1.0" encoding="utf-8"?>`):],
		check: noHost("root:"), wantOn: map[string]int{"plain listener": 302}},
	{name: "undefined entity", method: "POST", target: adURL, body: pox("&x;@example.com"), want: 200, wantOn: map[string]int{"plain listener": 302}},
	{name: "DOCTYPE on a foreign Host", method: "POST", target: adURL, host: "evil.example", body: `<!DOCTYPE a><a/>`, want: 400, wantOn: map[string]int{"plain listener": 302}},
	{name: "invalid UTF-8 document", method: "POST", target: adURL, body: pox("a\xff@example.com"), want: 200, wantOn: map[string]int{"plain listener": 302}},
	{name: "markup in address", method: "POST", target: adURL, body: pox("&lt;a&gt;@example.com"), want: 200, check: is600, wantOn: map[string]int{"plain listener": 302}},
	{name: "apostrophe and IDN in address", method: "POST", target: "http://autodiscover.xn--bcher-kva.example/autodiscover/autodiscover.xml", body: pox("o'neil@bücher.example"), want: 200, wantOn: map[string]int{"plain listener": 302}},
	{name: "deep nesting", method: "POST", target: adURL, body: strings.Repeat("<a>", 2000) + strings.Repeat("</a>", 2000), want: 200, check: is600, wantOn: map[string]int{"plain listener": 302}},
	{name: "body over 16 KiB", method: "POST", target: adURL, body: pox("a@example.com") + strings.Repeat(" ", 17<<10), want: 413, wantOn: map[string]int{"plain listener": 302}},
	{name: "body over 64 KiB", method: "POST", target: adURL, body: strings.Repeat("x", 70<<10), want: 413},
	{name: "redirect address", method: "POST", target: "http://autodiscover.old.example/autodiscover/autodiscover.xml", body: pox("fred@old.example"), want: 200, wantOn: map[string]int{"plain listener": 302}},
	{name: "redirect URL", method: "POST", target: "http://autodiscover.moved.example/autodiscover/autodiscover.xml", body: pox("fred@moved.example"), want: 200, wantOn: map[string]int{"plain listener": 302}},

	// Methods.
	{name: "PROPFIND", method: "PROPFIND", target: tbURL + "a@example.com", want: 405},
	{name: "TRACE", method: "TRACE", target: "http://example.com/", want: 405, wantOn: map[string]int{}},
	{name: "DELETE Autodiscover", method: "DELETE", target: adURL, want: 405, wantOn: map[string]int{"plain listener": 302}},
	{name: "POST autoconfig", method: "POST", target: tbURL + "a@example.com", body: "x", want: 405},
	{name: "PUT profile", method: "PUT", target: mcURL + "a@example.com", body: "x", want: 405},
	{name: "OPTIONS", method: "OPTIONS", target: "http://example.com/healthz", want: 204},
	{name: "lower-case get", method: "get", target: tbURL + "a@example.com", want: 405},
	{name: "unknown path", method: "GET", target: "http://example.com/wp-login.php", want: 404},
	{name: "HEAD autoconfig", method: "HEAD", target: tbURL + "a@example.com", want: 200},
	{name: "HEAD profile", method: "HEAD", target: mcURL + "a@example.com", want: 200},
}

// TestHostileCorpus runs every case through the whole router (routing,
// middleware, the error handler) of each configuration: each answer is
// the status wanted, never a 5xx, and well-formed in its own format.
func TestHostileCorpus(t *testing.T) {
	for name, e := range hostileRouters(t) {
		for _, tc := range hostileCases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
				if tc.host != "" {
					req.Host = tc.host
					if tc.host == "-" {
						req.Host = ""
					}
				}
				if tc.method == "POST" {
					req.Header.Set("Content-Type", "text/xml")
				}
				for i := 0; i+1 < len(tc.header); i += 2 {
					req.Header.Set(tc.header[i], tc.header[i+1])
				}
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				want := tc.want
				if w, ok := tc.wantOn[name]; ok {
					want = w
				}
				if want != 0 && rec.Code != want || want == 0 && (rec.Code < 400 || rec.Code > 499) {
					t.Errorf("status %d, want %d; body %.300q", rec.Code, want, rec.Body.String())
				}
				if err := checkAnswer(tc.method, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
					t.Error(err)
				}
				if rec.Code == http.StatusOK && tc.check != nil && tc.method != "HEAD" {
					tc.check(t, rec.Body.Bytes())
				}
			})
		}
	}
}

// uuidPattern matches the UUIDs a profile derives from its address.
var uuidPattern = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestNoUserEnumeration: for a served domain, every route answers an
// address the same whether or not anyone has it (there is no list of
// users, and there must never be an answer that tells): same status, same
// headers, the same body but for the address itself (and, in a profile,
// the UUIDs derived from it).
func TestNoUserEnumeration(t *testing.T) {
	e := hostileRouters(t)["public host"]
	// postmaster exists everywhere; xq7zk9wv3 nowhere. Same length, so
	// the bodies line up byte for byte once the names are swapped.
	const known, unknown = "postmaster", "xq7zk9wv3p"
	for _, route := range []struct{ method, target, body string }{
		{"GET", tbURL + "%s@example.com", ""},
		{"GET", "http://example.com/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=%s@example.net", ""},
		{"POST", adURL, pox("%s@example.com")},
		{"POST", "http://autodiscover.hoster.example/autodiscover/autodiscover.xml", pox("%s@old.example")},
		{"GET", jsonURL + "%s@example.com", ""},
		{"GET", "http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/%s@example.com?Protocol=AutodiscoverV1", ""},
		{"GET", mcURL + "%s@example.com", ""},
		{"GET", "http://example.com/apple?emailaddress=%s@example.com", ""},
		{"GET", pageURL + "%s@example.com", ""},
		{"GET", "http://example.com/qr.png?email=%s@example.com", ""},
	} {
		answer := func(local string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(route.method, strings.Replace(route.target, "%s", local, 1), strings.NewReader(strings.Replace(route.body, "%s", local, 1)))
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			return rec
		}
		a, b := answer(known), answer(unknown)
		if a.Code != b.Code {
			t.Errorf("%s %s: status %d for %s, %d for %s", route.method, route.target, a.Code, known, b.Code, unknown)
			continue
		}
		if a.Code != http.StatusOK {
			t.Errorf("%s %s: status %d", route.method, route.target, a.Code)
		}
		for k := range a.Header() {
			if a.Header().Get(k) != b.Header().Get(k) && k != "Content-Disposition" {
				t.Errorf("%s %s: header %s: %q vs %q", route.method, route.target, k, a.Header().Get(k), b.Header().Get(k))
			}
		}
		if a.Header().Get("Content-Type") == "image/png" {
			continue // a QR code of each address's own URL
		}
		mask := func(rec *httptest.ResponseRecorder, local string) string {
			return uuidPattern.ReplaceAllString(strings.ReplaceAll(rec.Body.String(), local, "LOCAL"), "UUID")
		}
		if ma, mb := mask(a, known), mask(b, unknown); ma != mb {
			t.Errorf("%s %s: the answers differ beyond the address:\n%s\n---\n%s", route.method, route.target, ma, mb)
		}
	}
}

// TestQROrigin (issue 12, defect 7): a QR code points at the Host asked
// only when that is one of this service's names for the address (the
// public host, the address's domain with or without autoconfig. or
// autodiscover., its provider's tls_names), always https on the default
// port; anything else, IP literals and other providers' names included,
// gets the public host, or autoconfig.<domain> without one. localhost
// keeps its port on plain HTTP without a public host only (a demo).
func TestQROrigin(t *testing.T) {
	routers := hostileRouters(t)
	const (
		public = "https://public.example/mobileconfig?email=alice%40example.com"
		own    = "https://autoconfig.example.com/mobileconfig?email=alice%40example.com"
	)
	for _, tc := range []struct {
		router, host string
		https        bool // over TLS
		proxy        string
		status       int
		want         string
	}{
		// Foreign names, addresses and ports: never in the code.
		{router: "no public host", host: "evil.example", want: own},
		{router: "no public host", host: "autoconfig.evil.example:8080", want: own},
		{router: "no public host", host: "203.0.113.7", want: own},
		{router: "no public host", host: "[2001:db8::1]:8443", https: true, want: own},
		{router: "no public host", host: "127.0.0.1:8080", want: own},
		{router: "public host", host: "evil.example", want: public},
		{router: "public host", host: "evil.example:8443", https: true, want: public},
		{router: "public host", host: "203.0.113.7", https: true, want: public},
		{router: "public host", host: "[::1]:8080", proxy: "https", want: public},
		{router: "plain listener", host: "198.51.100.1:80", want: public},
		// Another provider's names, or another domain of the same
		// provider, are not this address's.
		{router: "no public host", host: "autodiscover.hoster.example:8080", want: own},
		{router: "public host", host: "autoconfig.hoster.example", https: true, want: public},
		{router: "no public host", host: "autoconfig.example.net", want: own},
		// The address's own names: https, default port, whatever the
		// request's scheme and port.
		{router: "no public host", host: "autoconfig.example.com", want: own},
		{router: "no public host", host: "AutoConfig.Example.com.:8080", want: own},
		{router: "public host", host: "autodiscover.example.com:8443", https: true, want: "https://autodiscover.example.com/mobileconfig?email=alice%40example.com"},
		{router: "public host", host: "example.com", proxy: "https", want: "https://example.com/mobileconfig?email=alice%40example.com"},
		{router: "public host", host: "public.example:8080", want: public},
		{router: "no public host", host: "setup.example.com", want: "https://setup.example.com/mobileconfig?email=alice%40example.com"},
		// localhost: the demo on plain HTTP, nowhere else.
		{router: "no public host", host: "localhost:8080", want: "http://localhost:8080/mobileconfig?email=alice%40example.com"},
		{router: "no public host", host: "localhost", want: "http://localhost/mobileconfig?email=alice%40example.com"},
		{router: "no public host", host: "localhost:8443", https: true, want: own},
		{router: "no public host", host: "localhost:8443", proxy: "https", want: own},
		{router: "public host", host: "localhost:8080", want: public},
		// A Host that is no host name: a 400.
		{router: "no public host", host: "evil.example:0", status: 400},
		{router: "public host", host: "a b", status: 400},
	} {
		if tc.status == 0 {
			tc.status = 200
		}
		req := httptest.NewRequest("GET", "http://x/qr.png?email=alice@example.com", nil)
		req.Host = tc.host
		if tc.https {
			req.TLS = &tls.ConnectionState{}
		}
		if tc.proxy != "" {
			req.Header.Set("X-Forwarded-Proto", tc.proxy)
		}
		rec := httptest.NewRecorder()
		routers[tc.router].ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s, Host %s: status %d, want %d", tc.router, tc.host, rec.Code, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		img, err := png.Decode(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := qr.Decode(img)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s, Host %s: QR code says %q, want %q", tc.router, tc.host, got, tc.want)
		}
	}
}
