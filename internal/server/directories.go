package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"mailautoconf/internal/directory"
	"mailautoconf/internal/metrics"
	"mailautoconf/provision"
)

// directories keeps the served catalog what it must always be: the file
// catalog plus the domain lists of its directories (README
// "Directories"). It owns the swaps of the served catalog: a reload of the
// files swaps in the new file catalog merged with the lists held now, and
// a directory's new list swaps in the file catalog merged with it. The
// lists come from an internal/directory Set, run in the background, off
// the request path; a reload that changes the directories makes a new
// Set and closes the old one once its Run has returned.
//
// It is also the handlers' Logins (the current Set's lookups) and a
// Readiness: /readyz answers 503 until every directory's domains were
// read once, from the server or from the copy on disk.
type directories struct {
	getenv  func(string) string
	dataDir string
	log     *slog.Logger
	metrics *metrics.Registry
	current *atomic.Pointer[provision.Catalog]
	// hooks are called with every catalog swapped in, in order (the
	// HTTPS names follow it); set before start.
	hooks []func(*provision.Catalog)

	set atomic.Pointer[directory.Set] // for Login and Ready, lock-free
	// merged are the names of the directories whose lists the served
	// catalog holds: a Set has a list a moment before it is swapped in,
	// and /readyz must not answer 200 in between.
	merged atomic.Pointer[map[string]bool]

	// stop ends Run with an error: a list read for the first time after
	// start shares a domain with another owner. Set before start.
	stop func(error)

	mu   sync.Mutex // serialises swaps; guards what follows
	base *provision.Catalog
	run  *setRun
	// first is the Set made at start: a list of it merged for the
	// first time is merged strictly (firstRead), as a list kept on disk
	// is at start.
	first *setRun
	ctx   context.Context // Run's
	// warned are the warnings of the last merge swapped in: a warning
	// is logged once, not at every refresh while it holds.
	warned map[string]bool
}

// setRun is one Set and its Run goroutine.
type setRun struct {
	set    *directory.Set
	cancel context.CancelFunc
	done   chan struct{}
}

// newDirectories opens the directories of the file catalog cat and
// returns the catalog to serve at start: cat merged, strictly (a domain
// served twice is an error, as for two providers of the files), with the
// lists kept on disk from an earlier run. Nothing connects yet: start
// does, in the background.
func newDirectories(cat *provision.Catalog, getenv func(string) string, dataDir string, current *atomic.Pointer[provision.Catalog], metrics *metrics.Registry, log *slog.Logger) (*directories, *provision.Catalog, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	d := &directories{getenv: getenv, dataDir: dataDir, log: log, metrics: metrics, current: current, base: cat}
	run, err := d.newSet(cat)
	if err != nil {
		return nil, nil, err
	}
	lists := run.set.Lists()
	served, warnings, err := directory.Merge(cat, lists)
	if err != nil {
		run.set.Close()
		return nil, nil, fmt.Errorf("catalog refused with its directories' domains kept on disk:\n%w", err)
	}
	d.warn(warnings)
	if err := metrics.TryRegister(run.set.Collectors()...); err != nil {
		run.set.Close()
		return nil, nil, fmt.Errorf("directory metrics: %w", err)
	}
	d.run, d.first = run, run
	d.set.Store(run.set)
	d.noteMerged(lists)
	return d, served, nil
}

// newSet opens cat's directories; its Run is not started.
func (d *directories) newSet(cat *provision.Catalog) (*setRun, error) {
	r := &setRun{done: make(chan struct{})}
	set, err := directory.New(directory.Options{
		Directories: cat.Directories(), Getenv: d.getenv, DataDir: d.dataDir, Log: d.log,
		OnChange: func(lists map[string][]string) { d.listsChanged(r, lists) },
	})
	if err != nil {
		return nil, err
	}
	r.set = set
	return r, nil
}

// start runs the current Set until ctx ends, and closes it then.
func (d *directories) start(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ctx = ctx
	d.startRun(d.run)
	if n := len(d.base.Directories()); n > 0 {
		d.log.Info("directories: reading domain lists in the background", "directories", n)
	}
}

func (d *directories) startRun(r *setRun) {
	ctx, cancel := context.WithCancel(d.ctx)
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.set.Run(ctx)
		r.set.Close()
	}()
}

// listsChanged swaps in the file catalog merged with a Set's new lists,
// unless the Set is no longer the current one. A domain claimed twice
// stays with the owner that serves it now (provision.MergeOptions). A
// list of the Set made at start that is merged for the first time (no
// copy was on disk) is the start's: a domain it shares with another owner
// stops the service with an error naming both, as it refuses to start
// with such a list on disk.
func (d *directories) listsChanged(r *setRun, lists map[string][]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run != r {
		return
	}
	o := provision.MergeOptions{Served: d.current.Load()}
	if r == d.first {
		o.FirstRead = d.firstRead(lists)
	}
	served, warnings, err := d.base.MergeDirectoryDomains(lists, o)
	if err != nil && len(o.FirstRead) > 0 && d.stop != nil {
		err = fmt.Errorf("catalog refused with its directories' domains first read:\n%w", err)
		d.log.Error("directories: a domain list read for the first time shares a domain with another owner: stopping", "err", err)
		d.stop(err)
		return
	}
	if err != nil {
		d.log.Error("directories: domain lists not merged; the previous catalog keeps serving", "err", err)
		return
	}
	d.warn(warnings)
	d.swap(served)
	d.noteMerged(lists)
	d.log.Info("directories: domain lists swapped in", "domains", served.DomainCount())
}

// fileCatalog swaps in a newly loaded file catalog merged with the lists
// held now, for the reloader. When its directories differ from the
// current ones, a new Set is made for them first (its lists from disk)
// and the old one is closed once its Run has returned; a new Set that
// cannot be made (a variable unset) refuses the reload, and the old
// catalog keeps serving.
func (d *directories) fileCatalog(cat *provision.Catalog) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	run := d.run
	if !sameDirectories(d.base.Directories(), cat.Directories()) {
		var err error
		if run, err = d.newSet(cat); err != nil {
			return err
		}
	}
	// The files are the start's: a domain they gain that a directory
	// serves now refuses the reload (provision.MergeOptions.Served).
	served, warnings, err := cat.MergeDirectoryDomains(run.set.Lists(), provision.MergeOptions{Served: d.current.Load()})
	if err != nil {
		if run != d.run {
			run.set.Close()
		}
		return err
	}
	d.warn(warnings)
	if run != d.run {
		old := d.run
		d.metrics.Unregister(old.set.Collectors()...)
		if err := d.metrics.TryRegister(run.set.Collectors()...); err != nil {
			d.log.Warn("directory metrics not registered", "err", err)
		}
		d.run = run
		d.set.Store(run.set)
		if d.ctx != nil {
			d.startRun(run)
			old.cancel()
		}
		d.log.Info("directories changed: their domain lists are read again", "directories", len(cat.Directories()))
	}
	d.base = cat
	d.swap(served)
	d.noteMerged(run.set.Lists())
	return nil
}

// firstRead names the directories of lists not merged before; d.mu is
// held.
func (d *directories) firstRead(lists map[string][]string) map[string]bool {
	merged := *d.merged.Load()
	var out map[string]bool
	for name := range lists {
		if !merged[name] {
			if out == nil {
				out = map[string]bool{}
			}
			out[name] = true
		}
	}
	return out
}

// names is the set of the names of lists.
func names(lists map[string][]string) map[string]bool {
	m := make(map[string]bool, len(lists))
	for name := range lists {
		m[name] = true
	}
	return m
}

// noteMerged records the directories whose lists the served catalog now
// holds.
func (d *directories) noteMerged(lists map[string][]string) {
	m := names(lists)
	d.merged.Store(&m)
}

// swap stores the served catalog and tells the hooks; d.mu is held.
func (d *directories) swap(served *provision.Catalog) {
	d.current.Store(served)
	d.metrics.Served(served)
	for _, hook := range d.hooks {
		hook(served)
	}
}

// refresh asks the directories to read their domain lists now (SIGHUP).
func (d *directories) refresh() { d.set.Load().Refresh() }

// wait returns once the current Set's Run has returned (after start's
// ctx ended) and closed it; a Set never started is closed at once.
func (d *directories) wait() {
	d.mu.Lock()
	r := d.run
	d.mu.Unlock()
	if r.cancel == nil {
		r.set.Close()
		return
	}
	<-r.done
}

// warn logs the warnings of a merge swapped in that the last one did not
// have: a row skipped is named once, not at every refresh while the
// directory lists it; d.mu is held.
func (d *directories) warn(warnings []string) {
	now := make(map[string]bool, len(warnings))
	for _, w := range warnings {
		now[w] = true
		if !d.warned[w] {
			d.log.Warn("directory domain skipped", "warning", w)
		}
	}
	d.warned = now
}

// Login implements handlers.Logins with the current Set.
func (d *directories) Login(ctx context.Context, dir, address string) (string, bool) {
	return d.set.Load().Login(ctx, dir, address)
}

// Ready implements handlers.Readiness.
func (d *directories) Ready() (bool, []string) {
	set := d.set.Load()
	lists := set.Lists()
	if len(lists) == 0 && len(d.current.Load().Directories()) == 0 {
		return true, nil
	}
	names := make([]string, 0, len(lists))
	for name, l := range lists {
		names = append(names, fmt.Sprintf("%s %d", name, len(l)))
	}
	slices.Sort(names)
	lines := []string{"directories: domains " + strings.Join(names, ", ")}
	if err := set.Ready(); err != nil {
		return false, append(lines, "directories: "+err.Error())
	}
	merged := *d.merged.Load()
	for name := range lists {
		if !merged[name] {
			return false, append(lines, "directories: domain list of "+name+" read, not yet served")
		}
	}
	return true, lines
}

// sameDirectories reports whether two catalogs declare the same
// directories, where they are declared aside.
func sameDirectories(a, b []*provision.Directory) bool {
	return slices.EqualFunc(a, b, func(x, y *provision.Directory) bool {
		xc, yc := *x, *y
		xc.Source, yc.Source = "", ""
		return xc == yc
	})
}
