package handlers

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil/golden"
	"mailautoconf/provision"
)

const (
	nsOutlookReq  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsOutlookResp = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	nsMobileReq   = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	nsMobileResp  = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
)

// adTestCatalog: the demo provider, and a second provider with ActiveSync
// and redirects, so that cross-provider requests can be tested.
const adTestCatalog = `providers:
  - id: example.com
    domains: [example.com, example.net]
    incoming:
      - {protocol: imap, host: imap.example.com, port: 993, security: tls}
      - {protocol: imap, host: imap.example.com, port: 143, security: starttls}
    outgoing:
      - {protocol: smtp, host: smtp.example.com, port: 465, security: tls}
      - {protocol: smtp, host: smtp.example.com, port: 587, security: starttls}
  - id: hoster.net
    domains: [hoster.net, old.example, moved.example]
    incoming: [{protocol: imap, host: mail.hoster.net, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: mail.hoster.net, port: 587, security: starttls}]
    activesync: https://mail.hoster.net/Microsoft-Server-ActiveSync
    domain_redirects:
      old.example: {redirect_address: "%EMAILLOCALPART%@hoster.net"}
      moved.example: {redirect_url: "https://autodiscover.hoster.net/autodiscover/autodiscover.xml"}
`

func adCatalog(t testing.TB) *provision.Catalog {
	t.Helper()
	c, err := provision.Parse(provision.Source{Name: "ad.yaml", Data: []byte(adTestCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func adRequest(ns, email, schema string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="` + ns + `">
  <Request>
    <EMailAddress>` + email + `</EMailAddress>
    <AcceptableResponseSchema>` + schema + `</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
}

func outlookReq(email string) string { return adRequest(nsOutlookReq, email, nsOutlookResp) }

// TestAutodiscoverRoutes: every path spelling and method the clients use.
func TestAutodiscoverRoutes(t *testing.T) {
	e := New(newTestConfig(t, adCatalog(t))).Router()
	xml := "application/xml; charset=utf-8"
	for _, tc := range []struct {
		method, url, body string
		status            int
		ctype, contains   string
	}{
		// POX by POST on both hosts, in the spellings of clients and docs.
		{"POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", outlookReq("fred@example.com"), 200, xml, "<LoginName>fred@example.com</LoginName>"},
		{"POST", "http://autodiscover.example.com/Autodiscover/Autodiscover.xml", outlookReq("fred@example.com"), 200, xml, "<Action>settings</Action>"},
		{"POST", "http://example.com/AUTODISCOVER/AUTODISCOVER.XML", outlookReq("fred@example.com"), 200, xml, "<Action>settings</Action>"},
		{"POST", "http://example.com:8080/autodiscover/Autodiscover.xml", outlookReq("fred@example.com"), 200, xml, "<Action>settings</Action>"},
		// The service's own host (an SRV target) answers any served domain.
		{"POST", "http://autodiscover.hoster.example/autodiscover/autodiscover.xml", outlookReq("fred@example.net"), 200, xml, "<LoginName>fred@example.net</LoginName>"},
		{"POST", "http://127.0.0.1/autodiscover/autodiscover.xml", outlookReq("fred@example.com"), 200, xml, "<Action>settings</Action>"},
		// GET with no body: the domain from the Host header.
		{"GET", "http://autodiscover.example.com/autodiscover/autodiscover.xml", "", 200, xml, "<Server>imap.example.com</Server>"},
		{"GET", "http://example.net/Autodiscover/Autodiscover.xml", "", 200, xml, "<LoginName>%EMAILADDRESS%</LoginName>"},
		{"GET", "http://AUTODISCOVER.EXAMPLE.COM/autodiscover/autodiscover.xml", "", 200, xml, "<Action>settings</Action>"},
		{"HEAD", "http://autodiscover.example.com/autodiscover/autodiscover.xml", "", 200, xml, ""}, // net/http drops the body
		{"GET", "http://autodiscover.moved.example/autodiscover/autodiscover.xml", "", 200, xml, "<Action>redirectUrl</Action>"},
		// mobilesync.
		{"POST", "http://autodiscover.hoster.net/autodiscover/autodiscover.xml", adRequest(nsMobileReq, "fred@hoster.net", nsMobileResp), 200, xml, "<Type>MobileSync</Type>"},
		{"POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", adRequest(nsMobileReq, "fred@example.com", nsMobileResp), 200, xml, "<ErrorCode>601</ErrorCode>"},
		// Redirects.
		{"POST", "http://autodiscover.old.example/autodiscover/autodiscover.xml", outlookReq("fred@old.example"), 200, xml, "<RedirectAddr>fred@hoster.net</RedirectAddr>"},
		{"POST", "http://autodiscover.moved.example/autodiscover/autodiscover.xml", outlookReq("fred@moved.example"), 200, xml, "<RedirectUrl>https://autodiscover.hoster.net/autodiscover/autodiscover.xml</RedirectUrl>"},
		// autodiscover.json, both forms, names and values in any case.
		{"GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=fred@example.com&Protocol=AutodiscoverV1", "", 200, "application/json", `"Url":"https://autodiscover.example.com/autodiscover/autodiscover.xml"`},
		{"GET", "http://autodiscover.example.com/Autodiscover/Autodiscover.json?email=fred%40example.com&protocol=autodiscoverv1&RedirectCount=1", "", 200, "application/json", `"Protocol":"AutodiscoverV1"`},
		{"GET", "http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/fred@example.com?Protocol=AutodiscoverV1", "", 200, "application/json", `"Url":"https://autodiscover.example.com/autodiscover/autodiscover.xml"`},
		{"GET", "http://autodiscover.example.com/AutoDiscover/AutoDiscover.json/V1.0/fred%40example.net?PROTOCOL=AUTODISCOVERV1", "", 200, "application/json", `"Url":"https://autodiscover.example.net/autodiscover/autodiscover.xml"`},
		{"GET", "http://autodiscover.hoster.net/autodiscover/autodiscover.json/v1.0/fred@hoster.net?Protocol=activesync", "", 200, "application/json", `{"Protocol":"ActiveSync","Url":"https://mail.hoster.net/Microsoft-Server-ActiveSync"}`},
		{"GET", "http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/fred@example.com?Protocol=EWS", "", 400, "application/json", `"ErrorCode":"InvalidProtocol"`},
		{"GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=fred@example.com&Protocol=ActiveSync", "", 400, "application/json", `'ActiveSync' is invalid`},
		{"GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=fred@example.com", "", 400, "application/json", `"ErrorCode":"InvalidProtocol"`},
		{"HEAD", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=fred@example.com&Protocol=AutodiscoverV1", "", 200, "application/json", ""},
	} {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			rec := serve(e, tc.method, tc.url, tc.body, "Content-Type", "text/xml; charset=utf-8")
			wantStatus(t, rec, tc.status)
			if got := rec.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body lacks %s:\n%s", tc.contains, rec.Body)
			}
			if rec.Header().Get("WWW-Authenticate") != "" {
				t.Error("asks for credentials")
			}
		})
	}
}

// TestAutodiscoverErrors: every error path through the router.
func TestAutodiscoverErrors(t *testing.T) {
	e := New(newTestConfig(t, adCatalog(t))).Router()
	big := strings.Repeat("x", provision.MaxAutodiscoverRequest+1)
	for _, tc := range []struct {
		name, method, url, body string
		status                  int
		contains                string
	}{
		{"GET unknown host", "GET", "http://autodiscover.unknown.example/autodiscover/autodiscover.xml", "", 404, "domain not served"},
		{"GET IP host", "GET", "http://127.0.0.1:8080/autodiscover/autodiscover.xml", "", 400, ""},
		{"POST unknown domain", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", outlookReq("fred@unknown.example"), 404, "domain not served"},
		{"POST unknown domain, unknown host", "POST", "http://autodiscover.unknown.example/autodiscover/autodiscover.xml", outlookReq("fred@unknown.example"), 404, "domain not served"},
		{"POST other provider's domain", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", outlookReq("fred@hoster.net"), 400, "not served at this host"},
		{"POST garbage at served host", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", "garbage", 200, "<ErrorCode>600</ErrorCode>"},
		{"POST empty at served host", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", "", 200, "<ErrorCode>600</ErrorCode>"},
		{"POST garbage at unknown host", "POST", "http://autodiscover.unknown.example/autodiscover/autodiscover.xml", "garbage", 400, "bad request"},
		{"POST unsupported schema", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", adRequest(nsOutlookReq, "fred@example.com", "urn:x"), 200, "<ErrorCode>601</ErrorCode>"},
		{"POST too large", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", big, 413, "request body too large"},
		{"PUT", "PUT", "http://autodiscover.example.com/autodiscover/autodiscover.xml", outlookReq("fred@example.com"), 405, ""},
		{"DELETE json", "DELETE", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=fred@example.com", "", 405, ""},
		{"json no Email", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Protocol=AutodiscoverV1", "", 400, "no Email parameter"},
		{"json empty Email", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=&Protocol=AutodiscoverV1", "", 400, "no Email parameter"},
		{"json Email twice", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=a@example.com&email=b@example.com&Protocol=AutodiscoverV1", "", 400, "more than once"},
		{"json Protocol twice", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=a@example.com&Protocol=AutodiscoverV1&protocol=EWS", "", 400, "more than once"},
		{"json bad Email", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=%3Cscript%3E&Protocol=AutodiscoverV1", "", 400, "malformed address"},
		{"json unknown domain", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=a@unknown.example&Protocol=AutodiscoverV1", "", 404, "domain not served"},
		{"json path empty", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/?Protocol=AutodiscoverV1", "", 400, "no address"},
		{"json path bad", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/fred?Protocol=AutodiscoverV1", "", 400, "malformed address"},
		{"json path unknown", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/fred@unknown.example?Protocol=AutodiscoverV1", "", 404, "domain not served"},
		{"json path escaped slash", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/a%2Fb@example.com?Protocol=AutodiscoverV1", "", 200, "AutodiscoverV1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(e, tc.method, tc.url, tc.body)
			wantStatus(t, rec, tc.status)
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body lacks %q:\n%s", tc.contains, rec.Body)
			}
			if rec.Header().Get("WWW-Authenticate") != "" {
				t.Error("asks for credentials")
			}
		})
	}
}

// TestAutodiscoverBadInput is the bad-input list of issue 3 through the
// router: each gets a 4xx or the 600 document within milliseconds, and no
// byte of the marker it carries comes back.
func TestAutodiscoverBadInput(t *testing.T) {
	e := New(newTestConfig(t, adCatalog(t))).Router()
	const marker = "ZZMARK"
	ok := outlookReq("fred@example.com")
	bomb := `<?xml version="1.0"?>
<!DOCTYPE Autodiscover [
 <!ENTITY a "ZZMARKZZMARKZZMARKZZMARKZZMARKZZMARKZZMARKZZMARKZZMARKZZMARK">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>` + strings.Replace(ok, "fred@example.com", "&d;@example.com", 1)
	for _, tc := range []struct {
		name    string
		body    io.Reader
		ctLen   bool // send a Content-Length
		status  int
		errCode string // the Autodiscover ErrorCode of a 200 answer
	}{
		{"empty body", strings.NewReader(""), true, 200, "600"},
		{"wrong namespace", strings.NewReader(adRequest("urn:"+marker, "fred@example.com", nsOutlookResp)), true, 200, "600"},
		{"two EMailAddress", strings.NewReader(strings.Replace(ok, "<AcceptableResponseSchema>", "<EMailAddress>"+marker+"@example.com</EMailAddress><AcceptableResponseSchema>", 1)), true, 200, "600"},
		{"address of another provider", strings.NewReader(outlookReq(marker + "@hoster.net")), true, 400, ""},
		{"address of an unserved domain", strings.NewReader(outlookReq(marker + "@unknown.example")), true, 404, ""},
		{"10 MB body", bytes.NewReader(bytes.Repeat([]byte(marker), 10<<20/len(marker))), true, 413, ""},
		{"10 MB body, chunked", io.LimitReader(zeroReader{}, 10<<20), false, 413, ""},
		{"entity bomb", strings.NewReader(bomb), true, 200, "600"},
		{"DOCTYPE", strings.NewReader(`<!DOCTYPE x SYSTEM "http://` + marker + `/">` + ok), true, 200, "600"},
		{"invalid UTF-8", strings.NewReader(strings.Replace(ok, "fred", marker+"\xff\xfe", 1)), true, 200, "600"},
		{"address with <", strings.NewReader(outlookReq(marker + "&lt;script&gt;@example.com")), true, 200, "600"},
		{"address with &", strings.NewReader(outlookReq(marker + "&amp;x@example.com")), true, 200, "600"},
		{"address with newline", strings.NewReader(outlookReq(marker + "&#10;x@example.com")), true, 200, "600"},
		{"raw < in address", strings.NewReader(outlookReq(marker + "<x@example.com")), true, 200, "600"},
		{"schema injection", strings.NewReader(adRequest(nsOutlookReq, "fred@example.com", `"><x xmlns:`+marker+`="`)), true, 200, "600"},
		{"unknown schema", strings.NewReader(adRequest(nsOutlookReq, "fred@example.com", "http://"+marker+"/")), true, 200, "601"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", tc.body)
			if !tc.ctLen {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			start := time.Now()
			e.ServeHTTP(rec, req)
			if d := time.Since(start); d > 250*time.Millisecond {
				t.Errorf("took %v", d)
			}
			wantStatus(t, rec, tc.status)
			body := rec.Body.String()
			if strings.Contains(body, marker) {
				t.Errorf("input reflected:\n%.500s", body)
			}
			if tc.errCode != "" && !strings.Contains(body, "<ErrorCode>"+tc.errCode+"</ErrorCode>") {
				t.Errorf("want ErrorCode %s:\n%s", tc.errCode, body)
			}
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

// TestAutodiscoverPublicHost: autodiscover.json points at
// MAILAUTOCONF_PUBLIC_HOST when set, else at autodiscover.<domain>, and
// never at the request's Host.
func TestAutodiscoverPublicHost(t *testing.T) {
	cfg := newTestConfig(t, nil)
	url := "http://evil.example/autodiscover/autodiscover.json?Email=fred@example.com&Protocol=AutodiscoverV1"
	rec := serve(New(cfg).Router(), "GET", url, "")
	wantStatus(t, rec, 200)
	if want := `"Url":"https://autodiscover.example.com/autodiscover/autodiscover.xml"`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("body %s, want %s", rec.Body, want)
	}
	cfg.PublicHost = "ad.hoster.example"
	rec = serve(New(cfg).Router(), "GET", url, "")
	if want := `"Url":"https://ad.hoster.example/autodiscover/autodiscover.xml"`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("body %s, want %s", rec.Body, want)
	}
}

// TestAutodiscoverNoCredentialsLogged: Thunderbird and Outlook send
// Authorization with the user's password; it appears in no log line, even
// at debug level, and is never demanded.
func TestAutodiscoverNoCredentialsLogged(t *testing.T) {
	var logs bytes.Buffer
	cfg := newTestConfig(t, nil)
	logTo(&cfg, &logs, slog.LevelDebug)
	e := New(cfg).Router()
	const password = "s3cret-PASSWORD"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("fred@example.com:"+password))
	for _, body := range []string{outlookReq("fred@example.com"), "garbage", outlookReq("fred@unknown.example")} {
		rec := serve(e, "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", body, "Authorization", basic)
		if rec.Code == http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("demands authentication: %d", rec.Code)
		}
	}
	serve(e, "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", outlookReq("fred@example.com"), "Authorization", "Bearer "+password)
	if strings.Contains(logs.String(), password) || strings.Contains(logs.String(), basic[6:]) {
		t.Errorf("credentials logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "fred@example.com") {
		t.Errorf("debug log lacks the address (is the log captured?):\n%s", logs.String())
	}
}

// TestAutodiscoverGoldenHTTP keeps whole HTTP answers (status, the headers
// clients look at, body) as golden files in testdata/autodiscover/.
func TestAutodiscoverGoldenHTTP(t *testing.T) {
	e := New(newTestConfig(t, adCatalog(t))).Router()
	for _, tc := range []struct {
		name, method, url, body string
	}{
		{"post-settings", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", outlookReq("fred@example.com")},
		{"get-settings", "GET", "http://example.com/Autodiscover/Autodiscover.xml", ""},
		{"post-redirect-addr", "POST", "http://autodiscover.old.example/autodiscover/autodiscover.xml", outlookReq("fred@old.example")},
		{"post-redirect-url", "POST", "http://autodiscover.moved.example/autodiscover/autodiscover.xml", outlookReq("fred@moved.example")},
		{"post-mobilesync", "POST", "http://autodiscover.hoster.net/autodiscover/autodiscover.xml", adRequest(nsMobileReq, "fred@hoster.net", nsMobileResp)},
		{"post-unknown-domain", "POST", "http://autodiscover.example.com/autodiscover/autodiscover.xml", outlookReq("fred@unknown.example")},
		{"json-query", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=fred@example.com&Protocol=AutodiscoverV1", ""},
		{"json-path", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/fred@example.com?Protocol=AutodiscoverV1", ""},
		{"json-invalid", "GET", "http://autodiscover.example.com/autodiscover/autodiscover.json?Email=fred@example.com&Protocol=Rest", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(e, tc.method, tc.url, tc.body)
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s\n", tc.method, tc.url)
			fmt.Fprintf(&b, "HTTP %d\n", rec.Code)
			var keys []string
			for k := range rec.Header() {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "%s: %s\n", k, rec.Header().Get(k))
			}
			b.WriteString("\n")
			b.WriteString(rec.Body.String())
			golden.Check(t, "autodiscover/"+tc.name+".http", []byte(b.String()))
		})
	}
}
