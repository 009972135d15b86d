// Command enumerate measures what an attacker learns from the time of
// one autoconfig request: whether an address exists in a login directory
// (docs/guide/directories.md#privacy; issue 23, item 2). It runs the service's binary
// against a PostgreSQL database of its own on loopback, whose users'
// logins are their addresses, so that a found and an unknown address get
// the same bytes: only the time can tell them apart.
//
//	go build -o /tmp/mailautoconf . && go run ./bench/enumerate -bin /tmp/mailautoconf
//
// For each scenario it takes fresh addresses, N found and N unknown,
// primes them (one request each, in a random order) unless the scenario
// is "cold", waits, then probes each once on one keep-alive connection in
// a new random order. It prints each kind's median and quartiles, and how
// often a one-probe classifier is right: a latency threshold chosen on
// half of the probes (as an attacker would calibrate on addresses whose
// fate it knows) and scored on the other half; 50% is a coin. The
// scenarios, with the directory's cache_ttl and negative_ttl given:
//
//	cold     no prime: both kinds are a query
//	within   probed 1 s after the prime, within both lifetimes
//	between  probed after -between (default 10 s): past negative_ttl,
//	         within cache_ttl (5 s and 30 s by default: the shipped 1 m and
//	         5 m, scaled down)
//
// It is a measurement, not a test: nothing asserts on its figures.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "enumerate:", err)
		os.Exit(1)
	}
}

type config struct {
	bin, pg                   string
	n, others                 int
	cacheTTL, negTTL, between time.Duration
	port                      int
	scenarios                 []string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("enumerate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.bin, "bin", "", "the mailautoconf binary to measure (required)")
	fs.StringVar(&c.pg, "pg", "postgres://postgres@127.0.0.1:5432", "PostgreSQL server (user and host; a database is created and dropped)")
	fs.IntVar(&c.n, "n", 300, "addresses of each kind per scenario")
	fs.IntVar(&c.others, "others", 10000, "further users in the table")
	fs.DurationVar(&c.cacheTTL, "cache-ttl", 30*time.Second, "the directory's cache_ttl")
	fs.DurationVar(&c.negTTL, "negative-ttl", 5*time.Second, "the directory's negative_ttl")
	fs.DurationVar(&c.between, "between", 10*time.Second, "wait of the between scenario")
	fs.IntVar(&c.port, "port", 18590, "the service's port on 127.0.0.1")
	scen := fs.String("scenarios", "cold,within,between", "scenarios to run, in order")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.bin == "" {
		return errors.New("-bin is required")
	}
	c.scenarios = strings.Split(*scen, ",")

	admin, err := sql.Open("pgx", c.pg+"/postgres?sslmode=disable")
	if err != nil {
		return err
	}
	defer admin.Close()
	db := fmt.Sprintf("enumerate_%d", os.Getpid())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+db); err != nil {
		return err
	}
	defer admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)")
	dbURL := c.pg + "/" + db + "?sslmode=disable"
	if err := fill(ctx, dbURL, c); err != nil {
		return err
	}

	work, err := os.MkdirTemp("", "enumerate")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	catalog := filepath.Join(work, "catalog.yaml")
	yaml := fmt.Sprintf(`directories:
  - name: hosting
    type: postgres
    url_env: ENUMERATE_DB_URL
    domains: SELECT domain FROM domain
    login: SELECT login FROM mail_user WHERE email = $1
    refresh: 0s
    cache_ttl: %s
    negative_ttl: %s
providers:
  - id: hosting.example
    directory: hosting
    incoming: [{protocol: imap, host: imap.hosting.example, port: 993, security: tls, username: "%%LOGIN%%"}]
    outgoing: [{protocol: smtp, host: smtp.hosting.example, port: 465, security: tls, username: "%%LOGIN%%"}]
`, c.cacheTTL, c.negTTL)
	if err := os.WriteFile(catalog, []byte(yaml), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(work, "service.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(c.bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + work, "ENUMERATE_DB_URL=" + dbURL,
		fmt.Sprintf("MAILAUTOCONF_LISTEN=127.0.0.1:%d", c.port), "MAILAUTOCONF_CATALOG=" + catalog,
		"MAILAUTOCONF_CATALOG_WATCH=false",
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	base := fmt.Sprintf("http://127.0.0.1:%d", c.port)
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 1, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}, Timeout: 10 * time.Second}
	if err := waitReady(client, base); err != nil {
		log, _ := os.ReadFile(logf.Name())
		return fmt.Errorf("%v; service log:\n%s", err, log)
	}
	fmt.Fprintf(stdout, "binary %s; cache_ttl %s, negative_ttl %s; %d found and %d unknown addresses a scenario; %d other users\n",
		c.bin, c.cacheTTL, c.negTTL, c.n, c.n, c.others)
	fmt.Fprintf(stdout, "%-8s %-7s %9s %9s %9s   %s\n", "scenario", "kind", "p25 µs", "p50 µs", "p75 µs", "one-probe classifier right")
	for _, s := range c.scenarios {
		var wait time.Duration
		switch s {
		case "cold":
		case "within":
			wait = time.Second
		case "between":
			wait = c.between
		default:
			return fmt.Errorf("unknown scenario %q", s)
		}
		found, unknown := addresses(s, c.n)
		all := append(slices.Clone(found), unknown...)
		if s != "cold" {
			rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			for _, a := range all {
				if _, err := probe(client, base, a); err != nil {
					return err
				}
			}
			time.Sleep(wait)
		}
		rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		lat := map[string]time.Duration{}
		for _, a := range all {
			d, err := probe(client, base, a)
			if err != nil {
				return err
			}
			lat[a] = d
		}
		var lf, lu []time.Duration
		for _, a := range found {
			lf = append(lf, lat[a])
		}
		for _, a := range unknown {
			lu = append(lu, lat[a])
		}
		acc := classify(lf, lu)
		for _, k := range []struct {
			name string
			l    []time.Duration
		}{{"found", lf}, {"unknown", lu}} {
			q := quartiles(k.l)
			extra := ""
			if k.name == "found" {
				extra = fmt.Sprintf("%.0f%%", 100*acc)
			}
			fmt.Fprintf(stdout, "%-8s %-7s %9.0f %9.0f %9.0f   %s\n", s, k.name, q[0], q[1], q[2], extra)
		}
	}
	return nil
}

// addresses are a scenario's own: found ones are in the table, unknown
// ones are not.
func addresses(scenario string, n int) (found, unknown []string) {
	for i := range n {
		found = append(found, fmt.Sprintf("%s-user%d@hosting.example", scenario, i))
		unknown = append(unknown, fmt.Sprintf("%s-nobody%d@hosting.example", scenario, i))
	}
	return found, unknown
}

func fill(ctx context.Context, dbURL string, c config) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var found []string
	for _, s := range c.scenarios {
		f, _ := addresses(s, c.n)
		found = append(found, f...)
	}
	for _, q := range []string{
		`CREATE TABLE domain (domain text PRIMARY KEY)`,
		`INSERT INTO domain VALUES ('hosting.example')`,
		`CREATE TABLE mail_user (email text PRIMARY KEY, login text NOT NULL)`,
		fmt.Sprintf(`INSERT INTO mail_user SELECT 'other' || i || '@hosting.example', 'other' || i || '@hosting.example' FROM generate_series(1, %d) i`, c.others),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	// The login is the address: the answer's bytes do not tell.
	if _, err := db.ExecContext(ctx, `INSERT INTO mail_user SELECT e, e FROM unnest($1::text[]) e`, found); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `ANALYZE mail_user`)
	return err
}

func waitReady(client *http.Client, base string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := client.Get(base + "/readyz"); err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("service not ready in 20 s")
}

// probe asks for the address's autoconfig document and returns the time
// from sending the request to the last byte of the answer.
func probe(client *http.Client, base, address string) (time.Duration, error) {
	u := base + "/mail/config-v1.1.xml?emailaddress=" + url.QueryEscape(address)
	start := time.Now()
	r, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if r.StatusCode != 200 || !strings.Contains(string(body), "<username>"+address+"</username>") {
		return 0, fmt.Errorf("%s: status %d, body %.200q", address, r.StatusCode, body)
	}
	return d, nil
}

func quartiles(l []time.Duration) [3]float64 {
	s := slices.Sorted(slices.Values(l))
	us := func(i int) float64 { return float64(s[i]) / float64(time.Microsecond) }
	return [3]float64{us(len(s) / 4), us(len(s) / 2), us(len(s) * 3 / 4)}
}

// classify returns the share of probes a one-probe threshold classifier
// gets right: the threshold (and which side is "found") chosen on the
// even-numbered probes of each kind, scored on the odd-numbered ones.
func classify(found, unknown []time.Duration) float64 {
	split := func(l []time.Duration) (train, test []time.Duration) {
		for i, d := range l {
			if i%2 == 0 {
				train = append(train, d)
			} else {
				test = append(test, d)
			}
		}
		return train, test
	}
	ftrain, ftest := split(found)
	utrain, utest := split(unknown)
	score := func(f, u []time.Duration, thr time.Duration, foundFast bool) float64 {
		right := 0
		for _, d := range f {
			if (d < thr) == foundFast {
				right++
			}
		}
		for _, d := range u {
			if (d < thr) != foundFast {
				right++
			}
		}
		return float64(right) / float64(len(f)+len(u))
	}
	best, thr, fast := -1.0, time.Duration(0), true
	for _, t := range append(slices.Clone(ftrain), utrain...) {
		for _, ff := range []bool{true, false} {
			if s := score(ftrain, utrain, t, ff); s > best {
				best, thr, fast = s, t, ff
			}
		}
	}
	return score(ftest, utest, thr, fast)
}
