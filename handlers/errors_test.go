package handlers

import (
	"bytes"
	"log/slog"
	"net/http"
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
