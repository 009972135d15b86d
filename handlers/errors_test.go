package handlers

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestErrorsNameTheParameter: a refused value is named by its parameter,
// never repeated, neither in the body (plain text, the setup page, the
// Autodiscover v2 JSON) nor in the info log.
func TestErrorsNameTheParameter(t *testing.T) {
	cfg := newTestConfig(t, nil)
	var log bytes.Buffer
	logTo(&cfg, &log, slog.LevelInfo)
	e := New(cfg).Router()
	v := "%3Cb%3Ezq" + strings.Repeat("x", 4000) + "%3C%2Fb%3E"
	for _, tc := range []struct {
		target string
		status int
	}{
		{"http://example.com/mobileconfig?email=fred@example.com&protocol=" + v, 400},
		{"http://example.com/email.mobileconfig?email=fred@example.com&protocol=" + v, 400},
		{"http://example.com/apple?emailaddress=fred@example.com&protocol=" + v, 400},
		{"http://example.com/qr.png?email=fred@example.com&protocol=" + v, 400},
		{"http://example.com/?email=fred@example.com&protocol=" + v, 400},
		{"http://example.com/mobileconfig?email=fred@example.com&name=" + v, 400},
		{"http://example.com/mobileconfig?email=" + v + "@example.com", 400},
		{"http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=" + v, 400},
		{"http://autodiscover.example.com/autodiscover/autodiscover.json?Email=fred@example.com&Protocol=" + v, 400},
		{"http://autodiscover.example.com/autodiscover/autodiscover.json/v1.0/fred@example.com?Protocol=" + v, 400},
	} {
		log.Reset()
		rec := serve(e, http.MethodGet, tc.target, "")
		if rec.Code != tc.status {
			t.Errorf("%.80s: status %d, want %d", tc.target, rec.Code, tc.status)
		}
		if body := rec.Body.String(); strings.Contains(body, "zq") || strings.Contains(body, "<b>") {
			t.Errorf("%.80s: the answer repeats the value: %.200s", tc.target, body)
		}
		if strings.Contains(log.String(), "zq") {
			t.Errorf("%.80s: the info log repeats the value: %.300s", tc.target, log.String())
		}
		if !strings.Contains(log.String(), "msg=request") {
			t.Errorf("%.80s: no request line: %q", tc.target, log.String())
		}
	}
}

// TestPlainTextNosniff: every plain-text answer, on every route of every
// router (the error paths above all: bad values, unknown domains, wrong
// methods, no route), says X-Content-Type-Options: nosniff, so no browser
// takes an echo for HTML.
func TestPlainTextNosniff(t *testing.T) {
	routers := hostileRouters(t)
	routers["ops"] = New(newTestConfig(t, nil)).OpsRouter()
	plain := 0
	for name, e := range routers {
		var paths []string
		if r, ok := e.(*Router); ok {
			for _, rt := range r.Routes() {
				paths = append(paths, rt.Path)
			}
		} else {
			paths = []string{"/healthz", "/readyz", "/metrics"}
		}
		paths = append(paths, "/nowhere", "/static/", "/v1.1/")
		for _, p := range paths {
			p = strings.NewReplacer(":domain", "nope.invalid", ":file", "nope.css", "*", "nobody@unknown.example").Replace(p)
			for _, q := range []string{
				"",
				"?email=a&emailaddress=a&Email=a&protocol=x&Protocol=x",
				"?email=a@unknown.example&emailaddress=a@unknown.example&Email=a@unknown.example",
				"?email=a@example.com&emailaddress=a@example.com&Email=a@example.com&protocol=smtp&name=%00",
				"?email=a@example.com&email=b@example.com",
			} {
				for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete} {
					req := httptest.NewRequest(method, "http://example.com"+p+q, strings.NewReader("<x/>"))
					rec := httptest.NewRecorder()
					e.ServeHTTP(rec, req)
					if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
						continue
					}
					plain++
					if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
						t.Errorf("%s: %s %s%s: %d text/plain without nosniff (%q)", name, method, p, q, rec.Code, got)
					}
				}
			}
		}
	}
	if plain < 100 {
		t.Errorf("only %d plain-text answers: the test reaches too few error paths", plain)
	}
}
