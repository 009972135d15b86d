package handlers

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"mailautoconf/provision"
)

// loginTestCatalog has a provider whose usernames are %LOGIN% from a
// directory (login.example) and one whose are the address
// (plain.example). Parse never connects to the directory: the tests'
// Logins stand in for it.
const loginTestCatalog = `directories:
  - {name: users, type: postgres, url_env: USERS_DB_URL, login: "SELECT login FROM users WHERE email = $1"}
providers:
  - id: login.example
    domains: [login.example]
    login_directory: users
    incoming: [{protocol: imap, host: imap.login.example, port: 993, security: tls, username: "%LOGIN%"}]
    outgoing: [{protocol: smtp, host: smtp.login.example, port: 465, security: tls, username: "%LOGIN%"}]
  - id: plain.example
    domains: [plain.example]
    incoming: [{protocol: imap, host: imap.plain.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.plain.example, port: 465, security: tls}]
`

// testLogins is a directory of fixed logins that counts its lookups.
type testLogins struct {
	mu     sync.Mutex
	logins map[string]string // address -> login
	asked  int
}

func (l *testLogins) Login(_ context.Context, directory, address string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	login, ok := l.logins[address]
	return login, ok
}

func (l *testLogins) lookups() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asked
}

func newLoginTestRouter(t testing.TB) (*Router, *testLogins) {
	t.Helper()
	cat, err := provision.Parse(provision.Source{Name: "login.yaml", Data: []byte(loginTestCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	logins := &testLogins{logins: map[string]string{"anna@login.example": "u1001"}}
	cfg := newTestConfig(t, cat)
	cfg.Logins = logins
	return New(cfg).Router(), logins
}

// TestDirectoryLoginCaching: an answer holding a login from a directory
// (or the address it falls back to when the directory has none or is
// slow) is stored by no cache, shared or private: autoconfig with an
// address, like the POX POST, is no-store; the Apple profile is private
// and revalidated, the page no-store. Whether an answer is cacheable
// depends on its route and provider, never on whether the directory knew
// the address: a found and an unknown address get the same headers (no
// user enumeration, login.go). Answers that hold no login (no address, or
// a provider without %LOGIN%) keep their public caching.
func TestDirectoryLoginCaching(t *testing.T) {
	e, logins := newLoginTestRouter(t)
	type route struct {
		name, method, target, body string
		// login: the answer asks the directory for the address.
		login bool
		cache string
	}
	routes := func(addr string) []route {
		_, domain, _ := strings.Cut(addr, "@")
		return []route{
			{"autoconfig", "GET", "http://autoconfig." + domain + "/mail/config-v1.1.xml?emailaddress=" + addr, "", true, "no-store"},
			{"autoconfig well-known", "GET", "http://" + domain + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=" + addr, "", true, "no-store"},
			{"autoconfig HEAD", "HEAD", "http://autoconfig." + domain + "/mail/config-v1.1.xml?emailaddress=" + addr, "", true, "no-store"},
			{"Nine's path", "GET", "http://autoconfig." + domain + "/v1.1/mail/config-v1.1.xml?emailaddress=" + addr, "", true, "no-store"},
			{"autodiscover POST", "POST", "http://autodiscover." + domain + "/autodiscover/autodiscover.xml", outlookReq(addr), true, "no-store"},
			{"profile", "GET", "http://" + domain + "/mobileconfig?email=" + addr, "", true, "private, no-cache"},
			{"page", "GET", "http://" + domain + "/?email=" + addr, "", true, "no-store"},
			// No login in these: v2 JSON names a URL, not a user.
			{"autodiscover.json", "GET", "http://autodiscover." + domain + "/autodiscover/autodiscover.json?Email=" + addr + "&Protocol=AutodiscoverV1", "", false, "public, max-age=3600"},
			// No address: %LOGIN% is the %EMAILADDRESS% placeholder.
			{"autoconfig by Host", "GET", "http://autoconfig." + domain + "/mail/config-v1.1.xml", "", false, "public, max-age=3600"},
			{"ISPDB", "GET", "http://svc.example/v1.1/" + domain, "", false, "public, max-age=3600"},
			{"autodiscover GET", "GET", "http://autodiscover." + domain + "/autodiscover/autodiscover.xml", "", false, "public, max-age=3600"},
			{"PACC", "GET", "http://ua-auto-config." + domain + paccPath, "", false, "public, max-age=3600, no-transform"},
		}
	}
	found, unknown := routes("anna@login.example"), routes("bob@login.example")
	for i, r := range found {
		t.Run(r.name, func(t *testing.T) {
			before := logins.lookups()
			recF := serve(e, r.method, r.target, r.body)
			recU := serve(e, unknown[i].method, unknown[i].target, unknown[i].body)
			wantStatus(t, recF, http.StatusOK)
			wantStatus(t, recU, http.StatusOK)
			if asked := logins.lookups() - before; (asked > 0) != r.login {
				t.Errorf("%d directory lookups, want some: %v", asked, r.login)
			}
			if r.login && r.method != "HEAD" && !strings.Contains(recF.Body.String(), "u1001") {
				t.Errorf("no login in the found address's answer:\n%s", recF.Body)
			}
			if !r.login && strings.Contains(recF.Body.String(), "u1001") {
				t.Errorf("a login in an answer that asks no directory:\n%s", recF.Body)
			}
			for _, rec := range []struct {
				who string
				h   http.Header
			}{{"found", recF.Header()}, {"unknown", recU.Header()}} {
				if cc := rec.h.Get("Cache-Control"); cc != r.cache {
					t.Errorf("%s address: Cache-Control = %q, want %q", rec.who, cc, r.cache)
				}
			}
			for _, k := range []string{"Cache-Control", "Vary", "Content-Type"} {
				if f, u := recF.Header().Values(k), recU.Header().Values(k); strings.Join(f, "|") != strings.Join(u, "|") {
					t.Errorf("%s: %q (found) and %q (unknown)", k, f, u)
				}
			}
		})
	}

	// A provider without %LOGIN%: the answer is a function of the URL,
	// and shared caches may keep it.
	for _, r := range routes("anna@plain.example") {
		if r.cache != "no-store" || r.name == "page" || r.name == "autodiscover POST" {
			continue
		}
		t.Run("plain "+r.name, func(t *testing.T) {
			rec := serve(e, r.method, r.target, r.body)
			wantStatus(t, rec, http.StatusOK)
			if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=3600" {
				t.Errorf("Cache-Control = %q, want public, max-age=3600", cc)
			}
		})
	}
}

// TestDirectoryLoginAllocations: the Cache-Control of an answer with a
// directory's login is a fixed shared value, like every other: such an
// autoconfig request allocates what one at a provider without a directory
// does, and the two strings of the lookup (the address as the directory's
// key, Address.String, and as the fallback login, provision's loginOf).
func TestDirectoryLoginAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector (sync.Pool drops items at random)")
	}
	e, _ := newLoginTestRouter(t)
	allocs := func(target string) float64 {
		req, err := http.NewRequest("GET", target, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := &discardWriter{h: http.Header{}}
		serve := func() {
			clear(w.h)
			e.ServeHTTP(w, req)
		}
		serve() // the first request fills the caches and the pools
		if w.code != http.StatusOK {
			t.Fatalf("%s: status %d", target, w.code)
		}
		return testing.AllocsPerRun(200, serve)
	}
	plain := allocs("http://autoconfig.plain.example/mail/config-v1.1.xml?emailaddress=carl@plain.example")
	login := allocs("http://autoconfig.login.example/mail/config-v1.1.xml?emailaddress=carl@login.example")
	const lookup = 2
	if login > plain+lookup {
		t.Errorf("%.1f allocations a request with a directory login, want at most %.1f (%.1f without, %d for the lookup)", login, plain+lookup, plain, lookup)
	}
}
