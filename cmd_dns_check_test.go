package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailautoconf/handlers"
	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/testutil/authdns"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/internal/testutil/testpki"
	"mailautoconf/provision"
)

// checkEnv clears the settings `dns --check` would otherwise take from
// the environment, and writes the fleet's catalog.
func checkEnv(t *testing.T, f *authdns.Fleet) string {
	t.Helper()
	for _, k := range []string{"CATALOG", "PUBLIC_HOST", "PUBLIC_IPV4", "PUBLIC_IPV6"} {
		t.Setenv(envPrefix+"_"+k, "")
	}
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, f.CatalogYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkJSON is `dns --check --json`'s document.
type checkJSON struct {
	Domains []dnscheck.Domain `json:"domains"`
	Summary struct {
		Records map[string]int `json:"records"`
		Domains map[string]int `json:"domains"`
		Queries int64          `json:"queries"`
	} `json:"summary"`
}

// TestDNSCheckFleet checks 1,000 customer domains served by a real
// named, with faults planted in a fifth of them (authdns.FaultOf), and
// holds every record's state, in text and in JSON, to what was planted.
func TestDNSCheckFleet(t *testing.T) {
	f := authdns.NewFleet(1000)
	srv := authdns.Start(t, f.Zones...)
	catalog := checkEnv(t, f)
	args := []string{"dns", "--check", "--catalog", catalog, "--public-host", authdns.FleetPublicHost,
		"--resolver", srv.Addr, "--qps", "0", "--timeout", "2s"}

	var out, errb bytes.Buffer
	start := time.Now()
	err := run(context.Background(), append(args, "--json"), &out, &errb)
	t.Logf("dns --check --json over %d domains: %v; %s", len(f.Domains), time.Since(start).Round(time.Millisecond), strings.TrimSpace(errb.String()))
	// Every fault but a stale PACC digest (an optional record) is a
	// required record's.
	if err == nil || !strings.Contains(err.Error(), "180 of 1000 domains: a required record not ok") {
		t.Errorf("dns --check --json: error %v, want 180 of 1000 domains with a required record not ok", err)
	}
	var doc checkJSON
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("dns --check --json: %v\n%.2000s", err, out.String())
	}
	if len(doc.Domains) != len(f.Domains) {
		t.Fatalf("dns --check --json: %d domains, want %d", len(doc.Domains), len(f.Domains))
	}
	wrong := 0
	for i, d := range doc.Domains {
		if d.Domain != f.Domains[i] || len(d.Records) != len(f.Want[i]) {
			t.Fatalf("domain %d = %s with %d records, want %s with %d", i, d.Domain, len(d.Records), f.Domains[i], len(f.Want[i]))
		}
		if d.State != f.DomainState(i) {
			t.Errorf("%s (%s): state %s, want %s", d.Domain, f.Faults[i], d.State, f.DomainState(i))
		}
		for j, r := range d.Records {
			if r.State != f.Want[i][j] {
				if wrong++; wrong <= 10 {
					t.Errorf("%s (%s): %s %s = %s (%s: %s), want %s", d.Domain, f.Faults[i], r.Type, r.Name, r.State, r.Found, r.Detail, f.Want[i][j])
				}
			}
			if r.State != dnscheck.OK && r.Detail == "" {
				t.Errorf("%s: %s %s is %s without a detail", d.Domain, r.Type, r.Name, r.State)
			}
		}
	}
	counts := f.Counts()
	for _, s := range dnscheck.States {
		if got := doc.Summary.Records[s.String()]; got != counts[s] {
			t.Errorf("summary: %d records %s, want %d", got, s, counts[s])
		}
	}
	wantDomains := map[string]int{"ok": 800, "missing": 100, "drift": 70, "conflict": 30}
	for s, n := range wantDomains {
		if doc.Summary.Domains[s] != n {
			t.Errorf("summary: %d domains %s, want %d", doc.Summary.Domains[s], s, n)
		}
	}
	if doc.Summary.Queries <= 0 {
		t.Errorf("summary: %d queries", doc.Summary.Queries)
	}
	t.Logf("%d queries, %.1f a domain", doc.Summary.Queries, float64(doc.Summary.Queries)/float64(len(f.Domains)))

	// The text: a line per domain with its state, a line per record
	// starting with its state, the summary.
	out.Reset()
	errb.Reset()
	if err := run(context.Background(), args, &out, &errb); err == nil {
		t.Error("dns --check: no error with 180 domains failing")
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	k := 0
	for i, d := range f.Domains {
		if k >= len(lines) || lines[k] != fmt.Sprintf("%s: %s", d, f.DomainState(i)) {
			t.Fatalf("line %d = %q, want the domain line of %s (%s)", k+1, lines[min(k, len(lines)-1)], d, f.DomainState(i))
		}
		k++
		for j, r := range f.Records[i].Records {
			fields := strings.Fields(lines[k])
			if want := f.Want[i][j].String(); fields[0] != want || !strings.Contains(lines[k], " "+r.Name) {
				t.Fatalf("line %d = %q, want %s %s %s", k+1, lines[k], want, r.Type, r.Name)
			}
			if f.Want[i][j] != dnscheck.OK && !strings.Contains(lines[k], "| fix: "+r.Name+" ") {
				t.Errorf("line %d = %q: no fix", k+1, lines[k])
			}
			k++
		}
	}
	wantSummary := []string{
		fmt.Sprintf("records: ok %d, missing 100, drift 70, conflict 30", counts[dnscheck.OK]),
		"domains: ok 800, missing 100, drift 70, conflict 30",
	}
	if got := lines[k:]; strings.Join(got, "\n") != strings.Join(wantSummary, "\n") {
		t.Errorf("summary lines = %q, want %q", got, wantSummary)
	}
}

// TestDNSCheckResolversDisagree asks named and a second server that says
// autoconfig.<d> is elsewhere: the record is drift, saying who said
// what, and the others are ok, for the one domain named.
func TestDNSCheckResolversDisagree(t *testing.T) {
	f := authdns.NewFleet(25)
	const i = 20 // Correct
	if f.Faults[i] != authdns.Correct {
		t.Fatalf("fleet domain %d is %s, want correct", i, f.Faults[i])
	}
	srv := authdns.Start(t, f.Zones...)
	catalog := checkEnv(t, f)
	d := f.Domains[i]
	zone := dnstest.Zone{}
	zone.Add(authdns.FleetPublicHost + ". 300 IN A " + authdns.FleetPublicAddr.String())
	for _, r := range f.Records[i].Records {
		if r.Name == "autoconfig."+d+"." {
			zone.Add(r.Name + " 300 IN A " + authdns.OtherAddr.String())
			continue
		}
		zone.Add(r.Name + " 300 IN " + r.Type + " " + r.Data)
	}
	other := dnstest.ServeZone(t, zone, nil)

	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"dns", "--check", "--json", "--catalog", catalog, "--public-host", authdns.FleetPublicHost,
		d, "--resolver", srv.Addr, "--resolver", other}, &out, &errb)
	if err == nil {
		t.Error("dns --check: no error with autoconfig drifting")
	}
	var doc checkJSON
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(doc.Domains) != 1 || doc.Domains[0].Domain != d {
		t.Fatalf("domains = %+v, want %s only", doc.Domains, d)
	}
	for _, r := range doc.Domains[0].Records {
		want := dnscheck.OK
		if r.Name == "autoconfig."+d+"." {
			want = dnscheck.Drift
			if !strings.Contains(r.Detail, "resolvers disagree: "+srv.Addr+" says ok") || !strings.Contains(r.Detail, other+" says drift") {
				t.Errorf("autoconfig detail = %q, want both resolvers' words", r.Detail)
			}
		}
		if r.State != want {
			t.Errorf("%s %s = %s (%s), want %s", r.Type, r.Name, r.State, r.Detail, want)
		}
	}
	if doc.Domains[0].State != dnscheck.Drift {
		t.Errorf("domain state = %s, want drift", doc.Domains[0].State)
	}

	// The same domain through named alone is ok, and so is the exit
	// status.
	out.Reset()
	if err := run(context.Background(), []string{"dns", "--check", "--catalog", catalog, "--public-host", authdns.FleetPublicHost,
		"--resolver", srv.Addr, d}, &out, &errb); err != nil {
		t.Errorf("dns --check %s through named: %v\n%s", d, err, out.String())
	}
	if !strings.HasPrefix(out.String(), d+": ok\n") || !strings.Contains(out.String(), "domains: ok 1, missing 0, drift 0, conflict 0") {
		t.Errorf("dns --check %s:\n%s", d, out.String())
	}

	// A stale PACC digest is drift, but of an optional record: the exit
	// status is 0.
	stale := f.Domains[18]
	if f.Faults[18] != authdns.StalePACC {
		t.Fatalf("fleet domain 18 is %s, want stale-pacc", f.Faults[18])
	}
	out.Reset()
	if err := run(context.Background(), []string{"dns", "--check", "--catalog", catalog, "--public-host", authdns.FleetPublicHost,
		"--resolver", srv.Addr, stale}, &out, &errb); err != nil {
		t.Errorf("dns --check %s (stale PACC digest only): %v", stale, err)
	}
	if !strings.HasPrefix(out.String(), stale+": drift\n") || !strings.Contains(out.String(), "  drift (optional)    TXT   _ua-auto-config."+stale+". | found: v=UAAC1") {
		t.Errorf("dns --check %s:\n%s", stale, out.String())
	}
}

// TestDNSCheckBadFlags: each mistake is an error naming the flag, before
// any query.
func TestDNSCheckBadFlags(t *testing.T) {
	f := authdns.NewFleet(1)
	catalog := checkEnv(t, f)
	base := []string{"dns", "--catalog", catalog}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--check", "--public-host", "h.example", "--resolver", "nohost"}, "want HOST:PORT"},
		{[]string{"--check", "--public-host", "h.example", "--resolver", "127.0.0.1:99999"}, "is not 1 to 65535"},
		{[]string{"--check", "--public-host", "h.example", "--resolver", ":53"}, "want HOST:PORT"},
		{[]string{"--check", "--public-host", "h.example", "--qps", "-1"}, "--qps -1"},
		{[]string{"--check", "--public-host", "h.example", "--qps", "NaN"}, "--qps NaN"},
		{[]string{"--check", "--public-host", "h.example", "--timeout", "0s"}, "--timeout 0s"},
		{[]string{"--check", "--public-host", "h.example", "--timeout", "soon"}, "invalid value"},
		{[]string{"--resolver", "127.0.0.1:53"}, "--resolver needs --check"},
		{[]string{"--qps", "10"}, "--qps needs --check"},
		{[]string{"--timeout", "1s"}, "--timeout needs --check"},
		{[]string{"--check"}, "--check needs the service's public host"},
		{[]string{"--check", "--public-host", "h.example", "unknown.example"}, "unknown.example"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		args := append(append([]string{}, base...), tc.args...)
		err := run(context.Background(), args, &out, &errb)
		if err == nil || !strings.Contains(err.Error()+errb.String(), tc.want) {
			t.Errorf("mailautoconf %s: error %v (stderr %q), want one saying %q", strings.Join(tc.args, " "), err, errb.String(), tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("mailautoconf %s: wrote %q", strings.Join(tc.args, " "), out.String())
		}
	}
}

// TestDNSCheckProbe: autoconfig.<d> leading to another address is drift
// when what answers there is our own document (the handlers, as behind a
// proxy), and conflict when another service answers with a document
// naming other servers. The probe asks port 443 (https://autoconfig.<d>),
// so the test listens there on 127.0.0.3 and 127.0.0.4, which needs
// root or CAP_NET_BIND_SERVICE.
func TestDNSCheckProbe(t *testing.T) {
	f := authdns.NewFleet(25)
	catalog := checkEnv(t, f)
	ours, foreign := f.Domains[20], f.Domains[21]
	zone := dnstest.Zone{}
	zone.Add(authdns.FleetPublicHost + ". 300 IN A " + authdns.FleetPublicAddr.String())
	for i, addr := range map[int]string{20: "127.0.0.3", 21: "127.0.0.4"} {
		d := f.Domains[i]
		for _, r := range f.Records[i].Records {
			if r.Name == "autoconfig."+d+"." {
				zone.Add(r.Name + " 300 IN A " + addr)
				continue
			}
			zone.Add(r.Name + " 300 IN " + r.Type + " " + r.Data)
		}
	}
	resolver := dnstest.ServeZone(t, zone, nil)

	var cat atomic.Pointer[provision.Catalog]
	cat.Store(f.Catalog)
	h := handlers.New(handlers.Config{Catalog: &cat, Log: slog.New(slog.DiscardHandler), PublicHost: authdns.FleetPublicHost})
	serveTLS(t, "127.0.0.3:443", h.Router())
	serveTLS(t, "127.0.0.4:443", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<?xml version="1.0"?><clientConfig version="1.1"><emailProvider id="other.example">`+
			`<incomingServer type="imap"><hostname>imap.other.example</hostname><port>993</port></incomingServer>`+
			`<outgoingServer type="smtp"><hostname>smtp.other.example</hostname><port>465</port></outgoingServer>`+
			`</emailProvider></clientConfig>`)
	}))

	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"dns", "--check", "--json", "--catalog", catalog, "--public-host", authdns.FleetPublicHost,
		"--resolver", resolver, "--qps", "0", ours, foreign}, &out, &errb)
	if err == nil {
		t.Error("dns --check: no error")
	}
	var doc checkJSON
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := map[string]struct {
		state dnscheck.State
		says  string
	}{
		ours:    {dnscheck.Drift, "leads to 127.0.0.3, not to this service"},
		foreign: {dnscheck.Conflict, `another service answers: https://autoconfig.` + foreign + `/mail/config-v1.1.xml answers with a configuration document of provider "other.example"`},
	}
	for _, d := range doc.Domains {
		r := d.Records[0]
		if r.Name != "autoconfig."+d.Domain+"." || r.State != want[d.Domain].state || !strings.Contains(r.Detail, want[d.Domain].says) {
			t.Errorf("%s: %s %s = %s (%s), want %s saying %q", d.Domain, r.Type, r.Name, r.State, r.Detail, want[d.Domain].state, want[d.Domain].says)
		}
	}
	if len(doc.Domains) != 2 {
		t.Errorf("%d domains, want 2", len(doc.Domains))
	}
}

// serveTLS serves h over HTTPS with a self-signed certificate at addr
// until the test ends; it skips the test when addr cannot be bound.
func serveTLS(t *testing.T, addr string, h http.Handler) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("listening on %s: %v (CI runs as root)", addr, err)
		}
		t.Skipf("skipping: listening on %s: %v (needs root or CAP_NET_BIND_SERVICE)", addr, err)
	}
	key := testpki.Key(t)
	leaf := testpki.SelfSigned(t, key, testpki.Cert{Names: []string{"autoconfig.example"}, NotAfter: time.Now().Add(time.Hour)})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close() })
}
