package handlers

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"mailautoconf/provision"
)

const paccPath = "/.well-known/user-agent-configuration.json"

// TestPACCRoute: the document of the Host's domain, byte for byte the
// renderer's, as JSON; 404 for domains not served and for providers PACC
// cannot describe; 400 for a Host that is no domain; never a document
// otherwise.
func TestPACCRoute(t *testing.T) {
	cat, err := provision.Parse(provision.Source{Name: "hostile.yaml", Data: []byte(hostileCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEcho(t, cat)
	p, _ := cat.Lookup("example.com")
	want := rendered(t)(cat.PACC(nil, p, "example.com", nil, provision.Options{}))
	for _, tc := range []struct {
		method, host string
		status       int
	}{
		{"GET", "ua-auto-config.example.com", 200},
		{"GET", "UA-Auto-Config.Example.NET.:8443", 200},
		{"GET", "example.com", 200},
		{"HEAD", "ua-auto-config.example.com", 200},
		{"GET", "autoconfig.example.com", 404}, // not a name PACC uses, not a served domain
		{"GET", "ua-auto-config.evil.example", 404},
		{"GET", "evil.example", 404},
		// hoster.example's servers are all STARTTLS: no document.
		{"GET", "ua-auto-config.hoster.example", 404},
		{"GET", "ua-auto-config.xn--bcher-kva.example", 200},
		{"GET", "ua-auto-config.bücher.example", 200},
		{"GET", "[::1]:8080", 400},
		{"GET", "127.0.0.1", 400},
		{"GET", "a b", 400},
		{"GET", "ua-auto-config.", 400},
		{"GET", "", 400},
		{"POST", "ua-auto-config.example.com", 405},
	} {
		req := httptest.NewRequest(tc.method, "http://x"+paccPath, nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s Host %q: status %d, want %d; body %.200q", tc.method, tc.host, rec.Code, tc.status, rec.Body.String())
			continue
		}
		if err := checkAnswer(tc.method, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Errorf("%s Host %q: %v", tc.method, tc.host, err)
		}
		if tc.status != 200 {
			if bytes.Contains(rec.Body.Bytes(), []byte("protocols")) {
				t.Errorf("Host %q: a document in a %d: %q", tc.host, rec.Code, rec.Body.String())
			}
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Host %q: Content-Type %q, want application/json", tc.host, ct)
		}
		if tc.method == "HEAD" || tc.host != "ua-auto-config.example.com" && tc.host != "example.com" && tc.host != "UA-Auto-Config.Example.NET.:8443" {
			continue
		}
		if !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("Host %q: body\n%s\nwant the renderer's\n%s", tc.host, rec.Body.Bytes(), want)
		}
		var doc struct {
			Protocols map[string]json.RawMessage `json:"protocols"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.Protocols["imap"] == nil {
			t.Errorf("Host %q: %v, protocols %v", tc.host, err, doc.Protocols)
		}
	}
}
