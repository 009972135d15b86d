package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// TestMailV1Served: /.well-known/mail-v1.xml, which GNOME Online Accounts
// and SnappyMail ask first (docs/clients/gnome-online-accounts.md), is
// answered on both hosts, in any letter case, with and without the
// address, for GET and HEAD, with the config-v1.1.xml document of the
// address's domain in which the usernames stay placeholders: GNOME drops
// a username that is not exactly a placeholder.
func TestMailV1Served(t *testing.T) {
	e := newTestEcho(t, nil)
	tests := []struct {
		name, target, same string // same: the URL with the same body
	}{
		{"autoconfig host with address", "http://autoconfig.example.com/.well-known/mail-v1.xml?emailaddress=alice%40example.com",
			"http://autoconfig.example.com/mail/config-v1.1.xml"},
		{"bare domain with address", "http://example.com/.well-known/mail-v1.xml?emailaddress=alice@example.com",
			"http://example.com/.well-known/autoconfig/mail/config-v1.1.xml"},
		{"address of another domain than the Host (GNOME's MX fallback)", "http://autoconfig.hoster.example/.well-known/mail-v1.xml?emailaddress=bob@example.net",
			"http://autoconfig.example.net/mail/config-v1.1.xml"},
		{"autoconfig host without address", "http://autoconfig.example.com/.well-known/mail-v1.xml",
			"http://autoconfig.example.com/mail/config-v1.1.xml"},
		{"bare domain without address", "http://example.net/.well-known/mail-v1.xml",
			"http://example.net/.well-known/autoconfig/mail/config-v1.1.xml"},
		{"upper case path", "http://autoconfig.example.com/.WELL-KNOWN/MAIL-V1.XML?emailaddress=alice@example.com",
			"http://autoconfig.example.com/mail/config-v1.1.xml"},
		{"mixed case path and parameter", "http://example.com/.Well-Known/Mail-V1.xml?EmailAddress=bob@example.com",
			"http://example.com/mail/config-v1.1.xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(e, http.MethodGet, tt.target, "")
			wantStatus(t, rec, http.StatusOK)
			want := serve(e, http.MethodGet, tt.same, "")
			wantStatus(t, want, http.StatusOK)
			if rec.Body.String() != want.Body.String() {
				t.Errorf("GET %s:\n%s\nwant the answer of %s:\n%s", tt.target, rec.Body, tt.same, want.Body)
			}
			for _, h := range []string{"Content-Type", "Cache-Control", "Vary"} {
				if got, w := rec.Header().Get(h), want.Header().Get(h); got != w {
					t.Errorf("%s = %q, want %q", h, got, w)
				}
			}
			if !strings.Contains(rec.Body.String(), "<username>%EMAILADDRESS%</username>") || strings.Contains(rec.Body.String(), "@example") {
				t.Errorf("usernames are not the placeholder:\n%s", rec.Body)
			}
			head := serve(e, http.MethodHead, tt.target, "")
			wantStatus(t, head, http.StatusOK)
			if ct := head.Header().Get("Content-Type"); ct != "application/xml; charset=utf-8" {
				t.Errorf("HEAD Content-Type = %q", ct)
			}
		})
	}
}

// TestMailV1Login: a login from a directory (%LOGIN%) has no placeholder,
// so mail-v1.xml fills it in as config-v1.1.xml does, uncached; a
// provider whose usernames are the address keeps the placeholder.
func TestMailV1Login(t *testing.T) {
	e, _ := newLoginTestRouter(t)
	tests := []struct {
		target, user, cache string
	}{
		{"http://autoconfig.login.example/.well-known/mail-v1.xml?emailaddress=anna@login.example", "u1001", "no-store"},
		{"http://autoconfig.plain.example/.well-known/mail-v1.xml?emailaddress=anna@plain.example", "%EMAILADDRESS%", "public, max-age=3600"},
	}
	for _, tt := range tests {
		rec := serve(e, http.MethodGet, tt.target, "")
		wantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), "<username>"+tt.user+"</username>") {
			t.Errorf("GET %s: username is not %q:\n%s", tt.target, tt.user, rec.Body)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != tt.cache {
			t.Errorf("GET %s: Cache-Control = %q, want %q", tt.target, cc, tt.cache)
		}
	}
}

// TestMailV1Errors: the new path fails as config-v1.1.xml does, with a
// short plain-text 4xx.
func TestMailV1Errors(t *testing.T) {
	e := newTestEcho(t, nil)
	tests := []struct {
		name, method, target string
		status               int
		body                 string
	}{
		{"unknown domain by Host", "GET", "http://autoconfig.unknown.org/.well-known/mail-v1.xml", 404, "domain not served\n"},
		{"unknown bare domain", "GET", "http://unknown.org/.well-known/mail-v1.xml", 404, "domain not served\n"},
		{"unknown domain by address", "GET", "http://autoconfig.example.com/.well-known/mail-v1.xml?emailaddress=bob@unknown.org", 404, "domain not served\n"},
		{"HEAD unknown domain", "HEAD", "http://unknown.org/.WELL-KNOWN/mail-v1.xml", 404, ""},
		{"Host is not a domain", "GET", "http://localhost:8080/.well-known/mail-v1.xml", 400, "bad request: Host is not a domain name\n"},
		{"no @", "GET", "http://autoconfig.example.com/.well-known/mail-v1.xml?emailaddress=alice", 400, "malformed address: no @\n"},
		{"angle bracket", "GET", "http://example.com/.well-known/mail-v1.xml?emailaddress=%3Cscript%3E@example.com", 400, "malformed address: character U+003C not allowed in local part\n"},
		{"address twice", "GET", "http://example.com/.well-known/Mail-v1.xml?emailaddress=a@example.com&emailaddress=b@example.com", 400, "bad request: emailaddress given more than once\n"},
		{"POST", "POST", "http://autoconfig.example.com/.well-known/mail-v1.xml", 405, "method not allowed\n"},
		{"other version", "GET", "http://autoconfig.example.com/.well-known/mail-v2.xml", 404, "not found\n"},
		{"under autoconfig/", "GET", "http://autoconfig.example.com/.well-known/autoconfig/mail-v1.xml", 404, "not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(e, tt.method, tt.target, "")
			wantStatus(t, rec, tt.status)
			if tt.method == "HEAD" {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD has a body: %q", rec.Body)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if rec.Body.String() != tt.body {
				t.Errorf("body = %q, want %q", rec.Body, tt.body)
			}
		})
	}
}

// TestMailV1Format: the route counts as autoconfig in the metrics.
func TestMailV1Format(t *testing.T) {
	if got := routeFormat("/.well-known/mail-v1.xml"); got != FormatAutoconfig {
		t.Errorf("routeFormat(/.well-known/mail-v1.xml) = %q, want %q", got, FormatAutoconfig)
	}
}
