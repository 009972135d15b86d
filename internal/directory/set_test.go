package directory

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"mailautoconf/internal/testutil"
	"mailautoconf/provision"
)

// running is a Set started on one backend, with its log.
type running struct {
	*Set
	log  *testutil.SyncBuffer
	b    *backend
	stop func()
	// changes receives every OnChange's list of the backend's directory.
	mu      sync.Mutex
	changes [][]string
}

func startSet(t *testing.T, b *backend, dataDir string) *running {
	t.Helper()
	r := &running{log: &testutil.SyncBuffer{}, b: b}
	s, err := New(Options{
		Directories: []*provision.Directory{b.dir}, Getenv: b.getenv, DataDir: dataDir,
		Log: slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelInfo})),
		OnChange: func(lists map[string][]string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.changes = append(r.changes, lists[b.dir.Name])
		},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.retryMin = 20 * time.Millisecond
	r.Set = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	r.stop = func() { cancel(); <-done; s.Close() }
	t.Cleanup(func() {
		r.stop()
		r.noSecrets(t)
	})
	return r
}

// noSecrets fails the test if the log holds a password or a URL.
func (r *running) noSecrets(t testing.TB) {
	t.Helper()
	logs := r.log.String()
	for _, s := range r.b.secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log holds the secret %q:\n%s", s, logs)
		}
	}
}

func (r *running) list() []string {
	l := slices.Clone(r.Lists()[r.b.dir.Name])
	slices.Sort(l)
	return l
}

func (r *running) lookups(result string) float64 {
	return promtest.ToFloat64(r.metrics.lookups.WithLabelValues(r.b.dir.Name, result))
}

func (r *running) failures() float64 {
	return promtest.ToFloat64(r.metrics.failures.WithLabelValues(r.b.dir.Name))
}

func (r *running) waitList(t *testing.T, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	show := want
	if len(show) > 5 {
		show = show[:5]
	}
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Equal(r.list(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the domain list %v (%d); have %d domains; log:\n%s", show, len(want), len(r.list()), r.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDomainsAndLogins(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		b.addDomains(t, "a.example", "b.example")
		b.addUser(t, "alice@a.example", "alice01")
		b.addUser(t, "nologin@a.example", "")
		b.addUser(t, "twice@a.example", "twice1")
		b.addUser(t, "twice@a.example", "twice2")
		r := startSet(t, b, "")
		r.waitList(t, []string{"a.example", "b.example"})
		if err := r.Ready(); err != nil {
			t.Errorf("Ready() = %v after the first read", err)
		}
		ctx := context.Background()
		for _, c := range []struct {
			addr  string
			login string
			found bool
		}{
			{"alice@a.example", "alice01", true},
			{"nobody@a.example", "", false},
			{"nologin@a.example", "", false},
			// Several matches: no login, not someone's.
			{"twice@a.example", "", false},
			{"alice@a.example", "alice01", true}, // from the cache
		} {
			login, found := r.Login(ctx, b.dir.Name, c.addr)
			if login != c.login || found != c.found {
				t.Errorf("Login(%q) = %q, %v; want %q, %v", c.addr, login, found, c.login, c.found)
			}
		}
		if got := r.lookups(ResultFound); got != 1 {
			t.Errorf("lookups found = %v, want 1", got)
		}
		if got := r.lookups(ResultNotFound); got != 3 {
			t.Errorf("lookups not_found = %v, want 3", got)
		}
		if got := r.lookups(ResultCacheHit); got != 1 {
			t.Errorf("lookups cache_hit = %v, want 1", got)
		}
		if got := promtest.ToFloat64(r.metrics.domains.WithLabelValues(b.dir.Name)); got != 2 {
			t.Errorf("domains gauge = %v, want 2", got)
		}
		if login, found := r.Login(ctx, "no-such-directory", "alice@a.example"); found {
			t.Errorf("Login on an unknown directory = %q, true", login)
		}
	})
}

// TestOutage: the database's connections killed, then the database
// stopped, mid-run: the last good list keeps serving, the failure is
// logged once when it starts and once when it ends, and the directory
// recovers by itself.
func TestOutage(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		b.dir.Refresh = 50 * time.Millisecond
		b.addDomains(t, "a.example")
		b.addUser(t, "alice@a.example", "alice01")
		r := startSet(t, b, "")
		r.waitList(t, []string{"a.example"})

		b.kill(t)
		b.addDomains(t, "b.example")
		r.waitList(t, []string{"a.example", "b.example"})

		downs := strings.Count(r.log.String(), "domain list not read")
		ups := strings.Count(r.log.String(), "domain list read again")
		f0 := r.failures()
		b.stop(t)
		testutil.WaitFor(t, 15*time.Second, "three failed refreshes", func() bool { return r.failures() >= f0+3 })
		if got := r.list(); !slices.Equal(got, []string{"a.example", "b.example"}) {
			t.Errorf("list during the outage = %v, want the last good one", got)
		}
		if err := r.Ready(); err != nil {
			t.Errorf("Ready() = %v during an outage after a good read", err)
		}
		// A lookup during the outage answers the fallback in time, and
		// is not cached as "no such user".
		start := time.Now()
		if login, found := r.Login(context.Background(), b.dir.Name, "alice@a.example"); found {
			t.Errorf("Login during the outage = %q, true", login)
		}
		if d := time.Since(start); d > b.dir.Timeout+500*time.Millisecond {
			t.Errorf("Login during the outage took %v, timeout %v", d, b.dir.Timeout)
		}
		if got := strings.Count(r.log.String(), "domain list not read"); got != downs+1 {
			t.Errorf("outage logged %d times, want once:\n%s", got-downs, r.log)
		}
		b.start(t)
		b.addDomains(t, "c.example")
		r.waitList(t, []string{"a.example", "b.example", "c.example"})
		if got := strings.Count(r.log.String(), "domain list read again"); got != ups+1 {
			t.Errorf("recovery logged %d times, want once:\n%s", got-ups, r.log)
		}
		if got := strings.Count(r.log.String(), "domain list not read"); got != downs+1 {
			t.Errorf("outage logged %d times in all, want once:\n%s", got-downs, r.log)
		}
		testutil.WaitFor(t, 10*time.Second, "the login after the outage", func() bool {
			login, found := r.Login(context.Background(), b.dir.Name, "alice@a.example")
			return found && login == "alice01"
		})
	})
}

// TestSlowLookup: a lookup slower than the timeout answers the fallback
// within the timeout, is not cached as "no such user", and fills the
// cache when the directory answers.
func TestSlowLookup(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		b.dir.Timeout = 200 * time.Millisecond
		b.addDomains(t, "a.example")
		b.addUser(t, "slow@a.example", "slow01")
		r := startSet(t, b, "")
		r.waitList(t, []string{"a.example"})
		resume := b.slow(t, "slow@a.example")
		for i := range 2 {
			start := time.Now()
			login, found := r.Login(context.Background(), b.dir.Name, "slow@a.example")
			d := time.Since(start)
			if found {
				t.Errorf("slow Login #%d = %q, true; want the fallback", i, login)
			}
			if d > b.dir.Timeout+300*time.Millisecond {
				t.Errorf("slow Login #%d took %v, timeout %v", i, d, b.dir.Timeout)
			}
		}
		if got := r.lookups(ResultTimeout); got != 2 {
			t.Errorf("lookups timeout = %v, want 2", got)
		}
		if got := r.lookups(ResultNotFound) + r.lookups(ResultCacheHit); got != 0 {
			t.Errorf("not_found + cache_hit = %v after timeouts, want 0 (a timeout is not 'no such user')", got)
		}
		time.Sleep(300 * time.Millisecond)
		resume()
		testutil.WaitFor(t, 5*time.Second, "the slow login, cached", func() bool {
			login, found := r.Login(context.Background(), b.dir.Name, "slow@a.example")
			return found && login == "slow01"
		})
		// The answer came from the one query that outlived the timeout
		// (the waits joined it), and it is in the cache now.
		if got := histogramCount(t, r); got != 1 {
			t.Errorf("queries = %d, want the one that outlived the timeout", got)
		}
		hits := r.lookups(ResultCacheHit)
		if login, found := r.Login(context.Background(), b.dir.Name, "slow@a.example"); !found || login != "slow01" {
			t.Errorf("Login after the slow query = %q, %v", login, found)
		}
		if got := r.lookups(ResultCacheHit); got != hits+1 {
			t.Errorf("the query that outlived the timeout did not fill the cache (cache_hit %v -> %v)", hits, got)
		}
	})
}

// TestRawValues: the values are handed on as the directory holds them,
// bad ones, U-labels and letter case included: provision's merge checks
// and normalises them (and skips a bad one with a warning).
func TestRawValues(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		raw := []string{"ok.example", "not a domain!", "bücher.example", "UPPER.Example", "xn--mnchen-3ya.example"}
		b.addDomains(t, raw...)
		r := startSet(t, b, "")
		r.waitList(t, raw)
	})
}

// TestMetacharacters: SQL and LDAP metacharacters in an address are data:
// they match a row that holds them literally and nothing else.
func TestMetacharacters(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		b.addDomains(t, "a.example")
		b.addUser(t, "alice@a.example", "alice01")
		b.addUser(t, "bob@a.example", "bob01")
		b.addUser(t, "' OR 1=1 --@a.example", "literal01")
		b.addUser(t, `star*)(uid=*@a.example`, "literal02")
		r := startSet(t, b, "")
		r.waitList(t, []string{"a.example"})
		ctx := context.Background()
		for _, c := range []struct{ addr, login string }{
			{"' OR 1=1 --@a.example", "literal01"},
			{`star*)(uid=*@a.example`, "literal02"},
			{"' OR 1=1 --", ""},
			{"x' OR '1'='1", ""},
			{"alice@a.example' OR '1'='1", ""},
			{"alice@a.example'; DROP TABLE mail_user; --", ""},
			{"*", ""},
			{"*@a.example", ""},
			{"*)(uid=*", ""},
			{"alice@a.example)(mail=*", ""},
			{"*)(|(mail=*", ""},
			{`\`, ""},
			{`alice\@a.example`, ""},
			{`\2a`, ""},
			{"alice@a.example\x00", ""},
			{"\x00", ""},
			{"%", ""},
			{"_", ""},
		} {
			login, found := r.Login(ctx, b.dir.Name, c.addr)
			if login != c.login || found != (c.login != "") {
				t.Errorf("Login(%q) = %q, %v; want %q", c.addr, login, found, c.login)
			}
		}
		// Straight to the Source: a NUL still matches nobody (slapd
		// would match "alice@a.example\x00" as alice's mail: its
		// assertion value ends at the NUL).
		src, err := Open(b.dir, b.getenv)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		for _, addr := range []string{"alice@a.example\x00", "*\x00"} {
			if login, found, _ := src.Login(ctx, addr); found {
				t.Errorf("Source.Login(%q) = %q, true", addr, login)
			}
		}
		// The tables are still there.
		if login, found := r.Login(ctx, b.dir.Name, "bob@a.example"); !found || login != "bob01" {
			t.Errorf("Login(bob) after the metacharacters = %q, %v", login, found)
		}
	})
}

// TestTenThousandDomains: 10,000 domains added at once arrive in one new
// list, handed to OnChange.
func TestTenThousandDomains(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		b.dir.Refresh = 100 * time.Millisecond
		b.addDomains(t, "first.example")
		r := startSet(t, b, "")
		r.waitList(t, []string{"first.example"})
		many := make([]string, 10_000)
		for i := range many {
			many[i] = fmt.Sprintf("customer%05d.example", i)
		}
		b.addDomains(t, many...)
		want := append([]string{"first.example"}, many...)
		r.waitList(t, want)
		r.mu.Lock()
		last := slices.Sorted(slices.Values(r.changes[len(r.changes)-1]))
		r.mu.Unlock()
		if !slices.Equal(last, slices.Sorted(slices.Values(want))) {
			t.Errorf("OnChange's last list has %d domains, want %d", len(last), len(want))
		}
	})
}

// TestDiskCopy: with a data directory, the last good list is kept on disk
// (mode 0600) and read at start: a restart during an outage is ready at
// once and serves it.
func TestDiskCopy(t *testing.T) {
	b := newPGBackend(t)
	b.dir.Refresh = 50 * time.Millisecond
	data := t.TempDir()
	b.addDomains(t, "a.example", "b.example")
	r := startSet(t, b, data)
	r.waitList(t, []string{"a.example", "b.example"})
	r.stop()
	r.stop = func() {}

	path := filepath.Join(data, "directories", "hosting.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no copy on disk: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("copy's mode = %v, want 0600", fi.Mode().Perm())
	}
	if tmp, _ := filepath.Glob(filepath.Join(data, "directories", ".tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	b.stop(t)
	log := &testutil.SyncBuffer{}
	s, err := New(Options{Directories: []*provision.Directory{b.dir}, Getenv: b.getenv, DataDir: data,
		Log: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(); err != nil {
		t.Errorf("Ready() = %v with a copy on disk", err)
	}
	if got := slices.Sorted(slices.Values(s.Lists()["hosting"])); !slices.Equal(got, []string{"a.example", "b.example"}) {
		t.Errorf("list from disk = %v", got)
	}

	// Another query: the copy is not its list.
	other := *b.dir
	other.Domains = "SELECT domain FROM domain WHERE NOT active"
	s2, err := New(Options{Directories: []*provision.Directory{&other}, Getenv: b.getenv, DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Ready(); err == nil {
		t.Errorf("Ready() = nil with the copy of another query")
	}
	b.start(t)
}

func TestOpenErrorsHideSecrets(t *testing.T) {
	const secret = "Hunter2-secret"
	for _, c := range []struct{ typ, url string }{
		{provision.DirectoryPostgres, "postgres://u:" + secret + "@[::1:5432/db"},
		{provision.DirectoryPostgres, "postgres://u:" + secret + "@127.0.0.1:notaport/db"},
		{provision.DirectoryMySQL, "mysql://u:" + secret + "@127.0.0.1:3306/db?badparam=%zz"},
		{provision.DirectoryMySQL, "u:" + secret + "@tcp(127.0.0.1:3306/db"},
		{provision.DirectoryLDAP, "ldapz://u:" + secret + "@127.0.0.1"},
		{provision.DirectoryLDAP, "ldap://u:" + secret + "@[::1"},
	} {
		d := baseDirectory("x", c.typ)
		d.Domains, d.Login = "SELECT 1", "SELECT 1"
		_, err := Open(d, func(string) string { return c.url })
		if err == nil {
			t.Errorf("Open(%s, %q) = nil error", c.typ, c.url)
			continue
		}
		if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "X_URL") {
			t.Errorf("Open(%s) error = %q: must name X_URL and not hold the password", c.typ, err)
		}
	}
	if _, err := Open(baseDirectory("x", provision.DirectoryPostgres), func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "X_URL is not set") {
		t.Errorf("Open with the variable unset: %v", err)
	}
}

// TestRuntimeErrorsHideSecrets: a server that refuses the connection or
// the password; the errors say so without the URL or the password.
func TestRuntimeErrorsHideSecrets(t *testing.T) {
	const secret = "Hunter2-secret"
	closed := testutil.FreePort(t)
	pgBad := newPG(t)
	myBad := newMy(t)
	cases := []struct {
		typ, url string
		pw       string
	}{
		{provision.DirectoryPostgres, fmt.Sprintf("postgres://u:%s@127.0.0.1:%d/db?connect_timeout=2", secret, closed), ""},
		// A role that does not exist: the server refuses it.
		{provision.DirectoryPostgres, fmt.Sprintf("postgres://nosuchrole:%s@127.0.0.1:5432/%s?sslmode=disable", secret, pgBad.Name), ""},
		{provision.DirectoryMySQL, fmt.Sprintf("mysql://u:%s@127.0.0.1:%d/db", secret, closed), ""},
		{provision.DirectoryMySQL, fmt.Sprintf("mysql://%s:%s@127.0.0.1:3306/%s", myBad.user, secret, myBad.name), ""},
		{provision.DirectoryLDAP, fmt.Sprintf("ldap://127.0.0.1:%d", closed), secret},
	}
	// A password with unescaped URL delimiters: the drivers take part of
	// it for the host, and say so.
	const raw = "Hunter2/secret@more"
	cases = append(cases,
		struct{ typ, url, pw string }{provision.DirectoryPostgres, fmt.Sprintf("postgres://u:%s@127.0.0.1:%d/db?connect_timeout=2", raw, closed), ""},
		struct{ typ, url, pw string }{provision.DirectoryMySQL, fmt.Sprintf("mysql://u:%s@127.0.0.1:%d/db", raw, closed), ""},
		// "/" escaped, "@" not: pgx takes "more@127.0.0.1" for the host.
		struct{ typ, url, pw string }{provision.DirectoryPostgres, fmt.Sprintf("postgres://u:Hunter2%%2Fsecret@more@127.0.0.1:%d/db?connect_timeout=2", closed), ""},
		struct{ typ, url, pw string }{provision.DirectoryMySQL, fmt.Sprintf("mysql://u:Hunter2%%2Fsecret@more@127.0.0.1:%d/db", closed), ""},
	)
	for _, c := range cases {
		d := baseDirectory("x", c.typ)
		d.Domains, d.Login = "SELECT 'a'", "SELECT 'a' WHERE 1 = 1"
		if c.typ == provision.DirectoryLDAP {
			d.BindDN, d.BindPasswordEnv = ldapRootDN, "PW"
			d.Base, d.LoginFilter, d.LoginAttribute = ldapPeople, "(mail=%s)", "uid"
			d.DomainsBase, d.DomainsFilter, d.DomainsAttribute = ldapDomainsOU, "(objectClass=domain)", "description"
		}
		env := map[string]string{"X_URL": c.url, "PW": c.pw}
		for _, r := range Check(context.Background(), []*provision.Directory{d}, func(k string) string { return env[k] }, "a@b.example") {
			for _, err := range []error{r.Open, r.DomainsErr, r.LoginErr} {
				for _, part := range []string{secret, "Hunter2", "secret", "more@"} {
					if err != nil && strings.Contains(err.Error(), part) {
						t.Errorf("%s: error holds (part of) the password, %q: %v", c.typ, part, err)
					}
				}
			}
			if r.OK() {
				t.Errorf("%s %s: Check OK against a refusing server", c.typ, strings.ReplaceAll(c.url, secret, "xxx"))
			}
		}
	}
}

func TestCheck(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		b.addDomains(t, "a.example", "b.example", "c.example")
		b.addUser(t, "alice@a.example", "alice01")
		got := Check(context.Background(), []*provision.Directory{b.dir}, b.getenv, "alice@a.example")
		if len(got) != 1 {
			t.Fatalf("Check = %d results", len(got))
		}
		r := got[0]
		if !r.OK() || r.Domains != 3 || !r.Found || r.Login != "alice01" {
			t.Errorf("Check = %+v; want 3 domains and alice01", r)
		}
		got = Check(context.Background(), []*provision.Directory{b.dir}, b.getenv, "")
		if r := got[0]; !r.OK() || r.Found || !strings.HasPrefix(r.Address, "mailautoconf-check@") {
			t.Errorf("Check with a made-up address = %+v", r)
		}
	})
}

// TestSingleflight: concurrent misses for one address make one query.
func TestSingleflight(t *testing.T) {
	b := newPGBackend(t)
	b.dir.Timeout = 5 * time.Second
	b.addUser(t, "alice@a.example", "alice01")
	r := startSet(t, b, "")
	// Slow enough for every goroutine to arrive while it runs.
	b.slow(t, "alice@a.example")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if login, found := r.Login(context.Background(), b.dir.Name, "alice@a.example"); login != "alice01" || !found {
				t.Errorf("Login = %q, %v", login, found)
			}
		})
	}
	wg.Wait()
	if n := promtest.CollectAndCount(r.metrics.latency); n != 1 {
		t.Fatalf("latency series = %d", n)
	}
	if got := histogramCount(t, r); got != 1 {
		t.Errorf("queries for 20 concurrent misses = %d, want 1", got)
	}
}

// histogramCount is the number of login queries the Set made (the
// latency histogram's sample count).
func histogramCount(t *testing.T, r *running) uint64 {
	t.Helper()
	var m dto.Metric
	if err := r.metrics.latency.WithLabelValues(r.b.dir.Name).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestMergeWithCatalog: the raw values, bad ones included, go to the
// catalog's merge, which serves the good ones (the U-label as its
// A-label) and skips the bad one with a warning naming it.
func TestMergeWithCatalog(t *testing.T) {
	be := newPGBackend(t)
	yaml := `directories:
  - name: hosting
    type: postgres
    url_env: HOSTING_URL
    domains: ` + be.dir.Domains + `
    login: ` + be.dir.Login + `
providers:
  - id: hosting.example
    directory: hosting
    incoming: [{protocol: imap, host: imap.hosting.example, port: 993, security: tls, username: "%LOGIN%"}]
    outgoing: [{protocol: smtp, host: smtp.hosting.example, port: 465, security: tls, username: "%LOGIN%"}]
`
	cat, err := provision.Parse(provision.Source{Name: "catalog.yaml", Data: []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	be.addDomains(t, "ok.example", "not a domain!", "bücher.example")
	s, err := New(Options{Directories: cat.Directories(), Getenv: be.getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.refresh(context.Background(), s.dirs[0]) {
		t.Fatal("refresh failed")
	}
	merged, warnings, err := cat.WithDirectoryDomains(s.Lists(), true)
	if err != nil {
		t.Fatalf("WithDirectoryDomains: %v", err)
	}
	for _, d := range []string{"ok.example", "xn--bcher-kva.example"} {
		if _, err := merged.Lookup(d); err != nil {
			t.Errorf("Lookup(%q) = %v", d, err)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "not a domain!") {
		t.Errorf("warnings = %q, want one naming the bad row", warnings)
	}
}

// clock is a time that tests turn forward, for dir.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestOneLifetime: a found and an unknown address are kept in the cache
// for the same time, so that a second request for either, however long
// after the first, is a cache hit for both or a query for both: its time
// does not tell whether the address exists (issue 23, item 2). The
// lifetime is the shorter of cache_ttl and negative_ttl. The test counts
// the queries the directory received, not times.
func TestOneLifetime(t *testing.T) {
	b := newPGBackend(t)
	for _, c := range []struct {
		cache, negative time.Duration
		lifetime        time.Duration
	}{
		{5 * time.Minute, time.Minute, time.Minute}, // the defaults
		{time.Minute, 5 * time.Minute, time.Minute},
		{time.Hour, time.Hour, time.Hour},
		{5 * time.Minute, 0, 0},
		{0, time.Minute, 0},
	} {
		t.Run(fmt.Sprintf("cache_ttl=%v,negative_ttl=%v", c.cache, c.negative), func(t *testing.T) {
			b.dir.CacheTTL, b.dir.NegativeTTL = c.cache, c.negative
			r := startSet(t, b, "")
			clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			r.dirs[0].now = clk.now
			ctx := context.Background()
			for i, after := range []time.Duration{
				time.Second, 30 * time.Second, 59 * time.Second, time.Minute, 90 * time.Second,
				4 * time.Minute, 5 * time.Minute, 6 * time.Minute, 2 * time.Hour,
			} {
				found := fmt.Sprintf("found%d-%d@a.example", i, time.Now().UnixNano())
				unknown := fmt.Sprintf("unknown%d-%d@a.example", i, time.Now().UnixNano())
				b.addUser(t, found, "login-"+found)
				lookup := func() {
					t.Helper()
					if login, ok := r.Login(ctx, b.dir.Name, found); !ok || login != "login-"+found {
						t.Fatalf("Login(%q) = %q, %v", found, login, ok)
					}
					if login, ok := r.Login(ctx, b.dir.Name, unknown); ok {
						t.Fatalf("Login(%q) = %q, true", unknown, login)
					}
				}
				lookup()
				q0 := histogramCount(t, r)
				clk.add(after)
				lookup()
				queries := histogramCount(t, r) - q0
				want := uint64(0)
				if after >= c.lifetime {
					want = 2
				}
				if queries != want {
					t.Errorf("a found and an unknown address asked for again %v after the first time: %d queries, want %d (lifetime %v)",
						after, queries, want, c.lifetime)
				}
			}
		})
	}
}
