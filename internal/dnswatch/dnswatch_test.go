package dnswatch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	testwait "mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/provision"
)

const publicHost = "mail.hoster.test"

// testCatalog serves domains with one provider (with a PACC document:
// ua-auto-config names too), plus tls_names.
func testCatalog(t testing.TB, domains ...string) *provision.Catalog {
	t.Helper()
	yaml := fmt.Sprintf(`providers:
  - id: hoster.test
    display_name: Hoster
    domains: [%s]
    tls_names: [webmail.hoster.test]
    incoming:
      - {protocol: imap, host: imap.hoster.test, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.hoster.test, port: 465, security: tls}
`, strings.Join(domains, ", "))
	cat, err := provision.Parse(provision.Source{Name: "catalog.yaml", Data: []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func newZone() *dnstest.LiveZone {
	z := dnstest.NewLiveZone()
	z.Add(
		publicHost+". 300 IN A 192.0.2.1",
		// ok.test points at us, with its SRV records.
		"autoconfig.ok.test. 300 IN CNAME "+publicHost+".",
		"autodiscover.ok.test. 300 IN CNAME "+publicHost+".",
		"_autodiscover._tcp.ok.test. 300 IN SRV 0 0 443 "+publicHost+".",
		"_imaps._tcp.ok.test. 300 IN SRV 0 1 993 imap.hoster.test.",
		"_submissions._tcp.ok.test. 300 IN SRV 0 1 465 smtp.hoster.test.",
		"_imap._tcp.ok.test. 300 IN SRV 0 0 0 .",
		"_pop3s._tcp.ok.test. 300 IN SRV 0 0 0 .",
		"_pop3._tcp.ok.test. 300 IN SRV 0 0 0 .",
		"_submission._tcp.ok.test. 300 IN SRV 0 0 0 .",
		// drift.test: autoconfig leads to another host.
		"autoconfig.drift.test. 300 IN CNAME elsewhere.test.",
		"elsewhere.test. 300 IN A 198.51.100.7",
		"autodiscover.drift.test. 300 IN CNAME "+publicHost+".",
		// conflict.test: a stale Microsoft 365 Autodiscover.
		"autoconfig.conflict.test. 300 IN CNAME "+publicHost+".",
		"autodiscover.conflict.test. 300 IN CNAME autodiscover.outlook.com.",
		"autodiscover.outlook.com. 300 IN A 203.0.113.9",
		// missing.test publishes nothing.
	)
	return z
}

func newWatch(t testing.TB, cat *provision.Catalog, server string, cfg Config) *Watch {
	t.Helper()
	var current atomic.Pointer[provision.Catalog]
	current.Store(cat)
	cfg.Resolvers = []string{server}
	cfg.Target = dnsrecords.Target{Host: publicHost}
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Catalog == nil {
		cfg.Catalog = current.Load
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestSweepStates(t *testing.T) {
	z := newZone()
	cat := testCatalog(t, "ok.test", "drift.test", "conflict.test", "missing.test")
	w := newWatch(t, cat, dnstest.ServeLive(t, z), Config{})
	if got := w.Counts(); got[Unchecked] != 4 {
		t.Errorf("Counts before the first sweep = %v, want 4 unchecked", got)
	}
	w.Sweep(t.Context())
	want := map[string]string{"ok.test": "ok", "drift.test": "drift", "conflict.test": "conflict", "missing.test": "missing"}
	for d, s := range want {
		v, ok := w.Domain(d)
		if !ok || v.State != s {
			t.Errorf("Domain(%q) = %q, %v, want %q", d, v.State, ok, s)
		}
		if v.Checked == nil || v.Changed == nil {
			t.Errorf("Domain(%q): no check times", d)
		}
	}
	if got := w.Counts(); got["ok"] != 1 || got["missing"] != 1 || got["drift"] != 1 || got["conflict"] != 1 || got[Unchecked] != 0 {
		t.Errorf("Counts = %v", got)
	}
	v, _ := w.Domain("DRIFT.test")
	ac := v.Records[0]
	if ac.Name != "autoconfig.drift.test." || ac.State != "drift" || !strings.Contains(ac.Found, "elsewhere.test") || ac.Detail == "" {
		t.Errorf("drift.test's autoconfig record = %+v", ac)
	}
	if ad := v.Records[1]; ad.State != "ok" || ad.Found != "" || ad.Detail != "" {
		t.Errorf("drift.test's autodiscover record = %+v, want ok with nothing found", ad)
	}
	if _, ok := w.Domain("unknown.test"); ok {
		t.Error(`Domain("unknown.test") found a domain not served`)
	}
	if w.Queries() == 0 {
		t.Error("Queries() = 0 after a sweep")
	}
}

func TestGate(t *testing.T) {
	z := newZone()
	cat := testCatalog(t, "ok.test", "drift.test", "conflict.test", "missing.test")
	w := newWatch(t, cat, dnstest.ServeLive(t, z), Config{})
	before := []struct {
		name string
		want bool
	}{
		{"autoconfig.ok.test", false}, // not checked yet
		{publicHost, true},
		{"webmail.hoster.test", true},
		{"autoconfig.unknown.test", true}, // not a served domain's
		{"www.ok.test", true},
	}
	for _, c := range before {
		if got := w.Gate(c.name); got != c.want {
			t.Errorf("before the sweep: Gate(%q) = %v, want %v", c.name, got, c.want)
		}
	}
	w.Sweep(t.Context())
	after := []struct {
		name string
		want bool
	}{
		{"autoconfig.ok.test", true},
		{"AUTODISCOVER.ok.test.", true},
		{"autoconfig.drift.test", false},
		{"autodiscover.drift.test", true},
		{"autodiscover.conflict.test", false},
		{"autoconfig.missing.test", false},
		{"ua-auto-config.ok.test", false}, // optional, and not published
	}
	for _, c := range after {
		if got := w.Gate(c.name); got != c.want {
			t.Errorf("after the sweep: Gate(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestGateWithoutTarget: with no public host nor address nothing can
// point at us, and the gate holds nothing back.
func TestGateWithoutTarget(t *testing.T) {
	cat := testCatalog(t, "ok.test")
	w, err := New(Config{Interval: time.Hour, Resolvers: []string{"127.0.0.1:1"}, Catalog: func() *provision.Catalog { return cat }})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Gate("autoconfig.ok.test") {
		t.Error("Gate without a target = false, want true")
	}
}

// TestRecheckOrders: a name published after the sweep is found by the
// recheck loop, well before the next sweep, and reported once.
func TestRecheckOrders(t *testing.T) {
	z := newZone()
	cat := testCatalog(t, "ok.test", "missing.test")
	var mu sync.Mutex
	var reported []string
	w := newWatch(t, cat, dnstest.ServeLive(t, z), Config{
		Interval: time.Hour,
		Recheck:  20 * time.Millisecond,
		PointsAtUs: func(names []string) {
			mu.Lock()
			reported = append(reported, names...)
			mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w.Sweep(ctx) // what Run's first sweep does, without waiting for it
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	testwait.WaitFor(t, 5*time.Second, "ok.test's names reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(reported, "autoconfig.ok.test") && slices.Contains(reported, "autodiscover.ok.test")
	})
	if w.Gate("autoconfig.missing.test") {
		t.Fatal("Gate(autoconfig.missing.test) = true before it is published")
	}
	checked := func() time.Time { v, _ := w.Domain("missing.test"); return *v.Checked }
	first := checked()
	z.Add("autoconfig.missing.test. 300 IN CNAME "+publicHost+".", "autodiscover.missing.test. 300 IN A 192.0.2.1")
	testwait.WaitFor(t, 5*time.Second, "autoconfig.missing.test let through", func() bool { return w.Gate("autoconfig.missing.test") })
	testwait.WaitFor(t, 5*time.Second, "missing.test's names reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(reported, "autoconfig.missing.test") && slices.Contains(reported, "autodiscover.missing.test")
	})
	v, _ := w.Domain("missing.test")
	if v.Records[0].State != "ok" || v.Records[1].State != "ok" {
		t.Errorf("after the recheck: %+v", v.Records[:2])
	}
	// The SRV records were not asked again: still missing, and the
	// domain's state counts only required records.
	if v.State != "ok" {
		t.Errorf("missing.test's state after the recheck = %q, want ok (its SRV records are optional)", v.State)
	}
	if checked().Before(first) {
		t.Error("check time went back")
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, n := range []string{"autoconfig.ok.test", "autoconfig.missing.test"} {
		if c := countOf(reported, n); c != 1 {
			t.Errorf("%s reported %d times, want once: %v", n, c, reported)
		}
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestCatalogChanges: a domain added shows as unchecked until checked, a
// domain removed is forgotten, and a domain whose records to publish
// changed shows as unchecked until checked again.
func TestCatalogChanges(t *testing.T) {
	z := newZone()
	var current atomic.Pointer[provision.Catalog]
	current.Store(testCatalog(t, "ok.test", "missing.test"))
	w := newWatch(t, nil, dnstest.ServeLive(t, z), Config{Catalog: current.Load})
	w.Sweep(t.Context())
	current.Store(testCatalog(t, "ok.test", "drift.test"))
	if v, ok := w.Domain("drift.test"); !ok || v.State != Unchecked || v.Checked != nil {
		t.Errorf("new domain: Domain = %+v, %v, want unchecked", v, ok)
	}
	if _, ok := w.Domain("missing.test"); ok {
		t.Error("a domain no longer served is still found")
	}
	w.Sweep(t.Context())
	w.mu.RLock()
	_, kept := w.results["missing.test"]
	w.mu.RUnlock()
	if kept {
		t.Error("the sweep kept the result of a domain no longer served")
	}
	// Another provider for ok.test: its records to publish change.
	other, err := provision.Parse(provision.Source{Name: "catalog.yaml", Data: []byte(`providers:
  - id: other.test
    domains: [ok.test]
    incoming:
      - {protocol: imap, host: imap.other.test, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.other.test, port: 465, security: tls}
`)})
	if err != nil {
		t.Fatal(err)
	}
	current.Store(other)
	v, _ := w.Domain("ok.test")
	if v.State != Unchecked || v.Checked == nil || len(v.Notes) == 0 {
		t.Errorf("changed records: Domain = %+v, want unchecked with a note", v)
	}
}

func TestList(t *testing.T) {
	z := newZone()
	cat := testCatalog(t, "ok.test", "drift.test", "conflict.test", "missing.test")
	w := newWatch(t, cat, dnstest.ServeLive(t, z), Config{})
	if page, total := w.List("", 0, 10); total != 4 || len(page) != 4 || page[0].State != Unchecked {
		t.Errorf("before the sweep: List = %d rows of %d", len(page), total)
	}
	w.Sweep(t.Context())
	cases := []struct {
		state         string
		offset, limit int
		want          []string
		total         int
	}{
		{"", 0, 10, []string{"conflict.test", "drift.test", "missing.test", "ok.test"}, 4},
		{"", 1, 2, []string{"drift.test", "missing.test"}, 4},
		{"", 4, 2, nil, 4},
		{"missing", 0, 10, []string{"missing.test"}, 1},
		{"ok", 0, 10, []string{"ok.test"}, 1},
		{Unchecked, 0, 10, nil, 0},
	}
	for _, c := range cases {
		page, total := w.List(c.state, c.offset, c.limit)
		var got []string
		for _, d := range page {
			got = append(got, d.Domain)
		}
		if total != c.total || !slices.Equal(got, c.want) {
			t.Errorf("List(%q, %d, %d) = %v of %d, want %v of %d", c.state, c.offset, c.limit, got, total, c.want, c.total)
		}
	}
}

func TestMetrics(t *testing.T) {
	z := newZone()
	cat := testCatalog(t, "ok.test", "drift.test", "conflict.test", "missing.test")
	w := newWatch(t, cat, dnstest.ServeLive(t, z), Config{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w.Collectors()...)
	if n := testutil.ToFloat64(gaugeOf(t, reg, Unchecked)); n != 4 {
		t.Errorf("unchecked before the sweep = %v, want 4", n)
	}
	w.Sweep(t.Context())
	for _, s := range []string{"ok", "missing", "drift", "conflict"} {
		if n := testutil.ToFloat64(gaugeOf(t, reg, s)); n != 1 {
			t.Errorf("mailautoconf_dns_domains{state=%q} = %v, want 1", s, n)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		seen[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	for _, name := range []string{"mailautoconf_dns_sweep_last_timestamp_seconds", "mailautoconf_dns_sweep_duration_seconds", "mailautoconf_dns_queries_total"} {
		if seen[name] <= 0 {
			t.Errorf("%s = %v, want more than 0", name, seen[name])
		}
	}
}

// gaugeOf collects mailautoconf_dns_domains{state=s} from reg.
func gaugeOf(t *testing.T, reg *prometheus.Registry, s string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mailautoconf_dns_domains" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == s {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return m.GetGauge().GetValue() })
			}
		}
	}
	t.Fatalf("no mailautoconf_dns_domains{state=%q}", s)
	return nil
}

func TestNewRefuses(t *testing.T) {
	cat := func() *provision.Catalog { return nil }
	for _, cfg := range []Config{
		{Interval: 0, Catalog: cat, Resolvers: []string{"127.0.0.1:53"}},
		{Interval: time.Hour, Recheck: -1, Catalog: cat, Resolvers: []string{"127.0.0.1:53"}},
		{Interval: time.Hour, Resolvers: []string{"127.0.0.1:53"}},
		{Interval: time.Hour, Catalog: cat, Resolvers: []string{"no port"}},
		{Interval: time.Hour, Catalog: cat, QPS: -1, Resolvers: []string{"127.0.0.1:53"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

// TestCompactRoundTrip: a result expands back to the check it was made of.
func TestCompactRoundTrip(t *testing.T) {
	want := dnsrecords.Derive(testCatalog(t, "x.test").Providers()[0], "x.test", dnsrecords.Target{Host: publicHost})
	d := dnscheck.Domain{Domain: "x.test", State: dnscheck.Conflict, Records: make([]dnscheck.Record, len(want.Records))}
	for i, r := range want.Records {
		d.Records[i] = dnscheck.Record{Record: r, State: dnscheck.State(i % 4)}
		if i%4 != 0 {
			d.Records[i].Found, d.Records[i].Detail = fmt.Sprint("found ", i), fmt.Sprint("detail ", i)
		}
	}
	r := compact(d, recordsSum(want.Records), time.Unix(1e9, 0))
	got := r.expand(want)
	if got.State != d.State || !slices.Equal(got.Records, d.Records) {
		t.Errorf("expand(compact(d)) = %+v\nwant %+v", got, d)
	}
	// autoconfig ok; autodiscover missing, ua-auto-config drift.
	if r.hosts != hostChecked|hostChecked<<1|hostChecked<<2|hostOK {
		t.Errorf("hosts = %08b", r.hosts)
	}
}

// TestRecheckChecksNewDomains: once a sweep has ended, a domain added to
// the catalog is checked whole by the next recheck, not the next sweep.
func TestRecheckChecksNewDomains(t *testing.T) {
	z := newZone()
	var current atomic.Pointer[provision.Catalog]
	current.Store(testCatalog(t, "missing.test"))
	w := newWatch(t, nil, dnstest.ServeLive(t, z), Config{Catalog: current.Load})
	current.Store(testCatalog(t, "missing.test", "ok.test"))
	w.Recheck(t.Context())
	if v, _ := w.Domain("ok.test"); v.State != Unchecked {
		t.Errorf("before the first sweep a recheck checked a new domain: %q", v.State)
	}
	w.Sweep(t.Context())
	current.Store(testCatalog(t, "missing.test", "ok.test", "drift.test"))
	w.Recheck(t.Context())
	v, _ := w.Domain("drift.test")
	if v.State != "drift" || v.Records[len(v.Records)-1].State == Unchecked {
		t.Errorf("after a recheck the new domain is %q, want drift, every record checked", v.State)
	}
	if !w.Gate("autodiscover.drift.test") {
		t.Error("Gate(autodiscover.drift.test) = false after the recheck")
	}
}

// TestResultTextBounded: what a customer's DNS puts in a result is cut.
func TestResultTextBounded(t *testing.T) {
	want := dnsrecords.Derive(testCatalog(t, "x.test").Providers()[0], "x.test", dnsrecords.Target{Host: publicHost})
	d := dnscheck.Domain{Domain: "x.test", Records: make([]dnscheck.Record, len(want.Records))}
	for i, r := range want.Records {
		d.Records[i] = dnscheck.Record{Record: r, State: dnscheck.Drift, Found: strings.Repeat("é", 20000), Detail: strings.Repeat("x", 20000)}
	}
	got := compact(d, 0, time.Now()).expand(want)
	for _, r := range got.Records {
		if len(r.Found) > maxText || len(r.Detail) > maxText || !strings.HasSuffix(r.Found, "...") || !utf8.ValidString(r.Found) {
			t.Fatalf("record kept %d bytes found, %d detail: %.40q", len(r.Found), len(r.Detail), r.Found)
		}
	}
}

// FuzzCompact: whatever a check found, its compact result expands back
// to the same states, and to found and detail texts cut by bounded only.
func FuzzCompact(f *testing.F) {
	f.Add(uint8(1), "CNAME elsewhere.test -> 198.51.100.7", "leads to elsewhere.test, not to this service")
	f.Add(uint8(3), "", "")
	f.Add(uint8(2), strings.Repeat("\xff", 500), "\x00\x80")
	want := dnsrecords.Derive(testCatalog(f, "x.test").Providers()[0], "x.test", dnsrecords.Target{Host: publicHost})
	f.Fuzz(func(t *testing.T, states uint8, found, detail string) {
		d := dnscheck.Domain{Domain: "x.test", Records: make([]dnscheck.Record, len(want.Records))}
		for i, r := range want.Records {
			d.Records[i] = dnscheck.Record{Record: r, State: dnscheck.State((int(states) >> (i % 4)) % 4)}
			if d.Records[i].State != dnscheck.OK {
				d.Records[i].Found, d.Records[i].Detail = found[:len(found)*i/len(want.Records)], detail
			}
		}
		got := compact(d, 1, time.Unix(0, 0)).expand(want)
		for i, r := range got.Records {
			w := d.Records[i]
			if r.State != w.State || r.Found != bounded(w.Found) || r.Detail != bounded(w.Detail) {
				t.Fatalf("record %d: got %v %q %q, want %v %q %q", i, r.State, r.Found, r.Detail, w.State, bounded(w.Found), bounded(w.Detail))
			}
		}
	})
}

// Drifted hears of each domain a sweep finds with a record missing or
// drifted (ok.test's optional PACC records are missing too), and of no
// domain whose records are all ok.
func TestDriftedHook(t *testing.T) {
	z := newZone()
	cat := testCatalog(t, "ok.test", "drift.test", "missing.test")
	// ok.test gets its PACC and _smtps records too: all ok.
	p, _ := cat.Lookup("ok.test")
	for _, r := range dnsrecords.Derive(p, "ok.test", dnsrecords.Target{Host: publicHost}).Records {
		if strings.Contains(r.Name, "ua-auto-config") || strings.HasPrefix(r.Name, "_smtps.") {
			z.Add(fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data))
		}
	}
	var mu sync.Mutex
	var got []string
	w := newWatch(t, cat, dnstest.ServeLive(t, z), Config{Drifted: func(d string) {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
	}})
	w.Sweep(context.Background())
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got)
	if !slices.Equal(got, []string{"drift.test", "missing.test"}) {
		t.Errorf("Drifted heard of %v, want drift.test and missing.test", got)
	}
}
