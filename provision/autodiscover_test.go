package provision

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"mailautoconf/internal/testutil/golden"
)

// adCatalogFile is the demo provider plus a hoster with ActiveSync and
// every kind of redirect, shared with internal/doctor's reader tests:
//   - hoster.net: no redirect (the empty override turns the provider-wide
//     redirect_url off)
//   - old.example: redirect_address to the same local part at hoster.net
//   - moved.example: the provider-wide redirect_url
//   - shared.example: a literal redirect_address, usable without an address
const adCatalogFile = "testdata/autodiscover-catalog.yaml"

func loadADCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := Load(adCatalogFile)
	if err != nil {
		t.Fatalf("test catalog: %v", err)
	}
	return c
}

// adNow is the fixed response time of error documents in tests.
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
	return poxRequest(nsOutlookRequest, email, nsOutlookResponse)
}

func mobileSyncRequest(email string) string {
	return poxRequest(nsMobileSyncRequest, email, nsMobileSyncResponse)
}

func TestAutodiscoverGolden(t *testing.T) {
	cat := loadADCatalog(t)
	answer := func(host, body string) []byte {
		t.Helper()
		r, err := cat.AnswerAutodiscover(nil, host, []byte(body), adNow, nil)
		if err != nil {
			t.Fatalf("AnswerAutodiscover(%q) = %v", body, err)
		}
		return r.Body
	}
	demo, _ := cat.Lookup("example.com")
	hoster, _ := cat.Lookup("hoster.net")
	for _, tc := range []struct {
		name string
		got  []byte
	}{
		{"settings-post.xml", answer("", outlookRequest("fred@example.com"))},
		{"settings-get.xml", etreeAutodiscover(demo, "example.com", nil)},
		{"settings-post-templates.xml", answer("hoster.net", outlookRequest("fred@hoster.net"))},
		{"settings-get-templates.xml", etreeAutodiscover(hoster, "hoster.net", nil)},
		{"redirect-addr.xml", answer("", outlookRequest("fred@old.example"))},
		{"redirect-addr-literal-get.xml", etreeAutodiscover(hoster, "shared.example", nil)},
		{"redirect-url.xml", answer("", outlookRequest("fred@moved.example"))},
		{"redirect-url-get.xml", etreeAutodiscover(hoster, "moved.example", nil)},
		{"error-600.xml", answer("example.com", "<Autodiscover/>")},
		{"error-601.xml", answer("", poxRequest(nsOutlookRequest, "fred@example.com", "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2099"))},
		{"mobilesync-settings.xml", answer("", mobileSyncRequest("fred@hoster.net"))},
		{"mobilesync-redirect.xml", answer("", mobileSyncRequest("fred@old.example"))},
		{"mobilesync-601.xml", answer("", mobileSyncRequest("fred@example.com"))},
		{"mobilesync-600.xml", answer("example.com", `<Autodiscover xmlns="`+nsMobileSyncRequest+`"><Request/></Autodiscover>`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden.Check(t, "autodiscover/"+tc.name, tc.got)
			checkResponseDoc(t, tc.got)
		})
	}
	for _, tc := range []struct {
		name     string
		p        *Provider
		protocol string
		public   string
	}{
		{"json-v1.json", demo, "AutodiscoverV1", ""},
		{"json-v1-public-host.json", demo, "autodiscoverv1", "autodiscover.hoster.net"},
		{"json-activesync.json", hoster, "activesync", ""},
		{"json-invalid.json", demo, "Ews", ""},
		{"json-invalid-activesync.json", demo, "ActiveSync", ""},
		{"json-invalid-hostile.json", hoster, `<script>"&`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := Address{Local: "fred", Domain: tc.p.Domains[0]}
			got, _ := autodiscoverJSON(tc.p, addr, tc.protocol, tc.public)
			golden.Check(t, "autodiscover/"+tc.name, got)
		})
	}
}

// checkResponseDoc checks what every response document must be: well-formed,
// rooted at Autodiscover in the response namespace, with no namespace
// prefix anywhere (Thunderbird and Delta Chat match names literally).
func checkResponseDoc(t *testing.T, b []byte) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatalf("response is not well-formed: %v\n%s", err, b)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Autodiscover" || root.NamespaceURI() != nsAutodiscoverResponse {
		t.Fatalf("root is not Autodiscover in %s:\n%s", nsAutodiscoverResponse, b)
	}
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		if el.Space != "" {
			t.Errorf("element %s has a namespace prefix", el.FullTag())
		}
		for _, a := range el.Attr {
			if a.Space != "" {
				t.Errorf("attribute %s:%s on %s: no prefixes", a.Space, a.Key, el.Tag)
			}
		}
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	return doc
}

func TestAutodiscoverSettingsFields(t *testing.T) {
	cat := loadADCatalog(t)
	p, _ := cat.Lookup("hoster.net")
	addr := &Address{Local: "fred", Domain: "hoster.net"}
	doc := checkResponseDoc(t, etreeAutodiscover(p, "hoster.net", addr))
	protos := doc.FindElements("/Autodiscover/Response/Account/Protocol")
	// The pop3 server without TLS is never advertised.
	if len(protos) != 3 {
		t.Fatalf("%d Protocol elements, want 3 (imap, smtp, smtp)", len(protos))
	}
	want := []map[string]string{
		{"Type": "IMAP", "Port": "143", "LoginName": "fred", "SPA": "off", "SSL": "on", "Encryption": "TLS", "UsePOPAuth": "", "SMTPLast": ""},
		{"Type": "SMTP", "Port": "587", "LoginName": "fred+hoster.net", "SPA": "on", "SSL": "on", "Encryption": "TLS", "UsePOPAuth": "off", "SMTPLast": "off"},
		{"Type": "SMTP", "Port": "25", "LoginName": "fred", "SPA": "off", "Encryption": "TLS", "UsePOPAuth": "on", "SMTPLast": "on"},
	}
	for i, el := range protos {
		for k, v := range want[i] {
			got := ""
			if c := el.SelectElement(k); c != nil {
				got = c.Text()
			}
			if got != v {
				t.Errorf("Protocol[%d]/%s = %q, want %q", i, k, got, v)
			}
		}
		for _, k := range []string{"Server", "DomainRequired", "AuthRequired", "TTL"} {
			if el.SelectElement(k) == nil {
				t.Errorf("Protocol[%d] has no %s", i, k)
			}
		}
	}
}

// TestParseAutodiscoverRequestBad is the bad-input table of issue 3: each
// is refused quickly, the error wraps ErrBadRequest or ErrBadAddress, and
// its message quotes nothing of the input.
func TestParseAutodiscoverRequestBad(t *testing.T) {
	ok := outlookRequest("fred@example.com")
	bomb := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>` + strings.Replace(ok, "fred@example.com", "&lol3;@example.com", 1)
	doctype := strings.Replace(ok, "<Autodiscover", "<!DOCTYPE Autodiscover SYSTEM \"file:///etc/passwd\">\n<Autodiscover", 1)
	inner := strings.Replace(ok, "<Request>", "<Request><!DOCTYPE x>", 1)
	deep := strings.Repeat("<a>", 50) + strings.Repeat("</a>", 50)
	for _, tc := range []struct {
		name string
		body string
		addr bool // an ErrBadAddress, not ErrBadRequest
	}{
		{"empty", "", false},
		{"white space", "  \n ", false},
		{"not xml", "EMailAddress=fred@example.com", false},
		{"json", `{"EMailAddress":"fred@example.com"}`, false},
		{"truncated", ok[:len(ok)/2], false},
		{"wrong namespace", poxRequest("urn:evil", "fred@example.com", nsOutlookResponse), false},
		{"no namespace", poxRequest("", "fred@example.com", nsOutlookResponse), false},
		{"response namespace", poxRequest(nsOutlookResponse, "fred@example.com", nsOutlookResponse), false},
		{"wrong root", strings.ReplaceAll(ok, "Autodiscover ", "Autodiscovery "), false},
		{"two roots", ok + "<Autodiscover/>", false},
		{"trailing text", ok + "junk", false},
		{"no request", `<Autodiscover xmlns="` + nsOutlookRequest + `"/>`, false},
		{"two requests", strings.Replace(ok, "</Autodiscover>", "<Request/></Autodiscover>", 1), false},
		{"no address", poxRequest(nsOutlookRequest, "", nsOutlookResponse), true},
		{"two addresses", strings.Replace(ok, "<AcceptableResponseSchema>", "<EMailAddress>eve@example.com</EMailAddress><AcceptableResponseSchema>", 1), false},
		{"address with child", strings.Replace(ok, "fred@example.com", "fred<b/>@example.com", 1), false},
		{"two schemas", strings.Replace(ok, "</Request>", "<AcceptableResponseSchema>x</AcceptableResponseSchema></Request>", 1), false},
		{"entity bomb", bomb, false},
		{"doctype", doctype, false},
		{"inner doctype", inner, false},
		{"undefined entity", strings.Replace(ok, "fred", "&xxe;", 1), false},
		{"invalid utf-8", strings.Replace(ok, "fred", "fr\xffed", 1), false},
		{"latin-1 declared", strings.Replace(strings.Replace(ok, "utf-8", "iso-8859-1", 1), "fred", "fr\xe9d", 1), false},
		{"too deep", deep, false},
		{"too large", ok + strings.Repeat(" ", MaxAutodiscoverRequest), false},
		{"address with <", strings.Replace(ok, "fred@", "fr&lt;ed@", 1), true},
		{"address with &", strings.Replace(ok, "fred@", "fr&amp;ed@", 1), true},
		{"address with newline", strings.Replace(ok, "fred@", "fr&#10;ed@", 1), true},
		{"address with quote", strings.Replace(ok, "fred@", "fr&quot;ed@", 1), true},
		{"address without @", strings.Replace(ok, "fred@example.com", "fred", 1), true},
		{"bad domain", strings.Replace(ok, "example.com", "exa mple.com", 1), true},
		{"domain with <", strings.Replace(ok, "example.com", "exa&lt;mple.com", 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := ParseAutodiscoverRequest([]byte(tc.body))
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Errorf("took %v", d)
			}
			want := ErrBadRequest
			if tc.addr {
				want = ErrBadAddress
			}
			if !errors.Is(err, want) {
				t.Fatalf("ParseAutodiscoverRequest = %v, want %v", err, want)
			}
			for _, bad := range []string{"lol", "passwd", "eve", "junk", "evil", "<", "\n"} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error %q quotes input %q", err, bad)
				}
			}
		})
	}
}

func TestParseAutodiscoverRequestGood(t *testing.T) {
	https := func(ns string) string { return strings.Replace(ns, "http://", "https://", 1) }
	for _, tc := range []struct {
		name      string
		body      string
		schema    AutodiscoverSchema
		accept    AutodiscoverSchema
		supported bool
		addr      string
	}{
		{"thunderbird", outlookRequest("fred@example.com"), OutlookSchema, OutlookSchema, true, "fred@example.com"},
		{"https namespaces", poxRequest(https(nsOutlookRequest), "fred@example.com", https(nsOutlookResponse)), OutlookSchema, OutlookSchema, true, "fred@example.com"},
		{"mobilesync", mobileSyncRequest("Fred@Example.COM"), MobileSyncSchema, MobileSyncSchema, true, "Fred@example.com"},
		{"idn", outlookRequest("fred@bücher.example"), OutlookSchema, OutlookSchema, true, "fred@xn--bcher-kva.example"},
		{"spaces around address", outlookRequest("\n  fred@example.com  \n"), OutlookSchema, OutlookSchema, true, "fred@example.com"},
		{"EmailAddress spelling", strings.ReplaceAll(outlookRequest("fred@example.com"), "EMailAddress", "EmailAddress"), OutlookSchema, OutlookSchema, true, "fred@example.com"},
		{"prefixed", `<a:Autodiscover xmlns:a="` + nsOutlookRequest + `"><a:Request><a:EMailAddress>fred@example.com</a:EMailAddress></a:Request></a:Autodiscover>`, OutlookSchema, OutlookSchema, true, "fred@example.com"},
		{"no schema", `<Autodiscover xmlns="` + nsMobileSyncRequest + `"><Request><EMailAddress>fred@example.com</EMailAddress></Request></Autodiscover>`, MobileSyncSchema, MobileSyncSchema, true, "fred@example.com"},
		{"cdata and comment", `<Autodiscover xmlns="` + nsOutlookRequest + `"><!-- hi --><Request><EMailAddress><![CDATA[fred@]]>example.com</EMailAddress><LegacyDN>/o=x</LegacyDN></Request></Autodiscover>`, OutlookSchema, OutlookSchema, true, "fred@example.com"},
		{"unknown schema", poxRequest(nsOutlookRequest, "fred@example.com", "urn:other"), OutlookSchema, OutlookSchema, false, "fred@example.com"},
		{"outlook asking mobilesync", poxRequest(nsOutlookRequest, "fred@example.com", nsMobileSyncResponse), OutlookSchema, MobileSyncSchema, true, "fred@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseAutodiscoverRequest([]byte(tc.body))
			if err != nil {
				t.Fatalf("ParseAutodiscoverRequest = %v", err)
			}
			if req.Schema != tc.schema || req.Supported != tc.supported || (tc.supported && req.Accept != tc.accept) || req.Address.String() != tc.addr {
				t.Errorf("got %+v, want schema %v accept %v supported %v address %s", req, tc.schema, tc.accept, tc.supported, tc.addr)
			}
		})
	}
}

func TestAnswerAutodiscover(t *testing.T) {
	cat := loadADCatalog(t)
	errDoc := func(schema AutodiscoverSchema, code int) string {
		return string(AutodiscoverError(schema, code, adNow))
	}
	for _, tc := range []struct {
		name    string
		host    string
		body    string
		err     error  // a returned error, or
		want    string // the whole document, or
		contain string // a part of it
		problem bool
	}{
		{"settings", "", outlookRequest("fred@example.com"), nil, "", "<Action>settings</Action>", false},
		{"settings at host", "example.com", outlookRequest("fred@example.com"), nil, "", "<Action>settings</Action>", false},
		{"other domain same provider", "example.com", outlookRequest("fred@example.net"), nil, "", "<LoginName>fred@example.net</LoginName>", false},
		{"other provider's host", "hoster.net", outlookRequest("fred@example.com"), ErrBadRequest, "", "", false},
		{"unknown domain", "", outlookRequest("fred@unknown.example"), ErrUnknownDomain, "", "", false},
		{"unknown domain at served host", "example.com", outlookRequest("fred@unknown.example"), ErrUnknownDomain, "", "", false},
		{"unparsable at served host", "example.com", "<x/>", nil, errDoc(OutlookSchema, 600), "", true},
		{"bad address at served host", "example.com", outlookRequest("fr<ed@example.com"), nil, errDoc(OutlookSchema, 600), "", true},
		{"unparsable mobilesync", "hoster.net", `<Autodiscover xmlns="` + nsMobileSyncRequest + `"/>`, nil, errDoc(MobileSyncSchema, 600), "", true},
		{"unparsable elsewhere", "", "<x/>", ErrBadRequest, "", "", false},
		{"empty at served host", "example.com", "", nil, errDoc(OutlookSchema, 600), "", true},
		{"unsupported schema", "", poxRequest(nsOutlookRequest, "fred@example.com", "urn:x"), nil, errDoc(OutlookSchema, 601), "", true},
		{"unsupported schema, unknown domain", "", poxRequest(nsOutlookRequest, "fred@unknown.example", "urn:x"), ErrUnknownDomain, "", "", false},
		{"mobilesync without activesync", "", mobileSyncRequest("fred@example.com"), nil, errDoc(MobileSyncSchema, 601), "", true},
		{"mobilesync", "", mobileSyncRequest("fred@hoster.net"), nil, "", "<Url>https://mail.hoster.net/Microsoft-Server-ActiveSync</Url>", false},
		{"mobilesync ignores redirect_url", "", mobileSyncRequest("fred@moved.example"), nil, "", "<Type>MobileSync</Type>", false},
		{"mobilesync redirect", "", mobileSyncRequest("fred@old.example"), nil, "", "<Redirect>fred@hoster.net</Redirect>", false},
		{"redirectAddr", "old.example", outlookRequest("Fred@old.example"), nil, "", "<RedirectAddr>Fred@hoster.net</RedirectAddr>", false},
		{"redirectUrl", "", outlookRequest("fred@moved.example"), nil, "", "<RedirectUrl>https://autodiscover.hoster.net/autodiscover/autodiscover.xml</RedirectUrl>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := cat.AnswerAutodiscover(nil, tc.host, []byte(tc.body), adNow, nil)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("AnswerAutodiscover = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("AnswerAutodiscover = %v", err)
			}
			if tc.want != "" && string(r.Body) != tc.want {
				t.Errorf("body:\n%s\nwant:\n%s", r.Body, tc.want)
			}
			if !bytes.Contains(r.Body, []byte(tc.contain)) {
				t.Errorf("body lacks %s:\n%s", tc.contain, r.Body)
			}
			if (r.Problem != nil) != tc.problem {
				t.Errorf("Problem = %v, want one: %v", r.Problem, tc.problem)
			}
			if r.Domain == "" {
				t.Error("no Domain for the log")
			}
			if strings.Contains(string(r.Body), "Protocol>") && strings.Contains(string(r.Body), "mobilesync") {
				t.Error("mobilesync answer lists Protocol settings")
			}
			checkResponseDoc(t, r.Body)
		})
	}
}

func TestAutodiscoverJSON(t *testing.T) {
	cat := loadADCatalog(t)
	demo, _ := cat.Lookup("example.com")
	hoster, _ := cat.Lookup("hoster.net")
	fred := Address{Local: "fred", Domain: "example.com"}
	for _, tc := range []struct {
		p        *Provider
		protocol string
		public   string
		ok       bool
		want     string
	}{
		{demo, "AutodiscoverV1", "", true, `{"Protocol":"AutodiscoverV1","Url":"https://autodiscover.example.com/autodiscover/autodiscover.xml"}`},
		{demo, "AUTODISCOVERV1", "", true, `{"Protocol":"AutodiscoverV1","Url":"https://autodiscover.example.com/autodiscover/autodiscover.xml"}`},
		{demo, "autodiscoverv1", "ad.hoster.net", true, `{"Protocol":"AutodiscoverV1","Url":"https://ad.hoster.net/autodiscover/autodiscover.xml"}`},
		{hoster, "activeSync", "", true, `{"Protocol":"ActiveSync","Url":"https://mail.hoster.net/Microsoft-Server-ActiveSync"}`},
		{demo, "ActiveSync", "", false, `{"ErrorCode":"InvalidProtocol","ErrorMessage":"The given protocol value 'ActiveSync' is invalid. Supported values are 'AutodiscoverV1'"}`},
		{hoster, "Rest", "", false, `{"ErrorCode":"InvalidProtocol","ErrorMessage":"The given protocol value 'Rest' is invalid. Supported values are 'AutodiscoverV1, ActiveSync'"}`},
		{demo, "", "", false, `{"ErrorCode":"InvalidProtocol","ErrorMessage":"The given protocol value is invalid. Supported values are 'AutodiscoverV1'"}`},
		{demo, "Ews'<x>", "", false, `{"ErrorCode":"InvalidProtocol","ErrorMessage":"The given protocol value is invalid. Supported values are 'AutodiscoverV1'"}`},
	} {
		got, ok := autodiscoverJSON(tc.p, fred, tc.protocol, tc.public)
		if ok != tc.ok || strings.TrimSpace(string(got)) != tc.want {
			t.Errorf("AutodiscoverJSON(%s, %q, %q) = %s, %v; want %s, %v", tc.p.ID, tc.protocol, tc.public, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAutodiscoverCatalogKeys(t *testing.T) {
	cat := loadADCatalog(t)
	p, _ := cat.Lookup("hoster.net")
	for _, tc := range []struct {
		domain string
		want   Redirect
	}{
		{"hoster.net", Redirect{}},
		{"old.example", Redirect{Address: "%EMAILLOCALPART%@hoster.net"}},
		{"moved.example", Redirect{URL: "https://autodiscover.hoster.net/autodiscover/autodiscover.xml"}},
		{"shared.example", Redirect{Address: "team@hoster.net"}},
	} {
		if got := p.RedirectFor(tc.domain); got != tc.want {
			t.Errorf("RedirectFor(%s) = %+v, want %+v", tc.domain, got, tc.want)
		}
	}
	if p.ActiveSync != "https://mail.hoster.net/Microsoft-Server-ActiveSync" {
		t.Errorf("ActiveSync = %q", p.ActiveSync)
	}
	// The IDN override key and target are stored in A-label form.
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(`providers:
  - id: example.org
    domains: [bücher.example, example.org]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
    domain_redirects:
      BÜCHER.example: {redirect_address: "%EMAILLOCALPART%@bücher.example.net"}
`)})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := c.Lookup("example.org")
	if got := q.RedirectFor("xn--bcher-kva.example"); got.Address != "%EMAILLOCALPART%@xn--bcher-kva.example.net" {
		t.Errorf("IDN redirect = %+v", got)
	}
}

func TestAutodiscoverCatalogErrors(t *testing.T) {
	const head = `providers:
  - id: example.org
    domains: [example.org, other.example]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"http activesync", head + "    activesync: http://as.example.org/\n",
			`c.yaml:6: providers[0].activesync: "http://as.example.org/" must be an https:// URL (clients send the password there)`},
		{"bad activesync", head + "    activesync: not a url\n",
			`c.yaml:6: providers[0].activesync: "not a url" is not an absolute http(s) URL`},
		{"both redirects", head + "    redirect_url: https://x.example/\n    redirect_address: \"%EMAILLOCALPART%@x.example\"\n",
			`c.yaml:7: providers[0].redirect_address: set redirect_address or redirect_url, not both (an Autodiscover answer has one Action)`},
		{"redirect address without @", head + "    redirect_address: x.example\n",
			`c.yaml:6: providers[0].redirect_address: "x.example": not an address template (want %EMAILLOCALPART%@domain or local@domain)`},
		{"redirect address other placeholder", head + "    redirect_address: \"%EMAILADDRESS%@x.example\"\n",
			`c.yaml:6: providers[0].redirect_address: "%EMAILADDRESS%@x.example": the local part is %EMAILLOCALPART% or a literal local part`},
		{"redirect address bad domain", head + "    redirect_address: \"%EMAILLOCALPART%@x\"\n",
			`c.yaml:6: providers[0].redirect_address: "%EMAILLOCALPART%@x": not an address: malformed address: domain needs a dot`},
		{"redirect address not a string", head + "    redirect_address: [a]\n",
			`c.yaml:6: providers[0].redirect_address: must be a string, not a list`},
		{"http redirect url", head + "    redirect_url: http://x.example/autodiscover/autodiscover.xml\n",
			`c.yaml:6: providers[0].redirect_url: "http://x.example/autodiscover/autodiscover.xml" must be an https:// URL (clients send the password there)`},
		{"overrides not a mapping", head + "    domain_redirects: [example.org]\n",
			`c.yaml:6: providers[0].domain_redirects: must be a mapping of domain to {redirect_address or redirect_url}, not a list`},
		{"override of a foreign domain", head + "    domain_redirects:\n      elsewhere.example: {}\n",
			`c.yaml:7: providers[0].domain_redirects.elsewhere.example: elsewhere.example is not one of this provider's domains`},
		{"override twice", head + "    domain_redirects:\n      example.org: {}\n      EXAMPLE.org: {}\n",
			`c.yaml:8: providers[0].domain_redirects.EXAMPLE.org: example.org is given twice`},
		{"override unknown key", head + "    domain_redirects:\n      example.org: {redirect: x}\n",
			`c.yaml:7: providers[0].domain_redirects.example.org.redirect: unknown key (known: redirect_address, redirect_url)`},
		{"redirect to itself", head + "    domain_redirects:\n      example.org: {redirect_address: \"%EMAILLOCALPART%@example.org\"}\n",
			`c.yaml:2: provider example.org.redirect_address: example.org redirects to itself`},
		{"redirect chain", head + "    redirect_url: https://x.example/autodiscover/autodiscover.xml\n    domain_redirects:\n      example.org: {redirect_address: \"%EMAILLOCALPART%@other.example\"}\n",
			`c.yaml:2: provider example.org.redirect_address: example.org redirects to other.example, which redirects again (clients follow few hops)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "c.yaml", Data: []byte(tc.yaml)})
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if err.Error() != tc.want {
				t.Errorf("Parse error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}

// FuzzAutodiscoverRequest feeds request bodies to the POX answer path with
// the demo catalog. Properties: an accepted request yields a well-formed
// response without prefixes whose LoginNames are the address, in the
// requested domain; a refused one at a served host yields exactly the
// fixed 600 document, so nothing of the input is reflected.
func FuzzAutodiscoverRequest(f *testing.F) {
	for _, s := range []string{
		outlookRequest("fred@example.com"),
		outlookRequest("Fred.Q+tag@EXAMPLE.net"),
		mobileSyncRequest("fred@example.com"),
		poxRequest(nsOutlookRequest, "fred@example.com", "urn:x"),
		outlookRequest("fr&lt;ed@example.com"),
		outlookRequest("fred@bücher.example"),
		`<a:Autodiscover xmlns:a="` + nsOutlookRequest + `"><a:Request><a:EMailAddress>x@example.com</a:EMailAddress></a:Request></a:Autodiscover>`,
		`<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`,
		"",
		"\xff",
	} {
		f.Add([]byte(s))
	}
	cat := Demo()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, perr := ParseAutodiscoverRequest(body)
		r, err := cat.AnswerAutodiscover(nil, "example.com", body, adNow, nil)
		if perr != nil {
			if err != nil {
				t.Fatalf("a refused request at a served host must get the 600 document, got %v", err)
			}
			if want := AutodiscoverError(req.Schema, CodeInvalidRequest, adNow); !bytes.Equal(r.Body, want) {
				t.Fatalf("refused request: body is not the fixed 600 document:\n%s", r.Body)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrUnknownDomain) && !errors.Is(err, ErrBadRequest) {
				t.Fatalf("accepted request: unexpected error %v", err)
			}
			return
		}
		doc := checkResponseDoc(t, r.Body)
		if !req.Supported || req.Accept == MobileSyncSchema {
			return
		}
		logins := doc.FindElements("//LoginName")
		if len(logins) == 0 {
			t.Fatalf("settings without LoginName:\n%s", r.Body)
		}
		for _, l := range logins {
			if l.Text() != req.Address.String() || !strings.HasSuffix(l.Text(), "@"+req.Address.Domain) {
				t.Fatalf("LoginName %q is not the address %s", l.Text(), req.Address)
			}
		}
	})
}
