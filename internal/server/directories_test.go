package server

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dbtest"
	"mailautoconf/internal/testutil/servetest"
)

// The directory tests run the server from a Config against the machine's
// PostgreSQL (a database of the test's own, internal/testutil/dbtest).

const dirCatalog = `directories:
  - name: hosting
    type: postgres
    url_env: HOSTING_DB_URL
    domains: SELECT domain FROM domain WHERE active
    login: SELECT login FROM mail_user WHERE email = $1
    refresh: 1s
    timeout: 300ms
providers:
  - id: hosting.example
    directory: hosting
    incoming:
      - {protocol: imap, host: imap.hosting.example, port: 993, security: tls, username: "%LOGIN%"}
    outgoing:
      - {protocol: smtp, host: smtp.hosting.example, port: 465, security: tls, username: "%LOGIN%"}
`

// dirDB is the hoster's database: one domain, one user with a login.
func dirDB(t *testing.T) *dbtest.PG {
	t.Helper()
	pg := dbtest.NewPG(t)
	pg.Exec(t, `CREATE TABLE domain (domain text NOT NULL, active boolean NOT NULL DEFAULT true)`)
	pg.Exec(t, `CREATE TABLE mail_user (email text NOT NULL, login text)`)
	pg.Exec(t, `INSERT INTO domain (domain) VALUES ('one.example')`)
	pg.Exec(t, `INSERT INTO mail_user VALUES ('alice@one.example', 'u1001'), ('EVOLUTIONUSER@one.example', 'evolution-row')`)
	return pg
}

// dirServer runs the server on the directory catalog with the database's
// URL in its environment, and waits until it answers /healthz (not
// /readyz, which waits for the directory).
// dirLive is a running server and its catalog file.
type dirLive struct {
	*servetest.Live
	CatalogPath string
}

// directoryConfig is the Config of a server with a metrics listener,
// serving catalog (written to a file) with dataDir, whose environment
// holds url in the variable env alone.
func directoryConfig(t *testing.T, catalog, dataDir, env, url string) Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.MetricsListen = testutil.FreeAddr(t)
	cfg.Catalog, cfg.DataDir = writeCatalog(t, catalog), dataDir
	cfg.Getenv = func(k string) string {
		if k == env {
			return url
		}
		return ""
	}
	return cfg
}

func dirServer(t *testing.T, pg *dbtest.PG, dataDir string) dirLive {
	t.Helper()
	cfg := directoryConfig(t, dirCatalog, dataDir, "HOSTING_DB_URL", pg.URL)
	path := cfg.Catalog
	s := &servetest.Live{Base: "http://" + cfg.Listen, Metrics: "http://" + cfg.MetricsListen, Logs: &testutil.SyncBuffer{}}
	s.Stop = startServe(t, cfg, s.Logs)
	testutil.WaitFor(t, 5*time.Second, "server did not start", func() bool {
		return dirStatus(s.Metrics+"/healthz") == http.StatusOK
	})
	return dirLive{s, path}
}

var dirClient = &http.Client{Timeout: 5 * time.Second}

func dirStatus(url string) int {
	resp, err := dirClient.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func dirFetch(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/xml")
	}
	resp, err := dirClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func autoconfigURL(s dirLive, addr string) string {
	return s.Base + "/mail/config-v1.1.xml?emailaddress=" + addr
}

var username = regexp.MustCompile(`<username>([^<]*)</username>`)

func usernames(body string) []string {
	var out []string
	for _, m := range username.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

const poxRequest = `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>%s</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`

// TestDirectoryServedLive: a PostgreSQL directory through the real
// server. Its domains are served after the first read, a domain added is
// served after the next refresh, a login found is in every format that
// carries a user name, an unknown address and Evolution's placeholder fall
// back; with the database unreachable the old list keeps serving and a
// lookup answers the fallback within the timeout; a restart during the
// outage is ready at once from the copy on disk; metrics are there; no
// address, login or password reaches the log at info level.
func TestDirectoryServedLive(t *testing.T) {
	pg := dirDB(t)
	dataDir := t.TempDir()
	s := dirServer(t, pg, dataDir)
	testutil.WaitFor(t, 5*time.Second, "/readyz not 200 after the first read", func() bool {
		return dirStatus(s.Metrics+"/readyz") == http.StatusOK
	})

	// Logins, in every format that carries one.
	if _, body := dirFetch(t, "GET", autoconfigURL(s, "alice@one.example"), ""); strings.Join(usernames(body), ",") != "u1001,u1001" {
		t.Errorf("autoconfig for alice: usernames %v, want u1001 twice\n%s", usernames(body), body)
	}
	if _, body := dirFetch(t, "POST", s.Base+"/autodiscover/autodiscover.xml", strings.Replace(poxRequest, "%s", "alice@one.example", 1)); strings.Count(body, "<LoginName>u1001</LoginName>") != 2 {
		t.Errorf("Autodiscover POST for alice: want LoginName u1001 twice\n%s", body)
	}
	if resp, body := dirFetch(t, "GET", s.Base+"/mobileconfig?email=alice@one.example", ""); resp.StatusCode != 200 || strings.Count(body, "<string>u1001</string>") != 2 {
		t.Errorf("profile for alice: %d, want user name u1001 twice\n%s", resp.StatusCode, body)
	}
	if _, body := dirFetch(t, "GET", s.Base+"/?email=alice@one.example", ""); !strings.Contains(body, "u1001") {
		t.Errorf("setup page for alice: no u1001\n%s", body)
	}
	// Fallbacks: an unknown address, Evolution's placeholder (never
	// looked up, though a row holds it), no address at all.
	for addr, want := range map[string]string{
		"bob@one.example":           "bob@one.example,bob@one.example",
		"EVOLUTIONUSER@one.example": "EVOLUTIONUSER@one.example,EVOLUTIONUSER@one.example",
	} {
		if _, body := dirFetch(t, "GET", autoconfigURL(s, addr), ""); strings.Join(usernames(body), ",") != want {
			t.Errorf("autoconfig for %s: usernames %v, want %s", addr, usernames(body), want)
		}
	}
	req, _ := http.NewRequest("GET", s.Base+"/mail/config-v1.1.xml", nil)
	req.Host = "autoconfig.one.example"
	if resp, err := dirClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("autoconfig by Host for a directory domain: %v %v", resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := usernames(string(b)); strings.Join(got, ",") != "%EMAILADDRESS%,%EMAILADDRESS%" {
			t.Errorf("autoconfig with no address: usernames %v, want %%EMAILADDRESS%%", got)
		}
	}

	// A domain added is served after the refresh.
	if got := dirStatus(autoconfigURL(s, "x@two.example")); got != http.StatusNotFound {
		t.Errorf("two.example before it is added: %d, want 404", got)
	}
	pg.Exec(t, `INSERT INTO domain (domain) VALUES ('two.example')`)
	took := testutil.WaitFor(t, 5*time.Second, "two.example not served after a refresh", func() bool {
		return dirStatus(autoconfigURL(s, "x@two.example")) == http.StatusOK
	})
	t.Logf("a domain added was served %v later (refresh 1s)", took.Round(time.Millisecond))

	// Metrics.
	for sample, want := range map[string]float64{
		`mailautoconf_directory_domains{directory="hosting"}`:                      2,
		`mailautoconf_directory_ready{directory="hosting"}`:                        1,
		`mailautoconf_directory_lookups_total{directory="hosting",result="found"}`: 1,
		`mailautoconf_catalog_domains`:                                             2,
	} {
		if got := servetest.MetricValue(t, s.Metrics, sample); got != want && !(strings.Contains(sample, "found") && got >= want) {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}

	// Metrics carry the directory's name, never an address or a login.
	if _, page := dirFetch(t, "GET", s.Metrics+"/metrics", ""); strings.Contains(page, "alice") || strings.Contains(page, "u1001") || strings.Contains(page, "one.example") {
		t.Errorf("the metrics hold an address, a login or a domain")
	}

	// The database goes away: the list keeps serving, a lookup not
	// cached answers the fallback within the timeout (300ms).
	pg.Stop(t)
	testutil.WaitFor(t, 10*time.Second, "no refresh failure counted", func() bool {
		return servetest.MetricValue(t, s.Metrics, `mailautoconf_directory_refresh_failures_total{directory="hosting"}`) >= 1
	})
	for _, d := range []string{"one.example", "two.example"} {
		if got := dirStatus(autoconfigURL(s, "x@"+d)); got != http.StatusOK {
			t.Errorf("%s with the database down: %d, want the old list served", d, got)
		}
	}
	start := time.Now()
	_, body := dirFetch(t, "GET", autoconfigURL(s, "carol@one.example"), "")
	if took := time.Since(start); took > time.Second {
		t.Errorf("a lookup with the database down took %v, want the fallback within the timeout", took)
	}
	if got := usernames(body); strings.Join(got, ",") != "carol@one.example,carol@one.example" {
		t.Errorf("carol with the database down: %v, want the address", got)
	}
	if got := dirStatus(s.Metrics + "/readyz"); got != http.StatusOK {
		t.Errorf("/readyz with the database down after a good read: %d, want 200", got)
	}
	s.Stop()

	// A restart during the outage serves the copy on disk, ready at once.
	s2 := dirServer(t, pg, dataDir)
	if got := dirStatus(s2.Metrics + "/readyz"); got != http.StatusOK {
		t.Errorf("/readyz after a restart during the outage, with the copy on disk: %d, want 200", got)
	}
	if got := dirStatus(autoconfigURL(s2, "x@two.example")); got != http.StatusOK {
		t.Errorf("two.example after a restart during the outage: %d, want 200 from the copy on disk", got)
	}
	s2.Stop()

	for _, logs := range []string{s.Logs.String(), s2.Logs.String()} {
		for _, secret := range []string{"alice", "u1001", "bob@", "carol", dbtest.PGPassword, pg.URL} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log at info level holds %q:\n%s", secret, logs)
			}
		}
	}
	if !strings.Contains(s.Logs.String(), "domain list not read") {
		t.Errorf("the outage is not logged:\n%s", s.Logs.String())
	}
}

// TestDirectoryReadyzWaits: with the database unreachable at start and no
// copy on disk, the service starts and answers /readyz 503 until the
// first read, then 200.
func TestDirectoryReadyzWaits(t *testing.T) {
	pg := dirDB(t)
	pg.Stop(t)
	s := dirServer(t, pg, t.TempDir())
	if got := dirStatus(s.Metrics + "/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first read: %d, want 503", got)
	}
	_, body := dirFetch(t, "GET", s.Metrics+"/readyz", "")
	if !strings.Contains(body, "hosting") {
		t.Errorf("/readyz does not name the directory waited for:\n%s", body)
	}
	pg.Start(t)
	testutil.WaitFor(t, 10*time.Second, "/readyz not 200 once the database is back", func() bool {
		return dirStatus(s.Metrics+"/readyz") == http.StatusOK
	})
	if got := dirStatus(autoconfigURL(s, "x@one.example")); got != http.StatusOK {
		t.Errorf("one.example once read: %d", got)
	}
}

// TestDirectoryLoginPrivacy: whether an address exists shows in no
// answer but through the login name itself: a found and an unknown
// address at a directory domain get the same status, headers and
// document, the address and login aside.
func TestDirectoryLoginPrivacy(t *testing.T) {
	pg := dirDB(t)
	s := dirServer(t, pg, "")
	testutil.WaitFor(t, 5*time.Second, "/readyz not 200", func() bool {
		return dirStatus(s.Metrics+"/readyz") == http.StatusOK
	})
	type req struct{ name, method, url, body string }
	reqs := func(addr string) []req {
		return []req{
			{"autoconfig", "GET", autoconfigURL(s, addr), ""},
			{"autodiscover", "POST", s.Base + "/autodiscover/autodiscover.xml", strings.Replace(poxRequest, "%s", addr, 1)},
			{"profile", "GET", s.Base + "/mobileconfig?email=" + addr, ""},
			{"page", "GET", s.Base + "/?email=" + addr, ""},
		}
	}
	norm := func(s string, addr, login string) string {
		s = strings.ReplaceAll(s, "<wbr>", "") // the page's break hints
		s = strings.ReplaceAll(s, addr, "ADDR")
		if login != "" {
			s = strings.ReplaceAll(s, login, "ADDR")
		}
		s = strings.ReplaceAll(s, strings.SplitN(addr, "@", 2)[0], "LOCAL")
		return s
	}
	found, unknown := reqs("alice@one.example"), reqs("bob@one.example")
	for i := range found {
		for round := range 2 { // a miss, then a cache hit
			r1, b1 := dirFetch(t, found[i].method, found[i].url, found[i].body)
			r2, b2 := dirFetch(t, unknown[i].method, unknown[i].url, unknown[i].body)
			if !strings.Contains(b1, "u1001") {
				t.Errorf("%s: no login in the found address's answer", found[i].name)
			}
			if r1.StatusCode != r2.StatusCode {
				t.Errorf("%s round %d: status %d (found) and %d (unknown)", found[i].name, round, r1.StatusCode, r2.StatusCode)
			}
			for k := range mergeKeys(r1.Header, r2.Header) {
				if k == "Date" || k == "Content-Length" {
					continue
				}
				v1, v2 := norm(strings.Join(r1.Header[k], "|"), "alice@one.example", ""), norm(strings.Join(r2.Header[k], "|"), "bob@one.example", "")
				if v1 != v2 {
					t.Errorf("%s round %d: header %s %q (found) and %q (unknown)", found[i].name, round, k, v1, v2)
				}
			}
			n1, n2 := norm(b1, "alice@one.example", "u1001"), norm(b2, "bob@one.example", "")
			if found[i].name == "profile" {
				// Stable UUIDs derive from the address: they differ
				// by design.
				uuid := regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
				n1, n2 = uuid.ReplaceAllString(n1, "UUID"), uuid.ReplaceAllString(n2, "UUID")
			}
			if n1 != n2 {
				t.Errorf("%s round %d: documents differ beyond address and login:\n%s\n---\n%s", found[i].name, round, n1, n2)
			}
		}
	}
}

func mergeKeys(a, b http.Header) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// TestDirectoryReload: a reload of the file catalog re-merges the
// directory's list held now (its domains never stop being served), and a
// reload that changes the directory makes a new Set whose metrics and
// logins work.
func TestDirectoryReload(t *testing.T) {
	pg := dirDB(t)
	s := dirServer(t, pg, "")
	testutil.WaitFor(t, 5*time.Second, "/readyz not 200", func() bool {
		return dirStatus(s.Metrics+"/readyz") == http.StatusOK
	})
	path := s.CatalogPath
	withFile := dirCatalog + `  - id: file.example
    domains: [file.example]
    incoming:
      - {protocol: imap, host: imap.file.example, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.file.example, port: 465, security: tls}
`
	servetest.WriteRename(t, path, withFile)
	testutil.WaitFor(t, 5*time.Second, "file.example not served after the reload", func() bool {
		return dirStatus(autoconfigURL(s, "x@file.example")) == http.StatusOK
	})
	if got := dirStatus(autoconfigURL(s, "x@one.example")); got != http.StatusOK {
		t.Errorf("one.example after a reload of the files: %d, want the directory's list merged again", got)
	}

	// The directory changes (its timeout): a new Set.
	servetest.WriteRename(t, path, strings.Replace(withFile, "timeout: 300ms", "timeout: 400ms", 1))
	testutil.WaitFor(t, 5*time.Second, "no new directory Set after the reload", func() bool {
		return strings.Contains(s.Logs.String(), "directories changed")
	})
	if got := dirStatus(autoconfigURL(s, "x@one.example")); got != http.StatusOK {
		t.Errorf("one.example after the directory changed: %d", got)
	}
	if _, body := dirFetch(t, "GET", autoconfigURL(s, "alice@one.example"), ""); strings.Join(usernames(body), ",") != "u1001,u1001" {
		t.Errorf("alice after the directory changed: %v", usernames(body))
	}
	testutil.WaitFor(t, 5*time.Second, "the new Set's metrics", func() bool {
		return servetest.MetricValue(t, s.Metrics, `mailautoconf_directory_domains{directory="hosting"}`) == 1
	})
}
