package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"mailautoconf/provision"
)

const idnCatalog = `providers:
  - id: mail.xn--bcher-kva.example
    domains: [bücher.example]
    incoming: [{protocol: imap, host: imap.bücher.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.bücher.example, port: 465, security: tls}]
`

func TestAutoconfigServed(t *testing.T) {
	e := newTestEcho(t, nil)
	tests := []struct {
		name, target, domain, user string
	}{
		{"address", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice@example.com", "example.com", "alice@example.com"},
		{"address percent-encoded as Thunderbird sends it", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com", "example.com", "alice@example.com"},
		{"address and emailmd5 as Evolution sends them", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com&emailmd5=0123", "example.com", "alice@example.com"},
		{"parameter name in another case", "http://autoconfig.example.com/mail/config-v1.1.xml?EmailAddress=alice@example.com", "example.com", "alice@example.com"},
		{"address domain in upper case", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=Alice@EXAMPLE.COM", "example.com", "Alice@example.com"},
		{"address of another served domain than the Host (MX-based lookup)", "http://autoconfig.hoster.example/mail/config-v1.1.xml?emailaddress=bob@example.net", "example.net", "bob@example.net"},
		{"well-known on the bare domain", "http://example.com/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@example.com", "example.com", "alice@example.com"},
		{"path in another case", "http://autoconfig.example.com/MAIL/Config-V1.1.XML?emailaddress=alice@example.com", "example.com", "alice@example.com"},
		{"well-known in another case", "http://example.com/.Well-Known/AutoConfig/Mail/config-v1.1.xml", "example.com", "%EMAILADDRESS%"},
		{"Nine's path", "http://autoconfig.example.com/v1.1/mail/config-v1.1.xml?emailaddress=alice@example.com", "example.com", "alice@example.com"},
		{"Host autoconfig.<domain>, no address (K-9, KMail)", "http://autoconfig.example.net/mail/config-v1.1.xml", "example.net", "%EMAILADDRESS%"},
		{"Host <domain> with port", "http://example.net:8080/mail/config-v1.1.xml", "example.net", "%EMAILADDRESS%"},
		{"Host in upper case with trailing dot", "http://AUTOCONFIG.Example.NET./mail/config-v1.1.xml", "example.net", "%EMAILADDRESS%"},
		{"empty address falls back to Host", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=", "example.com", "%EMAILADDRESS%"},
		{"ISPDB form", "http://svc.example/v1.1/example.net", "example.net", "%EMAILADDRESS%"},
		{"ISPDB form, upper case", "http://svc.example/V1.1/EXAMPLE.NET", "example.net", "%EMAILADDRESS%"},
	}
	demo, _ := provision.Demo().Lookup("example.com")
	var ref *provision.Catalog // renders without templates
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(e, http.MethodGet, tt.target, "")
			wantStatus(t, rec, http.StatusOK)
			if ct := rec.Header().Get("Content-Type"); ct != "application/xml; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=3600" {
				t.Errorf("Cache-Control = %q", cc)
			}
			var addr *provision.Address
			if !strings.HasPrefix(tt.user, "%") {
				a, err := provision.ParseAddress(tt.user)
				if err != nil {
					t.Fatal(err)
				}
				addr = &a
			}
			if want := string(rendered(t)(ref.Autoconfig(nil, demo, tt.domain, addr, provision.Options{}))); rec.Body.String() != want {
				t.Errorf("body:\n%s\nwant:\n%s", rec.Body, want)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromString(rec.Body.String()); err != nil {
				t.Fatal(err)
			}
			if u := doc.FindElement("//incomingServer/username").Text(); u != tt.user {
				t.Errorf("username = %q, want %q", u, tt.user)
			}
		})
	}
}

func TestAutoconfigIDN(t *testing.T) {
	cat, err := provision.Parse(provision.Source{Name: "idn", Data: []byte(idnCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEcho(t, cat)
	for _, target := range []string{
		"http://autoconfig.xn--bcher-kva.example/mail/config-v1.1.xml",
		"http://x.example/mail/config-v1.1.xml?emailaddress=j%C3%B6rg%40b%C3%BCcher.example",
		"http://x.example/mail/config-v1.1.xml?emailaddress=jorg@XN--BCHER-KVA.example",
		"http://x.example/v1.1/b%C3%BCcher.example",
	} {
		rec := serve(e, http.MethodGet, target, "")
		wantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), "<domain>xn--bcher-kva.example</domain>") ||
			!strings.Contains(rec.Body.String(), "<hostname>imap.xn--bcher-kva.example</hostname>") {
			t.Errorf("%s: not served in A-label form:\n%s", target, rec.Body)
		}
	}
}

func TestAutoconfigHead(t *testing.T) {
	e := newTestEcho(t, nil)
	rec := serve(e, http.MethodHead, "http://autoconfig.example.com/mail/config-v1.1.xml", "")
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); ct != "application/xml; charset=utf-8" {
		t.Errorf("HEAD Content-Type = %q", ct)
	}
	rec = serve(e, http.MethodHead, "http://autoconfig.unknown.org/mail/config-v1.1.xml", "")
	wantStatus(t, rec, http.StatusNotFound)
	if rec.Body.Len() != 0 {
		t.Errorf("HEAD 404 has a body: %q", rec.Body)
	}
}

// TestAutoconfigErrors covers every error path: each gets a short plain
// text 4xx, never XML (a 200 of any XML stops Thunderbird looking) and
// never the input echoed back.
func TestAutoconfigErrors(t *testing.T) {
	e := newTestEcho(t, nil)
	long := strings.Repeat("a", 100000)
	tests := []struct {
		name, method, target string
		status               int
		body                 string // "" = only check it is short plain text
	}{
		{"unknown domain by address", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=bob@unknown.org", 404, "domain not served\n"},
		{"unknown domain by Host", "GET", "http://autoconfig.unknown.org/mail/config-v1.1.xml", 404, "domain not served\n"},
		{"unknown domain, well-known", "GET", "http://unknown.org/.well-known/autoconfig/mail/config-v1.1.xml", 404, "domain not served\n"},
		{"unknown domain, ISPDB form", "GET", "http://svc.example/v1.1/unknown.org", 404, "domain not served\n"},
		{"Host is not a domain", "GET", "http://localhost:8080/mail/config-v1.1.xml", 400, "bad request: Host is not a domain name\n"},
		{"Host is an IP address", "GET", "http://127.0.0.1:8080/mail/config-v1.1.xml", 400, "bad request: Host is not a domain name\n"},
		{"no @", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice", 400, "malformed address: no @\n"},
		{"angle bracket", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=%3Cscript%3E@example.com", 400, "malformed address: character U+003C not allowed in local part\n"},
		{"newline", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=a%0D%0AX:1@example.com", 400, "malformed address: character U+000D not allowed in local part\n"},
		{"placeholder in address", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=%25EMAILADDRESS%25@example.com", 400, "malformed address: character U+0025 not allowed in local part\n"},
		{"NUL", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=a%00@example.com", 400, ""},
		{"invalid UTF-8", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=a%FF@example.com", 400, "malformed address: local part is not UTF-8\n"},
		{"bad domain", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=a@exa_mple.com", 400, ""},
		{"address twice", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=a@example.com&emailaddress=b@example.com", 400, "bad request: emailaddress given more than once\n"},
		{"huge address", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=" + long + "@example.com", 400, "malformed address: local part longer than 64 bytes\n"},
		{"huge domain", "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=a@" + long + ".com", 400, ""},
		{"bad ISPDB domain", "GET", "http://svc.example/v1.1/exa_mple.com", 400, ""},
		{"ISPDB traversal", "GET", "http://svc.example/v1.1/..%2F..%2Fetc%2Fpasswd", 400, ""},
		{"ISPDB dot-dot", "GET", "http://svc.example/v1.1/..", 400, ""},
		{"POST", "POST", "http://autoconfig.example.com/mail/config-v1.1.xml", 405, "method not allowed\n"},
		{"DELETE", "DELETE", "http://autoconfig.example.com/mail/config-v1.1.xml", 405, "method not allowed\n"},
		{"unknown path", "GET", "http://autoconfig.example.com/mail/config-v1.2.xml", 404, "not found\n"},
		{"path prefix only", "GET", "http://autoconfig.example.com/v1.1/", 404, "not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(e, tt.method, tt.target, "")
			wantStatus(t, rec, tt.status)
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Errorf("body = %q, want %q", rec.Body, tt.body)
			}
			b := rec.Body.String()
			if strings.Count(b, "\n") != 1 || len(b) > 200 || strings.ContainsAny(b, "<>") {
				t.Errorf("body is not one short safe line: %q", b)
			}
		})
	}
}
