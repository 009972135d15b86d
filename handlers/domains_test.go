package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/dnswatch"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/internal/testutil/golden"
	"mailautoconf/provision"
)

const watchHost = "mail.hoster.test"

// watchCatalog serves domains with one provider.
func watchCatalog(t testing.TB, domains ...string) *provision.Catalog {
	t.Helper()
	cat, err := provision.Parse(provision.Source{Name: "catalog.yaml", Data: []byte(fmt.Sprintf(`providers:
  - id: hoster.test
    display_name: Hoster
    domains: [%s]
    incoming:
      - {protocol: imap, host: imap.hoster.test, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.hoster.test, port: 465, security: tls}
`, strings.Join(domains, ", ")))})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// watchedConfig returns a Config for cat with a DNS watch that has swept
// once against a loopback DNS server: ok.test points at us, drift.test's
// autoconfig leads elsewhere and its PACC digest is a hostile string,
// missing.test publishes nothing. Certificates are ready for the names
// that point at us and wait for DNS for the others.
func watchedConfig(t *testing.T, cat *provision.Catalog) Config {
	t.Helper()
	z := dnstest.Zone{}
	z.Add(
		watchHost+". 300 IN A 192.0.2.1",
		"autoconfig.ok.test. 300 IN CNAME "+watchHost+".",
		"autodiscover.ok.test. 300 IN CNAME "+watchHost+".",
		"autoconfig.drift.test. 300 IN CNAME elsewhere.test.",
		"elsewhere.test. 300 IN A 198.51.100.7",
		"autodiscover.drift.test. 300 IN CNAME "+watchHost+".",
		`_ua-auto-config.drift.test. 300 IN TXT "v=UAAC1; <script>alert(1)</script>"`,
	)
	cfg := newTestConfig(t, cat)
	w, err := dnswatch.New(dnswatch.Config{
		Interval:  time.Hour,
		Resolvers: []string{dnstest.ServeZone(t, z, nil)},
		Target:    dnsrecords.Target{Host: watchHost},
		Catalog:   cfg.Catalog.Load,
		Now:       func() time.Time { return time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Sweep(t.Context())
	cfg.DNSWatch = w
	cfg.CertificateStates = func(names []string) map[string]string {
		out := map[string]string{}
		for _, n := range names {
			if w.Gate(n) {
				out[n] = "ready"
			} else {
				out[n] = "waiting for DNS"
			}
		}
		return out
	}
	return cfg
}

func TestDomainsRoutes(t *testing.T) {
	cfg := watchedConfig(t, watchCatalog(t, "ok.test", "drift.test", "missing.test"))
	ops := New(cfg).OpsRouter()
	cases := []struct {
		target, golden string
		status         int
		contentType    string
		has            []string
	}{
		{"/domains", "domains/page.html", 200, "text/html", nil},
		{"/domains?state=missing", "", 200, "text/html", []string{"missing.test", "1 domains missing"}},
		{"/domains?state=ok&page=1", "", 200, "text/html", []string{"ok.test"}},
		{"/domains?page=2", "", 200, "text/html", []string{"No domain", "previous"}},
		{"/domains?state=nope", "", 400, "text/plain", []string{"state: want one of ok, missing, drift, conflict, unchecked"}},
		{"/domains?state=ok&state=drift", "", 400, "text/plain", []string{"state:"}},
		{"/domains?page=0", "", 400, "text/plain", []string{"page:"}},
		{"/domains?page=x", "", 400, "text/plain", []string{"page:"}},
		{"/domains?page=99999999999999999999", "", 400, "text/plain", []string{"page:"}},
		{"/api/v1/domains", "domains/list.json", 200, "application/json", nil},
		{"/api/v1/domains?state=drift", "", 200, "application/json", []string{`"total": 1`, `"domain": "drift.test"`}},
		{"/api/v1/domains?state=", "", 200, "application/json", []string{`"total": 3`}},
		{"/api/v1/domains?page=5", "", 200, "application/json", []string{`"total": 3`, `"domains": []`}},
		{"/api/v1/domains?state=%3Cb%3E", "", 400, "application/json", []string{`"error": "state: want one of`}},
		{"/api/v1/domains?page=-1", "", 400, "application/json", []string{`"error": "page:`}},
		{"/api/v1/domains/drift.test", "domains/drift.test.json", 200, "application/json", nil},
		{"/api/v1/domains/OK.Test", "", 200, "application/json", []string{`"domain": "ok.test"`, `"state": "ok"`}},
		{"/api/v1/domains/unknown.test", "", 404, "application/json", []string{`"error": "domain not served"`}},
		{"/api/v1/domains/%3Cscript%3E", "", 404, "application/json", []string{`"error": "domain not served"`}},
	}
	for _, c := range cases {
		rec := serve(ops, http.MethodGet, "http://127.0.0.1:9090"+c.target, "")
		wantStatus(t, rec, c.status)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, c.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.target, ct, c.contentType)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", c.target, cc)
		}
		body := rec.Body.String()
		for _, s := range c.has {
			if !strings.Contains(body, s) {
				t.Errorf("GET %s: body lacks %q:\n%.2000s", c.target, s, body)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "<b>") {
			t.Errorf("GET %s: a value from DNS or the request written unescaped:\n%s", c.target, body)
		}
		if strings.HasPrefix(c.contentType, "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Errorf("GET %s: not JSON: %s", c.target, body)
		}
		if c.golden != "" {
			golden.Check(t, c.golden, rec.Body.Bytes())
		}
	}
	if rec := serve(ops, http.MethodHead, "http://127.0.0.1:9090/domains", ""); rec.Code != 200 {
		t.Errorf("HEAD /domains: %d", rec.Code)
	}
}

// TestDomainsPagination: 100 rows a page, the total on every page, links
// to the pages around.
func TestDomainsPagination(t *testing.T) {
	var names []string
	for i := range 150 {
		names = append(names, fmt.Sprintf("d%03d.test", i))
	}
	cfg := newTestConfig(t, watchCatalog(t, names...))
	w, err := dnswatch.New(dnswatch.Config{Interval: time.Hour, Resolvers: []string{"127.0.0.1:1"}, Catalog: cfg.Catalog.Load})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DNSWatch = w // never swept: every domain unchecked
	ops := New(cfg).OpsRouter()
	for _, c := range []struct {
		page, rows int
		first      string
	}{{1, 100, "d000.test"}, {2, 50, "d100.test"}, {3, 0, ""}} {
		rec := serve(ops, http.MethodGet, fmt.Sprintf("http://127.0.0.1:9090/api/v1/domains?state=unchecked&page=%d", c.page), "")
		wantStatus(t, rec, 200)
		var got domainsList
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Total != 150 || len(got.Domains) != c.rows || c.rows > 0 && got.Domains[0].Domain.Domain != c.first {
			t.Errorf("page %d: %d rows of %d, want %d from %s", c.page, len(got.Domains), got.Total, c.rows, c.first)
		}
	}
	page := serve(ops, http.MethodGet, "http://127.0.0.1:9090/domains?page=2&state=unchecked", "").Body.String()
	for _, s := range []string{`href="?page=1&amp;state=unchecked"`, "d149.test"} {
		if !strings.Contains(page, s) {
			t.Errorf("/domains?page=2 lacks %q", s)
		}
	}
	if strings.Contains(page, "page=3") {
		t.Error("/domains?page=2 of 150 links to a page 3")
	}
}

func TestDomainsToken(t *testing.T) {
	cfg := watchedConfig(t, watchCatalog(t, "ok.test"))
	cfg.AdminToken = "s3cret-token"
	ops := New(cfg).OpsRouter()
	for _, target := range []string{"/domains", "/api/v1/domains", "/api/v1/domains/ok.test"} {
		for _, c := range []struct {
			auth      string
			status    int
			challenge string
		}{
			{"", 401, `Bearer realm="mailautoconf"`},
			{"Bearer wrong", 401, `Bearer realm="mailautoconf", error="invalid_token"`},
			{"Bearer s3cret-toke", 401, `Bearer realm="mailautoconf", error="invalid_token"`},
			{"Basic czNjcmV0LXRva2Vu", 401, `Bearer realm="mailautoconf", error="invalid_token"`},
			{"Bearer s3cret-token", 200, ""},
			{"bearer s3cret-token", 200, ""},
		} {
			var header []string
			if c.auth != "" {
				header = []string{"Authorization", c.auth}
			}
			rec := serve(ops, http.MethodGet, "http://127.0.0.1:9090"+target, "", header...)
			if rec.Code != c.status || rec.Header().Get("WWW-Authenticate") != c.challenge {
				t.Errorf("GET %s with %q: %d, WWW-Authenticate %q; want %d, %q", target, c.auth, rec.Code, rec.Header().Get("WWW-Authenticate"), c.status, c.challenge)
			}
			if c.status == 401 && strings.Contains(rec.Body.String(), "ok.test") {
				t.Errorf("GET %s with %q: 401 shows a domain", target, c.auth)
			}
		}
	}
	// The probes never ask for the token.
	for _, target := range []string{"/healthz", "/readyz"} {
		wantStatus(t, serve(ops, http.MethodGet, "http://127.0.0.1:9090"+target, ""), 200)
	}
}

func TestDomainsWatchOff(t *testing.T) {
	ops := New(newTestConfig(t, nil)).OpsRouter()
	for _, target := range []string{"/domains", "/api/v1/domains", "/api/v1/domains/example.com"} {
		rec := serve(ops, http.MethodGet, "http://127.0.0.1:9090"+target, "")
		wantStatus(t, rec, 404)
		if !strings.Contains(rec.Body.String(), "the DNS watch is off") {
			t.Errorf("GET %s with the watch off: %q", target, rec.Body.String())
		}
	}
}

// TestDomainsOnlyOnOps: the public routers know none of the watch's
// routes.
func TestDomainsOnlyOnOps(t *testing.T) {
	cfg := watchedConfig(t, watchCatalog(t, "ok.test"))
	h := New(cfg)
	for _, target := range []string{"/domains", "/api/v1/domains", "/api/v1/domains/ok.test"} {
		rec := serve(h.Router(), http.MethodGet, "http://autoconfig.ok.test"+target, "")
		if rec.Code == 200 || strings.Contains(rec.Body.String(), "records") {
			t.Errorf("public GET %s: %d %.200s", target, rec.Code, rec.Body.String())
		}
	}
}

// FuzzDomainsQuery: any query and domain path get 200, 400 or 404 from
// the watch's routes, never 5xx, and no request byte comes back as
// markup.
func FuzzDomainsQuery(f *testing.F) {
	for _, s := range []string{"state=missing&page=2", "state=%3Cb%3E", "page=-1", "page=99999999999999999999", "state=ok&state=drift", "%zz", ""} {
		f.Add(s, "ok.test")
	}
	f.Add("", "%3Cscript%3E")
	cfg := newTestConfig(f, watchCatalog(f, "ok.test"))
	w, err := dnswatch.New(dnswatch.Config{Interval: time.Hour, Resolvers: []string{"127.0.0.1:1"}, Catalog: cfg.Catalog.Load})
	if err != nil {
		f.Fatal(err)
	}
	cfg.DNSWatch = w
	ops := New(cfg).OpsRouter()
	f.Fuzz(func(t *testing.T, query, domain string) {
		for _, path := range []string{"/domains?", "/api/v1/domains?", "/api/v1/domains/" + url.PathEscape(domain) + "?"} {
			req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9090"+path+query, nil)
			if err != nil {
				return
			}
			rec := httptest.NewRecorder()
			ops.ServeHTTP(rec, req)
			if rec.Code != 200 && rec.Code != 400 && rec.Code != 404 {
				t.Fatalf("GET %s%s: %d %s", path, query, rec.Code, rec.Body)
			}
			if b := rec.Body.String(); strings.Contains(b, "<script") || strings.Contains(b, "<b>") {
				t.Fatalf("GET %s%s: markup from the request: %s", path, query, b)
			}
		}
	})
}
