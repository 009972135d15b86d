package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"mailautoconf/provision"
)

// Defaults where a directory's durations are zero or negative. provision
// fills the catalog's defaults; these only keep a Set sane without them.
const (
	defaultTimeout = 500 * time.Millisecond
	// backgroundFactor: a login query that outlives the caller's timeout
	// goes on for up to this many timeouts, to fill the cache for the
	// next request, and is then cancelled.
	backgroundFactor = 10
	// maxInFlight bounds one directory's login queries under way at
	// once (distinct addresses; one address makes one). Past it a miss
	// answers the fallback at once: a slow directory must not collect
	// goroutines without bound.
	maxInFlight = 256
	// Retries after a failed domain refresh start at retryMin and double
	// up to retryMax (never beyond the directory's refresh interval).
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// Options configure a Set.
type Options struct {
	// Directories are the catalog's.
	Directories []*provision.Directory
	// Getenv reads the connection URLs and bind passwords.
	Getenv func(string) string
	// DataDir, when set, keeps each directory's last good domain list in
	// DataDir/directories/ and reads it back at start.
	DataDir string
	// Log receives the refresh failures and recoveries; nil discards.
	Log *slog.Logger
	// OnChange, when set, receives every directory's current domain list
	// (Lists) each time one changed, from the refresh goroutines, one call
	// at a time. It is not called for the lists read from disk by New:
	// take those from Lists before Run.
	OnChange func(lists map[string][]string)
}

// Set is the runtime over a catalog's directories: domain lists kept
// fresh in the background, login lookups through a cache. Its methods are
// safe for concurrent use.
type Set struct {
	log      *slog.Logger
	dataDir  string
	onChange func(map[string][]string)
	metrics  *metrics
	dirs     []*dir
	byName   map[string]*dir
	notify   sync.Mutex // one OnChange at a time, in order
	retryMin time.Duration
}

// dir is one directory's state.
type dir struct {
	cfg      *provision.Directory
	src      Source
	log      *slog.Logger
	m        dirMetrics
	timeout  time.Duration
	hasDoms  bool
	hasLogin bool

	domains atomic.Pointer[[]string] // the last good list; nil before the first
	kick    chan struct{}            // Refresh

	// Refresh state, touched by the directory's refresh goroutine only.
	refreshDown  failState
	lastGoodRead time.Time

	cache    *cache
	ttl      time.Duration    // every answer's lifetime in the cache: cfg.AnswerTTL()
	now      func() time.Time // time.Now; tests turn it forward
	group    singleflight.Group
	inFlight chan struct{}
	lookMu   sync.Mutex // guards lookDown
	lookDown failState
}

// failState turns a run of failures into two log lines: one when it
// starts, one when it ends.
type failState struct {
	down     bool
	since    time.Time
	failures int
}

// New opens every directory (without connecting) and reads the domain
// lists kept in DataDir. It fails when a directory cannot be opened: its
// type is unknown, its URL variable unset or not a URL.
func New(opt Options) (*Set, error) {
	s := &Set{
		log: opt.Log, dataDir: opt.DataDir, onChange: opt.OnChange,
		metrics: newMetrics(), byName: make(map[string]*dir), retryMin: retryMin,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opt.Getenv == nil {
		return nil, errors.New("directory: Options.Getenv is nil")
	}
	for _, c := range opt.Directories {
		if _, dup := s.byName[c.Name]; dup {
			s.Close()
			return nil, fmt.Errorf("directory %q: declared twice", c.Name)
		}
		src, err := Open(c, opt.Getenv)
		if err != nil {
			s.Close()
			return nil, err
		}
		d := &dir{
			cfg: c, src: src, log: s.log, m: s.metrics.dir(c.Name),
			timeout: c.Timeout, kick: make(chan struct{}, 1),
			hasDoms:  c.HasDomains(),
			hasLogin: c.HasLogin(),
			cache:    newCache(CacheEntries, CacheBytes),
			ttl:      c.AnswerTTL(),
			now:      time.Now,
			inFlight: make(chan struct{}, maxInFlight),
		}
		if d.timeout <= 0 {
			d.timeout = defaultTimeout
		}
		if !d.hasDoms {
			d.m.ready.Set(1)
		} else if s.dataDir != "" {
			s.loadCopy(d)
		}
		s.dirs = append(s.dirs, d)
		s.byName[c.Name] = d
	}
	return s, nil
}

// Collectors are the Set's metrics, for the server's registry.
func (s *Set) Collectors() []prometheus.Collector { return s.metrics.collectors() }

// Run reads each directory's domain list now and then every refresh
// interval (or, for an interval of 0, on Refresh only; after a failure it
// retries with a growing delay until a read succeeds). It returns when ctx
// ends.
func (s *Set) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range s.dirs {
		if d.hasDoms {
			wg.Go(func() { s.loop(ctx, d) })
		}
	}
	wg.Wait()
}

// Refresh asks every directory to read its domain list again now (SIGHUP).
// It does not wait for the reads.
func (s *Set) Refresh() {
	for _, d := range s.dirs {
		select {
		case d.kick <- struct{}{}:
		default: // one is pending already
		}
	}
}

func (s *Set) loop(ctx context.Context, d *dir) {
	retry := s.retryMin
	for {
		wait := d.cfg.Refresh
		if s.refresh(ctx, d) {
			retry = s.retryMin
		} else {
			if wait <= 0 || retry < wait {
				wait = retry
			}
			retry = min(2*retry, retryMax)
		}
		var tick <-chan time.Time
		var t *time.Timer
		if wait > 0 {
			t = time.NewTimer(wait)
			tick = t.C
		}
		select {
		case <-ctx.Done():
		case <-d.kick:
		case <-tick:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// refresh reads one directory's list, keeps it when it is good, and
// reports whether it was.
func (s *Set) refresh(ctx context.Context, d *dir) bool {
	list, err := d.src.Domains(ctx)
	if ctx.Err() != nil {
		return true // shutting down: neither a failure nor news
	}
	now := time.Now()
	if err != nil {
		d.m.failures.Inc()
		f := &d.refreshDown
		if !f.down {
			f.down, f.since, f.failures = true, now, 0
			old := d.domains.Load()
			args := []any{"directory", d.cfg.Name, "err", err}
			if old != nil {
				args = append(args, "serving_domains", len(*old), "read_at", d.lastGoodRead.UTC().Format(time.RFC3339))
			}
			s.log.Warn("directory: domain list not read; the last good list keeps serving", args...)
		}
		f.failures++
		return false
	}
	if f := &d.refreshDown; f.down {
		s.log.Info("directory: domain list read again", "directory", d.cfg.Name,
			"failed_attempts", f.failures, "down_for", now.Sub(f.since).Round(time.Millisecond).String(), "domains", len(list))
		*f = failState{}
	}
	old := d.domains.Load()
	d.lastGoodRead = now
	d.m.lastGood.Set(float64(now.UnixNano()) / 1e9)
	d.m.ready.Set(1)
	if old != nil && slices.Equal(*old, list) {
		return true
	}
	d.domains.Store(&list)
	d.m.domains.Set(float64(len(list)))
	if s.dataDir != "" {
		if err := s.saveCopy(d, list, now); err != nil {
			s.log.Warn("directory: domain list not kept on disk", "directory", d.cfg.Name, "err", err)
		}
	}
	s.changed()
	return true
}

func (s *Set) changed() {
	if s.onChange == nil {
		return
	}
	s.notify.Lock()
	defer s.notify.Unlock()
	s.onChange(s.Lists())
}

// Lists returns each directory's current domain list, by directory name,
// for the directories that have domains and have read them (from the
// server or from disk). The slices are shared: do not modify them.
func (s *Set) Lists() map[string][]string {
	out := make(map[string][]string, len(s.dirs))
	for _, d := range s.dirs {
		if p := d.domains.Load(); p != nil {
			out[d.cfg.Name] = *p
		}
	}
	return out
}

// Ready returns nil once every directory's domain list was read once
// (from the server or from the copy on disk); else an error naming those
// still waiting, for /readyz.
func (s *Set) Ready() error {
	var waiting []string
	for _, d := range s.dirs {
		if d.hasDoms && d.domains.Load() == nil {
			waiting = append(waiting, d.cfg.Name)
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("directory domain lists not read yet: %s", strings.Join(waiting, ", "))
	}
	return nil
}

// Login returns the login name that the directory named holds for the
// address, and true; or "" and false when it holds none, when the
// directory has no login query, or when it could not answer within its
// timeout (the caller then uses the address: the fallback). A query that
// outlives the timeout goes on in the background and fills the cache.
// Errors are logged (once when lookups start failing, once when they work
// again) and counted, never cached. A found login and "no such user" are
// kept alike, for one lifetime (provision's AnswerTTL), so that whether a
// request waits for the directory does not depend on whether the address
// exists: 95% of single probes told them apart when they were kept for
// different times (bench/enumerate).
func (s *Set) Login(ctx context.Context, name, address string) (string, bool) {
	d := s.byName[name]
	if d == nil || !d.hasLogin {
		return "", false
	}
	return d.login(ctx, address)
}

// usable reports whether an address is worth a query: not empty, not
// too long, UTF-8 without control characters. The catalog's address
// parser has checked it already; this is the last guard before a server
// sees it, in each Source too. A NUL matters most: PostgreSQL refuses it
// in text (an error, not "no such user"), and a search of slapd 2.5
// through go-ldap for "alice@example.com\x00", NUL escaped as \00,
// found alice (TestMetacharacters).
func usable(address string) bool {
	return address != "" && len(address) <= MaxAddress && utf8.ValidString(address) &&
		!strings.ContainsFunc(address, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func (d *dir) login(ctx context.Context, address string) (string, bool) {
	if !usable(address) {
		d.m.lookups[ResultNotFound].Inc()
		return "", false
	}
	if a, ok := d.cache.get(address, d.now()); ok {
		d.m.lookups[ResultCacheHit].Inc()
		return a.login, a.found
	}
	ch := d.group.DoChan(address, func() (any, error) { return d.query(address) })
	t := time.NewTimer(d.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.Err != nil {
			d.m.lookups[ResultError].Inc()
			return "", false
		}
		a := r.Val.(answer)
		if a.found {
			d.m.lookups[ResultFound].Inc()
		} else {
			d.m.lookups[ResultNotFound].Inc()
		}
		return a.login, a.found
	case <-t.C:
	case <-ctx.Done():
	}
	d.m.lookups[ResultTimeout].Inc()
	return "", false
}

var errBusy = errors.New("too many lookups under way")

// query asks the server, off the caller's goroutine (singleflight's
// DoChan), and caches a definite answer.
func (d *dir) query(address string) (any, error) {
	select {
	case d.inFlight <- struct{}{}:
		defer func() { <-d.inFlight }()
	default:
		d.lookupFailed(fmt.Errorf("directory %q: login: %w (%d)", d.cfg.Name, errBusy, maxInFlight))
		return nil, errBusy
	}
	ctx, cancel := context.WithTimeout(context.Background(), backgroundFactor*d.timeout)
	defer cancel()
	start := time.Now()
	login, found, err := d.src.Login(ctx, address)
	d.m.latency.Observe(time.Since(start).Seconds())
	if errors.Is(err, ErrAmbiguous) {
		// The directory's data, not its health: a definite "no login".
		d.log.Warn("directory: several logins match one address; the address stands in", "directory", d.cfg.Name)
		d.log.Debug("directory: ambiguous login", "directory", d.cfg.Name, "address", address)
		login, found, err = "", false, nil
	}
	if err != nil {
		d.lookupFailed(err)
		return nil, err
	}
	d.lookupWorked()
	a := answer{login: login, found: found}
	d.cache.put(address, a, d.ttl, d.now())
	d.m.cacheSize.Set(float64(d.cache.len()))
	return a, nil
}

func (d *dir) lookupFailed(err error) {
	d.lookMu.Lock()
	defer d.lookMu.Unlock()
	f := &d.lookDown
	if !f.down {
		f.down, f.since, f.failures = true, time.Now(), 0
		d.log.Warn("directory: login lookups failing; addresses stand in for logins", "directory", d.cfg.Name, "err", err)
	}
	f.failures++
}

func (d *dir) lookupWorked() {
	d.lookMu.Lock()
	defer d.lookMu.Unlock()
	if f := &d.lookDown; f.down {
		d.log.Info("directory: login lookups work again", "directory", d.cfg.Name,
			"failed_lookups", f.failures, "down_for", time.Since(f.since).Round(time.Millisecond).String())
		*f = failState{}
	}
}

// Close closes every directory's connections. Call it after Run returned.
func (s *Set) Close() error {
	var errs []error
	for _, d := range s.dirs {
		errs = append(errs, d.src.Close())
	}
	return errors.Join(errs...)
}
