package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestPlainRules(t *testing.T) {
	cfg := newTestConfig(t, nil)
	withCert := map[string]bool{"autoconfig.example.com": true, "mail.example.com": true}
	cfg.Plain = &PlainRules{PublicHost: "mail.example.com", HasCertificate: func(host string) bool { return withCert[host] }}
	e := New(cfg).PlainRouter()
	const adXML = "https://mail.example.com/autodiscover/autodiscover.xml"
	tests := []struct {
		name, method, target string
		status               int
		location             string
	}{
		// Outlook's HTTP redirect method (docs/autodiscover.md#where-clients-look (step 5, the HTTP redirect method)), any
		// path below /autodiscover/, any case, any method.
		{"autodiscover GET", "GET", "http://autodiscover.example.net/autodiscover/autodiscover.xml", 302, adXML},
		{"autodiscover POST", "POST", "http://autodiscover.example.net/autodiscover/autodiscover.xml", 302, adXML},
		{"autodiscover in another case", "GET", "http://autodiscover.example.net/Autodiscover/Autodiscover.xml", 302, adXML},
		{"autodiscover json", "GET", "http://autodiscover.example.net/autodiscover/autodiscover.json?Email=a@example.net", 302, adXML},
		{"autodiscover, unknown host", "GET", "http://autodiscover.unknown.example/AUTODISCOVER/x", 302, adXML},
		// Autoconfig is answered on plain HTTP (KMail uses nothing else).
		{"autoconfig", "GET", "http://autoconfig.example.net/mail/config-v1.1.xml", 200, ""},
		// The page / goes to HTTPS only where a certificate exists.
		{"page with certificate", "GET", "http://autoconfig.example.com/", 302, "https://autoconfig.example.com/"},
		{"page with certificate, port and case", "HEAD", "http://AutoConfig.Example.COM.:8080/?email=a@example.com", 302, "https://autoconfig.example.com/?email=a@example.com"},
		// Elsewhere the setup page is served on plain HTTP.
		{"page without certificate", "GET", "http://autoconfig.example.net/", 200, ""},
		{"page, no Host", "GET", "http:///", 200, ""},
		{"another path on a certified host", "GET", "http://autoconfig.example.com/healthz", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(e, tt.method, tt.target, "")
			wantStatus(t, rec, tt.status)
			if got := rec.Header().Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if hsts := rec.Header().Get("Strict-Transport-Security"); hsts != "" {
				t.Errorf("Strict-Transport-Security = %q, want none", hsts)
			}
		})
	}
}

func TestPlainRulesWithoutPublicHost(t *testing.T) {
	cfg := newTestConfig(t, nil)
	cfg.Plain = &PlainRules{}
	e := New(cfg).PlainRouter()
	rec := serve(e, "GET", "http://autodiscover.example.net/autodiscover/nothing-here", "")
	if rec.Code == http.StatusFound {
		t.Errorf("with no public host, /autodiscover/ redirected to %q", rec.Header().Get("Location"))
	}
	// No certificate rules: the setup page on plain HTTP.
	wantStatus(t, serve(e, "GET", "http://autoconfig.example.com/", ""), http.StatusOK)
}

func TestReadyz(t *testing.T) {
	cfg := newTestConfig(t, nil)
	e := New(cfg).Router()
	rec := serve(e, "GET", "http://svc.example/readyz", "")
	wantStatus(t, rec, http.StatusOK)
	if body := rec.Body.String(); !strings.HasPrefix(body, "ready\ncatalog: ") {
		t.Errorf("body = %q", body)
	}

	cfg.Ready = []Readiness{
		ReadinessFunc(func() (bool, []string) { return true, []string{"certificates: 1 of 2 names ready", "  x: failed"} }),
	}
	e = New(cfg).Router()
	rec = serve(e, "GET", "http://svc.example/readyz", "")
	wantStatus(t, rec, http.StatusOK)
	if body := rec.Body.String(); !strings.HasSuffix(body, "certificates: 1 of 2 names ready\n  x: failed\n") {
		t.Errorf("body = %q", body)
	}

	cfg.Ready = append(cfg.Ready, ReadinessFunc(func() (bool, []string) { return false, []string{"thing: down"} }))
	e = New(cfg).Router()
	// 503 is what /readyz is for: a load balancer reads it.
	rec = serve(e, "GET", "http://svc.example/readyz", "")
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if body := rec.Body.String(); !strings.HasPrefix(body, "not ready\n") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("body = %q, Cache-Control %q", body, rec.Header().Get("Cache-Control"))
	}

	cfg.Catalog.Store(nil)
	if rec = serve(e, "GET", "http://svc.example/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("with no catalog, status %d, want 503", rec.Code)
	}
}

// FuzzPlainRules: whatever the Host, path and method, the plain listener
// never fails with a 5xx, and a Location it sends is the fixed
// Autodiscover URL or HTTPS on a host it holds a certificate for.
func FuzzPlainRules(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "autoconfig.example.com", "/"},
		{"POST", "autodiscover.example.net", "/Autodiscover/Autodiscover.xml"},
		{"HEAD", "AutoConfig.Example.COM.:8080", "/"},
		{"GET", "evil.example\r\nX: y", "/"},
		{"GET", "autoconfig.example.com/../x", "/"},
		{"GET", "", "/autodiscover"},
	} {
		f.Add(s[0], s[1], s[2], "q=1")
	}
	cfg := newTestConfig(f, nil)
	certified := map[string]bool{"autoconfig.example.com": true}
	cfg.Plain = &PlainRules{PublicHost: "mail.example.com", HasCertificate: func(host string) bool { return certified[host] }}
	e := New(cfg).PlainRouter()
	f.Fuzz(func(t *testing.T, method, host, path, query string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := &http.Request{Method: method, Host: host, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{}, RequestURI: path}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q %q: status %d", method, host, path, rec.Code)
		}
		loc := rec.Header().Get("Location")
		switch {
		case loc == "", loc == "https://mail.example.com/autodiscover/autodiscover.xml":
		case strings.HasPrefix(loc, "https://autoconfig.example.com/"):
		default:
			t.Fatalf("%s %q %q: Location %q", method, host, path, loc)
		}
	})
}
