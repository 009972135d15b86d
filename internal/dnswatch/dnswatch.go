// Package dnswatch is serve's DNS watch (MAILAUTOCONF_DNS_WATCH): in the
// background, never on a request's path, it checks every served domain's
// records by dnscheck's rules, the ones `mailautoconf dns --check` uses,
// and keeps the last result of each domain, compactly, for /domains, the
// metrics and the ACME gate (Gate): with the watch on, a discovery host
// name gets its certificate ordered only once it points at us
// (docs/guide/watch.md).
//
// It keeps no records to publish: they are derived again from the current
// catalog (dnsrecords.Derive) whenever a result is viewed, so that 100,000
// domains cost a hundred-odd bytes each.
package dnswatch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// DefaultRecheck is how often the host names of domains that do not point
// at us yet are asked again (MAILAUTOCONF_DNS_WATCH_RECHECK's default): a
// hoster who has just published a CNAME waits minutes for the
// certificate, not a whole sweep.
const DefaultRecheck = 2 * time.Minute

// firstSweep is how long after Run the first sweep starts (or the
// interval, when shorter): soon, but after the listeners are up.
const firstSweep = 5 * time.Second

// notifyEvery bounds how often Config.PointsAtUs is called: names that
// start to point at us in the same second are reported together, since
// each call may look through every waiting certificate.
const notifyEvery = time.Second

// Config is what a Watch is built from.
type Config struct {
	// Interval separates the starts of two sweeps of every domain; a
	// sweep longer than it is followed by the next at once.
	Interval time.Duration
	// Recheck separates two passes over the host names of the domains
	// that did not point at us (and, after the first sweep, the domains
	// added since); 0: DefaultRecheck.
	Recheck time.Duration
	// QPS paces the sweeps' queries, and the rechecks' apart at the same
	// value (0: unpaced).
	QPS float64
	// Resolvers are the DNS servers asked (host:port); none: the system's.
	// A record is ok only when every one agrees.
	Resolvers []string
	// Timeout bounds one query (0: dnscheck.DefaultTimeout).
	Timeout time.Duration
	// Workers is how many domains are checked at once; 0: chosen from
	// QPS. The pace, not this, bounds the load on the resolvers.
	Workers int
	// Target is how clients should reach us: the records to publish are
	// derived from it (MAILAUTOCONF_PUBLIC_HOST, _IPV4, _IPV6). The
	// addresses of Target.Host, resolved at each sweep, count as ours too.
	Target dnsrecords.Target
	// Catalog returns the catalog served now: its domains are watched.
	Catalog func() *provision.Catalog
	// Probe tells conflict from drift for autoconfig names leading
	// elsewhere (dnscheck.HTTPProbe); nil: they are drift.
	Probe dnscheck.Probe
	// Log takes the sweeps' summaries and failures.
	Log *slog.Logger
	// PointsAtUs, when set, is called with host names that have just
	// started to point at us (or were seen to for the first time), in
	// the background, at most once a second: the ACME manager orders the
	// certificates that waited for them (certs.Manager.DNSChanged).
	PointsAtUs func(names []string)
	// Drifted, when set, is called with a domain whose whole check
	// found a record missing or drifted (optional ones too), from the
	// sweep's goroutines: it must not block. Serve's RFC 2136 updates
	// push that domain's records again (docs/guide/dns-updates.md).
	Drifted func(domain string)
	// Now is the clock of the check times; nil: time.Now. Tests set it
	// for golden files.
	Now func() time.Time
}

// Watch checks every served domain's DNS records in the background and
// keeps the last result of each. Its methods are safe for concurrent use.
type Watch struct {
	cfg  Config
	pool *dnscheck.Pool // the sweeps'
	// recheckPool is the rechecks': a pace of their own (the same
	// value), so that a sweep of hours never holds up a name that has
	// just started to point at us.
	recheckPool *dnscheck.Pool
	workers     int
	us          atomic.Pointer[dnscheck.Us]
	hasHost     bool // Target yields host records: without, nothing can point at us

	mu      sync.RWMutex
	results map[string]result // by domain, normal form

	lastSweep atomic.Int64 // unix nanoseconds of the last sweep's end; 0: none yet
	sweepTime atomic.Int64 // its duration, nanoseconds

	pendingMu sync.Mutex
	pending   []string      // names that started to point at us, not yet reported
	notify    chan struct{} // one wake-up for the notifier

	metrics *metrics
}

// New returns a watch for cfg; Run starts it. It fails on a resolver
// that is not host:port, a negative pace or interval, or no catalog.
func New(cfg Config) (*Watch, error) {
	switch {
	case cfg.Interval <= 0:
		return nil, fmt.Errorf("DNS watch interval %v: want more than 0", cfg.Interval)
	case cfg.Recheck < 0:
		return nil, fmt.Errorf("DNS watch recheck %v: want more than 0", cfg.Recheck)
	case cfg.Catalog == nil:
		return nil, errors.New("DNS watch: no catalog")
	}
	if cfg.Recheck == 0 {
		cfg.Recheck = DefaultRecheck
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	pool, err := dnscheck.NewPool(cfg.Resolvers, cfg.QPS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	recheckPool, err := dnscheck.NewPool(cfg.Resolvers, cfg.QPS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	w := &Watch{
		cfg:         cfg,
		pool:        pool,
		recheckPool: recheckPool,
		workers:     workersFor(cfg),
		hasHost:     cfg.Target.Host != "" || len(cfg.Target.IPv4)+len(cfg.Target.IPv6) > 0,
		results:     map[string]result{},
		notify:      make(chan struct{}, 1),
	}
	us := w.configuredUs(nil)
	w.us.Store(&us)
	w.metrics = newMetrics(w)
	return w, nil
}

// workersFor chooses how many domains are checked at once: enough to keep
// the pace with a resolver answering in a second or so, and bounded so
// that an unpaced watch does not flood it.
func workersFor(cfg Config) int {
	switch {
	case cfg.Workers > 0:
		return cfg.Workers
	case cfg.QPS <= 0:
		return 64
	}
	return min(max(int(cfg.QPS), 4), 256)
}

// configuredUs is Us from the target's host and addresses, plus resolved
// (the public host's addresses).
func (w *Watch) configuredUs(resolved []netip.Addr) dnscheck.Us {
	addrs := append(append(append([]netip.Addr(nil), w.cfg.Target.IPv4...), w.cfg.Target.IPv6...), resolved...)
	return dnscheck.NewUs(w.cfg.Target.Host, addrs...)
}

// Queries is how many DNS queries the watch has sent.
func (w *Watch) Queries() int64 { return w.pool.Queries() + w.recheckPool.Queries() }

// Run sweeps every served domain each Interval, the first soon after it
// is called, and re-checks the host names of the domains that do not
// point at us each Recheck, until ctx ends.
func (w *Watch) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { w.notifier(ctx) })
	wg.Go(func() { w.recheckLoop(ctx) })
	w.sweepLoop(ctx)
	wg.Wait()
}

func (w *Watch) sweepLoop(ctx context.Context) {
	t := time.NewTimer(min(firstSweep, w.cfg.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		w.Sweep(ctx)
		t.Reset(max(0, w.cfg.Interval-time.Since(start)))
	}
}

func (w *Watch) recheckLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.Recheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.Recheck(ctx)
	}
}

// Sweep checks every domain of the current catalog once, Workers at a
// time, then forgets the domains the catalog no longer serves. It returns
// when done or when ctx ends (a domain whose check ctx cut short keeps
// its previous result).
func (w *Watch) Sweep(ctx context.Context) {
	start := w.cfg.Now()
	q0 := w.pool.Queries()
	w.resolveUs(ctx)
	cat := w.cfg.Catalog()
	if cat == nil {
		return
	}
	domains := cat.Domains()
	w.each(ctx, domains, func(d string) { w.checkDomain(ctx, w.pool, cat, d, false) })
	if ctx.Err() != nil {
		return
	}
	w.forgetUnserved()
	end := w.cfg.Now()
	took := end.Sub(start)
	w.sweepTime.Store(int64(took))
	w.lastSweep.Store(end.UnixNano())
	counts := w.Counts()
	w.cfg.Log.Info("DNS watch: sweep done", "domains", len(domains), "took", took.Round(time.Millisecond),
		"queries", w.pool.Queries()-q0, "ok", counts[dnscheck.OK.String()], "missing", counts[dnscheck.Missing.String()],
		"drift", counts[dnscheck.Drift.String()], "conflict", counts[dnscheck.Conflict.String()])
}

// Recheck asks again, for every domain whose discovery host names did
// not all point at us at its last check, those host names only; and once
// a sweep has ended, checks whole the domains added to the catalog since
// (a new customer's certificates then wait minutes, not a sweep).
func (w *Watch) Recheck(ctx context.Context) {
	if !w.hasHost {
		return
	}
	cat := w.cfg.Catalog()
	if cat == nil {
		return
	}
	var waiting, added []string
	w.mu.RLock()
	for d, r := range w.results {
		if r.waiting() {
			waiting = append(waiting, d)
		}
	}
	if w.lastSweep.Load() != 0 {
		for _, d := range cat.Domains() {
			if _, ok := w.results[d]; !ok {
				added = append(added, d)
			}
		}
	}
	w.mu.RUnlock()
	w.each(ctx, added, func(d string) { w.checkDomain(ctx, w.recheckPool, cat, d, false) })
	w.each(ctx, waiting, func(d string) { w.checkDomain(ctx, w.recheckPool, cat, d, true) })
}

// each calls f for every domain, w.workers at a time, until ctx ends.
func (w *Watch) each(ctx context.Context, domains []string, f func(string)) {
	next := make(chan string)
	var wg sync.WaitGroup
	for range min(w.workers, len(domains)) {
		wg.Go(func() {
			for d := range next {
				f(d)
			}
		})
	}
	defer wg.Wait()
	defer close(next)
	for _, d := range domains {
		select {
		case next <- d:
		case <-ctx.Done():
			return
		}
	}
}

// resolveUs resolves the public host's addresses: what its A/AAAA
// records hold now counts as ours. On failure the last known set stays.
func (w *Watch) resolveUs(ctx context.Context) {
	h := w.cfg.Target.Host
	if h == "" {
		return
	}
	addrs, err := w.pool.Addresses(ctx, h)
	if err != nil {
		if ctx.Err() == nil {
			w.cfg.Log.Warn("DNS watch: the public host's addresses", "error", err)
		}
		return
	}
	us := w.configuredUs(addrs)
	w.us.Store(&us)
}

// checkDomain checks domain's records (with hostsOnly, its discovery
// host names' only, merged into its last result) and stores the result.
func (w *Watch) checkDomain(ctx context.Context, pool *dnscheck.Pool, cat *provision.Catalog, domain string, hostsOnly bool) {
	p, d, err := cat.Resolve(domain)
	if err != nil {
		return
	}
	want := dnsrecords.Derive(p, d, w.cfg.Target)
	sum := recordsSum(want.Records)
	c := dnscheck.Checker{Pool: pool, Us: *w.us.Load(), Probe: w.cfg.Probe}
	var got dnscheck.Domain
	if hostsOnly {
		w.mu.RLock()
		old, ok := w.results[d]
		w.mu.RUnlock()
		if !ok || old.sum != sum {
			return // the next sweep checks it whole
		}
		got = old.expand(want)
		sub, at := hostRecords(want)
		for i, r := range c.Check(ctx, sub).Records {
			got.Records[at[i]] = r
		}
		got.State = domainState(got.Records)
	} else {
		got = c.Check(ctx, want)
	}
	if ctx.Err() != nil {
		return // cut short: what was not asked would read as missing
	}
	if w.cfg.Drifted != nil && !hostsOnly && slices.ContainsFunc(got.Records, func(r dnscheck.Record) bool {
		return r.State == dnscheck.Missing || r.State == dnscheck.Drift
	}) {
		w.cfg.Drifted(d)
	}
	w.store(d, compact(got, sum, w.cfg.Now()))
}

// hostRecords returns want with only its discovery host names' records,
// and where each stands in want.
func hostRecords(want dnsrecords.Domain) (dnsrecords.Domain, []int) {
	sub := dnsrecords.Domain{Domain: want.Domain}
	var at []int
	for i, r := range want.Records {
		if hostIndex(r, want.Domain) >= 0 {
			sub.Records = append(sub.Records, r)
			at = append(at, i)
		}
	}
	return sub, at
}

// domainState is the worst state of records that counts (dnscheck.Counts).
func domainState(rs []dnscheck.Record) dnscheck.State {
	s := dnscheck.OK
	for _, r := range rs {
		if dnscheck.Counts(r.Record, r.State) && r.State > s {
			s = r.State
		}
	}
	return s
}

// store keeps r as domain's last result, its change time carried over
// when nothing changed, and reports the host names that now point at us
// and did not.
func (w *Watch) store(domain string, r result) {
	w.mu.Lock()
	old, had := w.results[domain]
	if had && old.same(r) {
		r.changed = old.changed
	}
	if !served(w.cfg.Catalog(), domain) {
		w.mu.Unlock()
		return // dropped while it was checked
	}
	w.results[domain] = r
	w.mu.Unlock()
	if now := r.hosts &^ old.hosts & hostsOK; now != 0 {
		var names []string
		for i, l := range hostLabels {
			if now&(hostOK<<i) != 0 {
				names = append(names, l+"."+domain)
			}
		}
		w.pointsAtUs(names)
	}
}

// forgetUnserved drops the results of domains the catalog no longer
// serves.
func (w *Watch) forgetUnserved() {
	cat := w.cfg.Catalog()
	if cat == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.results {
		if !served(cat, d) {
			delete(w.results, d)
		}
	}
}

// pointsAtUs queues names for Config.PointsAtUs.
func (w *Watch) pointsAtUs(names []string) {
	if w.cfg.PointsAtUs == nil {
		return
	}
	w.pendingMu.Lock()
	w.pending = append(w.pending, names...)
	w.pendingMu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// notifier calls Config.PointsAtUs with the names queued, at most once a
// second, until ctx ends.
func (w *Watch) notifier(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.notify:
		}
		w.pendingMu.Lock()
		names := w.pending
		w.pending = nil
		w.pendingMu.Unlock()
		if len(names) > 0 {
			w.cfg.PointsAtUs(names)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(notifyEvery):
		}
	}
}

// Gate says whether the certificate of name may be ordered (ACME ahead
// of time, certs.ACMEOptions.DNSGate): true for a name that is not a
// discovery host name (autoconfig., autodiscover., ua-auto-config.) of a
// served domain (the public host, a provider's tls_names), and for one
// the watch has seen point at us; false until then, and for a name it
// has not checked yet. Without a public host or addresses nothing can
// point at us, and every name is let through.
func (w *Watch) Gate(name string) bool {
	if !w.hasHost {
		return true
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == strings.ToLower(strings.TrimSuffix(w.cfg.Target.Host, ".")) {
		return true
	}
	label, domain, ok := strings.Cut(name, ".")
	i := labelIndex(label)
	if !ok || i < 0 {
		return true
	}
	cat := w.cfg.Catalog()
	if !served(cat, domain) {
		return true
	}
	w.mu.RLock()
	r, ok := w.results[domain]
	w.mu.RUnlock()
	return ok && r.hosts&(hostOK<<i) != 0
}

// hostLabels are the discovery host names' first labels, whose
// certificates Gate holds back; the index is the bit of result.hosts.
var hostLabels = [...]string{"autoconfig", "autodiscover", "ua-auto-config"}

const (
	hostChecked = 1 // << index: the name was checked
	hostOK      = 1 << 4
	hostsOK     = 0x70
)

func labelIndex(l string) int {
	for i, h := range hostLabels {
		if l == h {
			return i
		}
	}
	return -1
}

// hostIndex is the index in hostLabels of r's owner when r is one of
// domain's discovery host names' records (CNAME, A, AAAA), else -1.
func hostIndex(r dnsrecords.Record, domain string) int {
	if r.Type != "CNAME" && r.Type != "A" && r.Type != "AAAA" {
		return -1
	}
	label, rest, _ := strings.Cut(r.Name, ".")
	if rest != domain+"." {
		return -1
	}
	return labelIndex(label)
}

// recordsSum fingerprints the records to publish: a result is shown
// against the records derived now only when they are the ones checked.
func recordsSum(rs []dnsrecords.Record) uint32 {
	h := fnv.New32a()
	for _, r := range rs {
		h.Write([]byte(r.Name))
		h.Write([]byte{0})
		h.Write([]byte(r.Type))
		h.Write([]byte{0})
		h.Write([]byte(r.Data))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// result is the last check of one domain, compact: what was found is
// one interned string (a state byte per record, and the found and detail
// text of the records not ok), so that the domains of a hoster, most of
// which find the same ("not published: no such name (NXDOMAIN)" for each
// optional record), share one copy; times are Unix seconds. The records
// themselves are derived again when it is viewed.
type result struct {
	found   unique.Handle[string] // encodeFound's
	checked int64                 // Unix seconds of the check
	changed int64                 // Unix seconds of the check that first found this result
	sum     uint32                // recordsSum of the records checked
	state   dnscheck.State
	hosts   uint8 // per hostLabels index i: hostChecked<<i, hostOK<<i
}

// maxRecords bounds the records a result holds: Derive gives about a
// dozen.
const maxRecords = 255

// maxText bounds what a result keeps of a record's Found and Detail:
// DNS is the customer's, and 64 TXT records of 512 bytes each at one
// name (dnscheck's bounds) must not cost 32 KB a domain.
const maxText = 400

func compact(d dnscheck.Domain, sum uint32, now time.Time) result {
	recs := d.Records[:min(len(d.Records), maxRecords)]
	r := result{found: unique.Make(encodeFound(recs)), checked: now.Unix(), changed: now.Unix(), sum: sum, state: d.State}
	for _, rec := range recs {
		if h := hostIndex(rec.Record, d.Domain); h >= 0 {
			if r.hosts&(hostChecked<<h) == 0 {
				r.hosts |= hostChecked<<h | hostOK<<h
			}
			if rec.State != dnscheck.OK {
				r.hosts &^= hostOK << h
			}
		}
	}
	return r
}

// encodeFound writes, for each record, its state byte, followed for a
// record not ok by its Found and Detail, each after its length (uvarint).
func encodeFound(recs []dnscheck.Record) string {
	var b []byte
	for _, rec := range recs {
		b = append(b, byte(rec.State))
		if rec.State != dnscheck.OK {
			for _, t := range []string{bounded(rec.Found), bounded(rec.Detail)} {
				b = binary.AppendUvarint(b, uint64(len(t)))
				b = append(b, t...)
			}
		}
	}
	return string(b)
}

// bounded cuts s to maxText bytes, on a rune boundary, marking the cut.
func bounded(s string) string {
	if len(s) <= maxText {
		return s
	}
	return strings.ToValidUTF8(s[:maxText-3], "") + "..."
}

// decodeFound fills the states, Found and Detail of recs from
// encodeFound's s; records beyond s stay as they are.
func decodeFound(s string, recs []dnscheck.Record) {
	text := func() string {
		n, k := binary.Uvarint([]byte(s))
		if k <= 0 || uint64(len(s)-k) < n {
			s = ""
			return ""
		}
		t := s[k : k+int(n)]
		s = s[k+int(n):]
		return t
	}
	for i := range recs {
		if s == "" {
			return
		}
		recs[i].State, s = dnscheck.State(s[0]), s[1:]
		if recs[i].State != dnscheck.OK {
			recs[i].Found = text()
			recs[i].Detail = text()
		}
	}
}

// same reports whether r found what o found (times aside).
func (r result) same(o result) bool { return r.found == o.found && r.sum == o.sum }

// waiting reports whether a discovery host name checked did not point at
// us.
func (r result) waiting() bool {
	checked := r.hosts & 0x07
	return checked != 0 && r.hosts>>4 != checked
}

// expand is r as a dnscheck.Domain against want, the records derived now
// (r.sum must be theirs).
func (r result) expand(want dnsrecords.Domain) dnscheck.Domain {
	out := dnscheck.Domain{Domain: want.Domain, State: r.state, Records: make([]dnscheck.Record, len(want.Records)), Notes: want.Notes}
	for i, rec := range want.Records {
		out.Records[i].Record = rec
	}
	decodeFound(r.found.Value(), out.Records)
	return out
}

// served reports whether cat serves domain (in normal form).
func served(cat *provision.Catalog, domain string) bool {
	if cat == nil {
		return false
	}
	_, d, err := cat.Resolve(domain)
	return err == nil && d == domain
}
