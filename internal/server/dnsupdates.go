package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"mailautoconf/internal/certstore"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/dnsupdate"
	"mailautoconf/provision"
)

// updatesPerSecond paces serve's RFC 2136 updates: a provider of ten
// thousand domains changes in under a quarter of an hour, and a zone's
// server is never flooded.
const updatesPerSecond = 10

// locker is what the publisher needs of the certificate storage: a lock
// all replicas share (certmagic.Storage's Lock and Unlock).
type locker interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// localLock is the locker of a replica with no shared storage: it keeps
// its own updates apart. Several replicas without one may both send an
// update; the prerequisites of each (internal/dnsupdate) make the later
// one fail or find nothing to do, never half-apply.
type localLock struct{ mu sync.Mutex }

func (l *localLock) Lock(context.Context, string) error   { l.mu.Lock(); return nil }
func (l *localLock) Unlock(context.Context, string) error { l.mu.Unlock(); return nil }

// dnsPublisher keeps the records of the zones the catalog's dns_updates
// lists current while serving (docs/guide/dns-updates.md#serve): it
// pushes a domain's records when a catalog swapped in adds the domain or
// changes its provider's records, and when the DNS watch finds one of
// its records missing or drifted. Never the whole fleet: only those
// domains, one update each, paced, one replica at a time per domain (the
// storage's lock); each update reads the zone first, so that a replica
// that comes second finds nothing to do.
type dnsPublisher struct {
	target  dnsrecords.Target
	current func() *provision.Catalog
	lock    locker
	log     *slog.Logger
	getenv  func(string) string
	pace    *rate.Limiter
	timeout time.Duration

	// latest is the catalog last swapped in, not yet compared; last the
	// one compared (the worker's alone).
	latest atomic.Pointer[provision.Catalog]
	last   *provision.Catalog
	// zones are the updatable zones of zonesCat (zonesOf).
	zonesCat *provision.Catalog
	zones    *dnsupdate.Zones

	mu      sync.Mutex
	pending map[string]bool // domains (and pacc_txt names) to push
	queue   []string
	wake    chan struct{}

	// sent counts the update messages sent, pushed the names pushed
	// (sent or found up to date), for tests.
	sent, pushed atomic.Int64
	// results is mailautoconf_dns_updates_total: each name pushed, by
	// result; the labels are a closed set, never a name or an error.
	results *prometheus.CounterVec
}

// newDNSPublisher returns the publisher of serve's updates, or nil when
// the service has no public host or addresses (then no records can be
// derived; a catalog with dns_updates is logged as such). cat is the
// catalog served at start: its records are not pushed at start, only
// changes from it and what the watch finds.
func newDNSPublisher(cfg *Config, cat *provision.Catalog, current func() *provision.Catalog, log *slog.Logger, getenv func(string) string) (*dnsPublisher, error) {
	target, err := watchTarget(cfg)
	if err != nil {
		if len(cat.DNSUpdates()) > 0 {
			log.Warn("dns_updates: not updating DNS: the records need the service's public host or addresses (" + settingPrefix + "_PUBLIC_HOST, _PUBLIC_IPV4, _PUBLIC_IPV6)")
		}
		return nil, nil
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var lk locker = &localLock{}
	if cfg.Storage != "" {
		// The certificate storage's lock: replicas on one storage take
		// turns (internal/certstore). Open does not connect.
		st, err := certstore.Open(cfg.Storage, cfg.DataDir, certstore.Options{Log: log})
		if err != nil {
			return nil, err
		}
		lk = st
	}
	p := &dnsPublisher{
		target: target, current: current, lock: lk, log: log, getenv: getenv,
		pace: rate.NewLimiter(updatesPerSecond, 1), pending: map[string]bool{}, wake: make(chan struct{}, 1),
		last: cat,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailautoconf_dns_updates_total",
			Help: "Names of updatable zones serve pushed (docs/guide/dns-updates.md#in-serve), by result: updated, up_to_date, foreign (held by records this service did not write), failed.",
		}, []string{"result"}),
	}
	for _, r := range []string{"updated", "up_to_date", "foreign", "failed"} {
		p.results.WithLabelValues(r)
	}
	return p, nil
}

// collectors are the publisher's metrics; none when p is nil.
func (p *dnsPublisher) collectors() []prometheus.Collector {
	if p == nil {
		return nil
	}
	return []prometheus.Collector{p.results}
}

// catalogChanged is the directories' hook: it is called with the lock of
// the swap held, so it only wakes the worker, which compares.
func (p *dnsPublisher) catalogChanged(cat *provision.Catalog) {
	if p == nil {
		return
	}
	p.latest.Store(cat)
	p.poke()
}

// drifted is the DNS watch's hook for a domain found missing or drifted.
func (p *dnsPublisher) drifted(domain string) {
	if p == nil {
		return
	}
	p.enqueue(domain)
}

func (p *dnsPublisher) enqueue(names ...string) {
	p.mu.Lock()
	for _, n := range names {
		if !p.pending[n] {
			p.pending[n] = true
			p.queue = append(p.queue, n)
		}
	}
	p.mu.Unlock()
	p.poke()
}

func (p *dnsPublisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// start runs the worker until ctx ends.
func (p *dnsPublisher) start(ctx context.Context) {
	if p == nil {
		return
	}
	go func() {
		p.run(ctx)
		if c, ok := p.lock.(io.Closer); ok {
			_ = c.Close()
		}
	}()
}

func (p *dnsPublisher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		if cat := p.latest.Swap(nil); cat != nil {
			p.enqueue(p.changed(p.last, cat)...)
			p.last = cat
		}
		for {
			name, ok := p.next()
			if !ok {
				break
			}
			p.push(ctx, name)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

func (p *dnsPublisher) next() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return "", false
	}
	n := p.queue[0]
	p.queue = p.queue[1:]
	delete(p.pending, n)
	return n, true
}

// changed returns the domains of cat whose records differ from old's:
// new domains, and the domains of providers whose records changed; and
// the pacc_txt names whose digest changed. A provider's records are
// compared once, by a fingerprint (Derive at a placeholder domain), not
// once per domain.
func (p *dnsPublisher) changed(old, cat *provision.Catalog) []string {
	if len(cat.DNSUpdates()) == 0 {
		return nil
	}
	prints := map[*provision.Provider]string{}
	print := func(pr *provision.Provider) string {
		if f, ok := prints[pr]; ok {
			return f
		}
		f := recordsPrint(pr, p.target)
		prints[pr] = f
		return f
	}
	var out []string
	for _, pr := range cat.Providers() {
		if s := dnsrecords.Shared(pr, p.target.TTL); s != nil {
			before := ""
			if o := providerOf(old, pr.PACCTXT); o != nil {
				if os := dnsrecords.Shared(o, p.target.TTL); os != nil {
					before = os.Records[0].Text
				}
			}
			if before != s.Records[0].Text {
				out = append(out, "pacc_txt:"+pr.PACCTXT)
			}
		}
	}
	for _, d := range cat.Domains() {
		np, err := cat.Lookup(d)
		if err != nil {
			continue
		}
		op, err := old.Lookup(d)
		if err != nil || print(op) != print(np) {
			out = append(out, d)
		}
	}
	return out
}

// providerOf is the provider of cat whose pacc_txt is name, or nil.
func providerOf(cat *provision.Catalog, name string) *provision.Provider {
	for _, pr := range cat.Providers() {
		if pr.PACCTXT == name {
			return pr
		}
	}
	return nil
}

// recordsPrint is what a provider's domains publish, the domain's name
// aside: its records at a placeholder domain, with the PACC digest.
func recordsPrint(pr *provision.Provider, t dnsrecords.Target) string {
	d := dnsrecords.Derive(pr, "fingerprint.invalid", t)
	var b bytes.Buffer
	b.Write(dnsrecords.Zone([]dnsrecords.Domain{d}))
	for _, r := range d.Records {
		b.WriteString(r.Text)
	}
	return b.String()
}

// zonesOf returns the updatable zones of cat, their keys read once per
// catalog (the worker's alone). An entry whose key is missing or
// malformed is logged once and left out; the others are updated.
func (p *dnsPublisher) zonesOf(cat *provision.Catalog) *dnsupdate.Zones {
	if p.zonesCat != cat {
		zones, err := dnsupdate.NewZones(cat.DNSUpdates(), p.getenv)
		if err != nil {
			p.log.Error("dns_updates: not updating the zones of these entries", "error", err.Error())
		}
		p.zones, p.zonesCat = zones, cat
	}
	return p.zones
}

// push sends one domain's records (or a pacc_txt name's), under the lock
// of that name, and logs what happened. A domain in no dns_updates zone
// is left alone without a word: the watch reports it.
func (p *dnsPublisher) push(ctx context.Context, name string) {
	defer p.pushed.Add(1)
	cat := p.current()
	if len(cat.DNSUpdates()) == 0 {
		return
	}
	var want dnsrecords.Domain
	if txt, ok := strings.CutPrefix(name, "pacc_txt:"); ok {
		pr := providerOf(cat, txt)
		if pr == nil {
			return
		}
		s := dnsrecords.Shared(pr, p.target.TTL)
		if s == nil {
			return
		}
		want = *s
	} else {
		pr, d, err := cat.Resolve(name)
		if err != nil {
			return // no longer served
		}
		want = dnsrecords.Derive(pr, d, p.target)
	}
	zones := p.zonesOf(cat)
	if _, ok := zones.Of(want.Domain); !ok {
		return // before the pace: the watch reports domains of every zone
	}
	if err := p.pace.Wait(ctx); err != nil {
		return
	}
	u := &dnsupdate.Updater{Zones: zones, Timeout: p.timeout, Sent: func() { p.sent.Add(1) }}
	lockName := "mailautoconf_dns_update_" + want.Domain
	if err := p.lock.Lock(ctx, lockName); err != nil {
		p.log.Error("dns_updates: lock", "name", want.Domain, "error", err.Error())
		return
	}
	defer func() {
		// Unlock even when ctx has ended: a lock held past its holder
		// blocks the other replicas until it expires.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = p.lock.Unlock(uctx, lockName)
	}()
	plan, err := u.Plan(ctx, want, false)
	if err == nil {
		err = u.Apply(ctx, plan)
	}
	result := "updated"
	defer func() { p.results.WithLabelValues(result).Inc() }()
	switch {
	case errors.Is(err, dnsupdate.ErrForeign):
		result = "foreign"
		p.log.Warn("dns_updates: not updated: names held by records this service did not write", "name", want.Domain, "error", err.Error())
	case err != nil:
		result = "failed"
		p.log.Error("dns_updates: update failed; serving goes on", "name", want.Domain, "error", err.Error())
	case plan.Empty():
		result = "up_to_date"
	default:
		p.log.Info("dns_updates: updated", "name", want.Domain, "zone", plan.Zone.Name, "rrsets", len(plan.Changes))
	}
}
