package handlers

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smallstep/pkcs7"
	"howett.net/plist"

	"mailautoconf/internal/profilesign"
	"mailautoconf/internal/testutil/testpki"
	"mailautoconf/provision"
)

func TestProfileRoutes(t *testing.T) {
	e := newTestEcho(t, nil)
	want := func(target string) []byte {
		t.Helper()
		u, _ := url.Parse(target)
		q := u.Query()
		email := q.Get("email")
		if email == "" {
			email = q.Get("emailaddress")
		}
		a, err := provision.ParseAddress(email)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := provision.Demo().Lookup(a.Domain)
		proto, _ := provision.ParseProtocolChoice(q.Get("protocol"))
		var ref *provision.Catalog
		b, err := ref.Mobileconfig(nil, p, a.Domain, &a, provision.Options{Profile: provision.ProfileOptions{Protocol: proto, Name: q.Get("name")}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, target := range []string{
		"http://example.com/mobileconfig?email=fred@example.com",
		"http://autoconfig.example.com/email.mobileconfig?email=fred%40example.com",
		"http://anything.test/apple?emailaddress=fred@example.com",
		"http://example.com/MobileConfig?EMAIL=fred@example.com",
		"http://example.com/mobileconfig?email=fred@example.net&protocol=pop3&name=Fred+%3Cb%3E",
	} {
		rec := serve(e, http.MethodGet, target, "")
		wantStatus(t, rec, http.StatusOK)
		if got := rec.Header().Get("Content-Type"); got != "application/x-apple-aspen-config" {
			t.Errorf("%s: Content-Type %q", target, got)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", target, got)
		}
		if !bytes.Equal(rec.Body.Bytes(), want(strings.Replace(target, "EMAIL", "email", 1))) {
			t.Errorf("%s: body differs from provision.Mobileconfig", target)
		}
	}
	rec := serve(e, http.MethodGet, "http://example.com/mobileconfig?email=fred@example.net", "")
	if got := rec.Header().Get("Content-Disposition"); got != `attachment; filename="example.net.mobileconfig"` {
		t.Errorf("Content-Disposition %q", got)
	}
	// Byte-identical on a second download.
	again := serve(e, http.MethodGet, "http://example.com/mobileconfig?email=fred@example.net", "")
	if !bytes.Equal(rec.Body.Bytes(), again.Body.Bytes()) {
		t.Error("second download differs")
	}
	head := serve(e, http.MethodHead, "http://example.com/mobileconfig?email=fred@example.net", "")
	wantStatus(t, head, http.StatusOK)

	// An IDN domain is named by its A-label: the file name holds only
	// letters, digits, dots and hyphens.
	idn := newTestEcho(t, brandedIDNCatalog(t))
	rec = serve(idn, http.MethodGet, "http://example.com/mobileconfig?email=j%C3%B6rg@B%C3%BCcher.example", "")
	wantStatus(t, rec, http.StatusOK)
	if got := rec.Header().Get("Content-Disposition"); got != `attachment; filename="xn--bcher-kva.example.mobileconfig"` {
		t.Errorf("IDN: Content-Disposition %q", got)
	}
}

// brandedIDNYAML is a provider with an IDN domain, a colour and a display
// name that needs escaping.
const brandedIDNYAML = `providers:
  - id: xn--bcher-kva.example
    display_name: Bücher & Co <Mail>
    color: "#ffcc00"
    domains: [bücher.example]
    incoming: [{protocol: imap, host: imap.xn--bcher-kva.example, port: 143, security: starttls}]
    outgoing: [{protocol: smtp, host: smtp.xn--bcher-kva.example, port: 587, security: starttls}]
`

// brandedIDNCatalog serves bücher.example, with a colour for the page.
func brandedIDNCatalog(t testing.TB) *provision.Catalog {
	t.Helper()
	c, err := provision.Parse(provision.Source{Name: "idn.yaml", Data: []byte(brandedIDNYAML)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestProfileErrors(t *testing.T) {
	e := newTestEcho(t, nil)
	tests := []struct {
		target string
		status int
	}{
		{"/mobileconfig", http.StatusBadRequest},
		{"/mobileconfig?email=", http.StatusBadRequest},
		{"/mobileconfig?email=fred", http.StatusBadRequest},
		{"/mobileconfig?email=%3Cscript%3E@example.com", http.StatusBadRequest},
		{"/mobileconfig?email=a@example.com&email=b@example.com", http.StatusBadRequest},
		{"/mobileconfig?email=a@example.com&protocol=smtp", http.StatusBadRequest},
		{"/mobileconfig?email=a@example.com&protocol=imap&protocol=pop3", http.StatusBadRequest},
		{"/mobileconfig?email=a@example.com&name=%E2%80%AEevil", http.StatusBadRequest},
		{"/mobileconfig?email=a@example.com&name=" + strings.Repeat("x", 101), http.StatusBadRequest},
		{"/mobileconfig?email=a@unknown.example", http.StatusNotFound},
		{"/apple?email=a@example.com", http.StatusBadRequest}, // /apple takes emailaddress
		{"/email.mobileconfig?email=a@unknown.example", http.StatusNotFound},
	}
	for _, tc := range tests {
		rec := serve(e, http.MethodGet, "http://example.com"+tc.target, "")
		if rec.Code != tc.status {
			t.Errorf("GET %s: status %d, want %d (%s)", tc.target, rec.Code, tc.status, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); strings.Contains(ct, "aspen") {
			t.Errorf("GET %s: error served as %s", tc.target, ct)
		}
		if strings.Contains(rec.Body.String(), "<script>") {
			t.Errorf("GET %s: input reflected unescaped: %s", tc.target, rec.Body)
		}
	}
}

// TestProfileUUIDsPerAddress: the second address of a domain gets other
// identifiers and UUIDs than the first.
func TestProfileUUIDsPerAddress(t *testing.T) {
	e := newTestEcho(t, nil)
	ids := func(addr string) map[string]bool {
		rec := serve(e, http.MethodGet, "http://example.com/mobileconfig?email="+addr, "")
		wantStatus(t, rec, http.StatusOK)
		var top map[string]any
		if _, err := plist.Unmarshal(rec.Body.Bytes(), &top); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{top["PayloadUUID"].(string): true, top["PayloadIdentifier"].(string): true}
		for _, p := range top["PayloadContent"].([]any) {
			m := p.(map[string]any)
			out[m["PayloadUUID"].(string)] = true
			out[m["PayloadIdentifier"].(string)] = true
		}
		return out
	}
	first, second := ids("ann@example.com"), ids("bob@example.com")
	if len(first) != 8 {
		t.Errorf("want 8 distinct identifiers and UUIDs (profile and 3 payloads), got %d", len(first))
	}
	for id := range first {
		if second[id] {
			t.Errorf("ann and bob share %s", id)
		}
	}
}

// TestProfileSigned serves a signed profile and checks the SignedData
// carries the very plist the unsigned route serves.
func TestProfileSigned(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t, key)
	s, err := profilesign.New([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := newTestConfig(t, nil)
	cfg.Signer = new(atomic.Pointer[profilesign.Signer])
	cfg.Signer.Store(s)
	e := New(cfg).Router()
	rec := serve(e, http.MethodGet, "http://example.com/mobileconfig?email=fred@example.com", "")
	wantStatus(t, rec, http.StatusOK)
	if got := rec.Header().Get("Content-Type"); got != "application/x-apple-aspen-config" {
		t.Errorf("Content-Type %q", got)
	}
	if again := serve(e, http.MethodGet, "http://example.com/mobileconfig?email=fred@example.com", ""); !bytes.Equal(again.Body.Bytes(), rec.Body.Bytes()) {
		t.Error("second signed download differs")
	}
	p7, err := pkcs7.Parse(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("not a CMS structure: %v", err)
	}
	if err := p7.Verify(); err != nil {
		t.Errorf("signature: %v", err)
	}
	unsigned := serve(newTestEcho(t, nil), http.MethodGet, "http://example.com/mobileconfig?email=fred@example.com", "")
	if !bytes.Equal(p7.Content, unsigned.Body.Bytes()) {
		t.Error("signed content differs from the unsigned profile")
	}
	// A nil signer in the pointer serves unsigned profiles.
	cfg.Signer.Store(nil)
	if rec := serve(e, http.MethodGet, "http://example.com/mobileconfig?email=fred@example.com", ""); !bytes.HasPrefix(rec.Body.Bytes(), []byte("<?xml")) {
		t.Error("nil signer: profile not served unsigned")
	}
}

// FuzzProfileRoute sends any query to /mobileconfig and checks the
// answer: a 200 is a profile (aspen type, a plist whose EmailAddress is
// the parsed address) and everything else a 400 or 404, never a 5xx.
func FuzzProfileRoute(f *testing.F) {
	for _, q := range []string{
		"email=fred@example.com", "email=fred@example.net&protocol=pop3&name=Fred",
		"email=%3Cx%3E@example.com", "email=a@unknown.example", "email=a@example.com&name=%3C%2Fstring%3E",
		"email=", "", "email=a@example.com&email=b@example.com", "email=%ff@example.com", "name=x&protocol=IMAP&email=x@EXAMPLE.com",
	} {
		f.Add(q)
	}
	e := newTestEcho(f, nil)
	f.Fuzz(func(t *testing.T, query string) {
		rec := serveQuery(e, "http://example.com/mobileconfig", query)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusNotFound:
			return
		default:
			t.Fatalf("GET ?%s: status %d: %s", query, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != provision.MobileconfigContentType {
			t.Fatalf("content type %q", ct)
		}
		var top struct {
			PayloadContent []map[string]any
		}
		if _, err := plist.Unmarshal(rec.Body.Bytes(), &top); err != nil {
			t.Fatalf("GET ?%s: not a plist: %v", query, err)
		}
		q, _ := url.ParseQuery(query)
		var email string
		for k, v := range q {
			if strings.EqualFold(k, "email") {
				email = v[0]
			}
		}
		a, err := provision.ParseAddress(email)
		if err != nil {
			t.Fatalf("GET ?%s: 200 for an address ParseAddress refuses", query)
		}
		if got := top.PayloadContent[0]["EmailAddress"]; got != a.String() {
			t.Fatalf("EmailAddress %v, want %s", got, a)
		}
	})
}

// selfSigned is a throwaway profile-signing certificate for key.
func selfSigned(t testing.TB, key crypto.Signer) *x509.Certificate {
	t.Helper()
	return testpki.SelfSigned(t, key, testpki.Cert{CommonName: "profiles.example.com", KeyUsage: x509.KeyUsageDigitalSignature})
}
