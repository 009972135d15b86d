package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"mailautoconf/internal/metrics"
	"mailautoconf/provision"
)

// reloadDebounce is how long the catalog's files must be left alone after
// a change before they are read: editors and config tools write a file in
// several steps, and a Kubernetes ConfigMap update is a burst of creates,
// renames and removes. Only events about the files Load reads count
// (watcher.relevant): a busy log file beside the catalog delays nothing.
const reloadDebounce = 250 * time.Millisecond

// reloadMaxDelay bounds the wait from the first change: a stream of
// changes with no quiet moment (a tool rewriting the file again and again)
// still reloads once a second.
const reloadMaxDelay = time.Second

// reloader swaps the served catalog for a newly loaded one, on SIGHUP and,
// unless MAILAUTOCONF_CATALOG_WATCH=false, when the catalog's files change
// however they change: rewritten in place, a new file renamed over the old
// one, a ConfigMap's "..data" symlink swapped, or their mode changed (a
// file saved 0600 and then made readable). A new catalog is parsed and
// validated whole by provision.Parse, then stored in one atomic step: a
// request sees the old catalog or the new one, never a mix. An invalid
// catalog is refused, its every error logged with file and line as at
// start, and the old one keeps serving. Files are read as provision.Load
// reads them: only regular files, each of bounded size, so no file makes
// the reloader wait.
type reloader struct {
	path    string
	current *atomic.Pointer[provision.Catalog]
	metrics *metrics.Registry
	log     *slog.Logger
	// hooks are called with every catalog swapped in, in order, from the
	// reloading goroutine: the HTTPS side follows the names.
	hooks []func(*provision.Catalog)
	// dirs, when set, swaps catalogs in instead of current and hooks: the
	// file catalog merged with the directories' lists (directories.go).
	// SIGHUP also has the directories read their lists again.
	dirs *directories

	mu sync.Mutex
	// seen fingerprints the files as last read, valid or not: a change
	// event that leaves them the same reloads nothing.
	seen [sha256.Size]byte
	// unreadable is the error of the last reading that failed, until one
	// succeeds: the same failure is reported once, not at every event
	// about the file.
	unreadable string
}

// startReloads reloads the catalog at path into current on SIGHUP and,
// when watch is set, on changes of its files, until ctx ends. With no
// path (the embedded demo) SIGHUP is answered with a log line. SIGHUP is
// caught from this call on: its default action would end the process.
func startReloads(ctx context.Context, path string, watch bool, current *atomic.Pointer[provision.Catalog], metrics *metrics.Registry, log *slog.Logger, dirs *directories) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	context.AfterFunc(ctx, func() { signal.Stop(hup) })
	if path == "" {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					log.Info("SIGHUP: no catalog file to reload; the embedded demo catalog is served (set " + settingPrefix + "_CATALOG)")
				}
			}
		}()
		return nil
	}
	r := &reloader{path: path, current: current, metrics: metrics, log: log, dirs: dirs}
	if srcs, err := provision.ReadCatalog(path); err == nil {
		r.seen = fingerprint(srcs)
	}
	var w *watcher
	if watch {
		var err error
		if w, err = newWatcher(path, log); err != nil {
			signal.Stop(hup)
			return fmt.Errorf("watching the catalog %s: %w (set %s_CATALOG_WATCH=false to reload by SIGHUP only)", path, err, settingPrefix)
		}
		context.AfterFunc(ctx, func() { w.close() })
		log.Info("watching the catalog for changes", "path", path, "dirs", strings.Join(w.dirs(), ","))
	}
	go r.run(ctx, hup, w)
	return nil
}

// run is the reloader's loop: one goroutine, so reloads never overlap.
// A change is read once its files have been left alone for
// reloadDebounce, and at the latest reloadMaxDelay after it.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal, w *watcher) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.fs.Events, w.fs.Errors
	}
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	var first time.Time // of the changes not yet read; zero when none
	changed := func() {
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		quiet.Reset(min(reloadDebounce, first.Add(reloadMaxDelay).Sub(now)))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP", true)
			w.update()
			if r.dirs != nil {
				r.dirs.refresh()
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// Nothing is logged about other files: the service's own
			// log may be one of them, and a line about it would be
			// another event.
			if !w.relevant(ev.Name) {
				continue
			}
			r.log.Debug("catalog file changed", "event", ev.String())
			changed()
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.log.Warn("watching the catalog", "error", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				changed() // the lost events may have been about the catalog
			}
		case <-quiet.C:
			first = time.Time{}
			r.reload("file change", false)
			// A ConfigMap swap points the catalog at a new
			// directory: follow it.
			w.update()
		}
	}
}

// reload loads the catalog and swaps it in if it is valid. Unless force
// is set (SIGHUP), files that read the same as last time are not parsed
// again, and a reading that fails as the last one did is not reported
// again.
func (r *reloader) reload(trigger string, force bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	srcs, err := provision.ReadCatalog(r.path)
	if err != nil {
		r.seen = [sha256.Size]byte{}
		if msg := err.Error(); msg == r.unreadable && !force {
			r.log.Debug("catalog still unreadable", "trigger", trigger, "error", firstLine(err))
			return false
		}
		r.unreadable = err.Error()
		r.refuse(trigger, err)
		return false
	}
	r.unreadable = ""
	fp := fingerprint(srcs)
	if !force && fp == r.seen {
		r.log.Debug("catalog files unchanged: nothing to reload", "trigger", trigger)
		return false
	}
	r.seen = fp
	cat, err := provision.Parse(srcs...)
	if err != nil {
		r.refuse(trigger, err)
		return false
	}
	if r.dirs != nil {
		if err := r.dirs.fileCatalog(cat); err != nil {
			r.refuse(trigger, err)
			return false
		}
		cat = r.current.Load()
	} else {
		r.current.Store(cat)
		for _, hook := range r.hooks {
			hook(cat)
		}
	}
	r.metrics.Reloaded(cat, time.Now())
	r.log.Info("catalog reloaded", "trigger", trigger, "path", r.path, "providers", len(cat.Providers()), "domains", cat.DomainCount())
	return true
}

// refuse reports a catalog that could not be read or is invalid.
func (r *reloader) refuse(trigger string, err error) {
	r.metrics.ReloadFailed()
	summary := firstLine(err)
	var le *provision.LoadError
	if errors.As(err, &le) {
		for _, fe := range le.Errs {
			r.log.Error("catalog error", "error", fe.Error())
		}
		if le.More > 0 {
			r.log.Error("catalog error", "error", le.MoreLine())
			summary = fmt.Sprintf("%s (and %d more)", le.Errs[0], len(le.Errs)-1+le.More)
		}
	}
	r.log.Error("catalog reload refused; still serving the previous catalog", "trigger", trigger, "path", r.path, "error", summary)
}

// firstLine is the first line of err's message, with a count of the rest.
func firstLine(err error) string {
	s := err.Error()
	first, rest, ok := strings.Cut(s, "\n")
	if !ok {
		return s
	}
	return fmt.Sprintf("%s (and %d more)", first, strings.Count(rest, "\n")+1)
}

// fingerprint hashes the catalog's files as read, names included.
func fingerprint(srcs []provision.Source) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "%s\x00%d\x00", s.Name, len(s.Data))
		h.Write(s.Data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// watcher watches the directories a catalog lives in: the directory that
// holds it (or the catalog directory itself), where renames and ConfigMap
// swaps show, and the directory its symbolic links lead to, where an
// in-place edit of the link's target shows. Watching the file itself
// would lose it at the first rename. Of the events there, only those
// about the files provision.Load reads count.
type watcher struct {
	path    string
	fs      *fsnotify.Watcher
	log     *slog.Logger
	watched map[string]bool
	// names are the files an event counts for: the catalog path, the
	// files Load reads (provision.CatalogFiles) and where their links
	// lead, and each watched directory's "..data" (the link a ConfigMap
	// update swaps).
	names map[string]bool
	// catalogDirs, in directory mode, are the catalog directory's names:
	// an entry added there counts when Load would read it
	// (provision.CatalogFileName).
	catalogDirs map[string]bool
}

func newWatcher(path string, log *slog.Logger) (*watcher, error) {
	fs, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{path: path, fs: fs, log: log, watched: map[string]bool{}}
	for _, d := range watchDirs(path) {
		if err := fs.Add(d); err != nil {
			fs.Close()
			return nil, err
		}
		w.watched[d] = true
	}
	w.follow()
	return w, nil
}

// relevant reports whether an event about name may change what Load
// reads.
func (w *watcher) relevant(name string) bool {
	name = filepath.Clean(name)
	return w.names[name] || w.catalogDirs[filepath.Dir(name)] && provision.CatalogFileName(filepath.Base(name))
}

// follow lists the names events count for, as the files are now.
func (w *watcher) follow() {
	w.names = map[string]bool{filepath.Clean(w.path): true}
	w.catalogDirs = map[string]bool{}
	add := func(name string) {
		w.names[filepath.Clean(name)] = true
		if real, err := filepath.EvalSymlinks(name); err == nil {
			w.names[real] = true
		}
	}
	files, _ := provision.CatalogFiles(w.path)
	for _, f := range files {
		add(f)
	}
	for d := range w.watched {
		w.names[filepath.Join(d, "..data")] = true
	}
	if st, err := os.Stat(w.path); err == nil && st.IsDir() {
		w.catalogDirs[filepath.Clean(w.path)] = true
		if real, err := filepath.EvalSymlinks(w.path); err == nil {
			w.catalogDirs[real] = true
		}
	}
}

// watchDirs lists the directories to watch for the catalog at path.
func watchDirs(path string) []string {
	dirOf := func(p string) string {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return filepath.Clean(p)
		}
		return filepath.Dir(p)
	}
	dirs := []string{dirOf(path)}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if d := dirOf(real); d != dirs[0] {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// update follows the catalog's symbolic links after a change: the
// directory they lead to may be a new one, and so may the files. The
// holding directory stays.
func (w *watcher) update() {
	if w == nil {
		return
	}
	want := map[string]bool{}
	for _, d := range watchDirs(w.path) {
		want[d] = true
	}
	for d := range w.watched {
		if !want[d] {
			_ = w.fs.Remove(d) // gone already when a ConfigMap swap removed it
			delete(w.watched, d)
		}
	}
	for d := range want {
		if !w.watched[d] {
			if err := w.fs.Add(d); err != nil {
				w.log.Warn("watching the catalog", "dir", d, "error", err)
				continue
			}
			w.watched[d] = true
		}
	}
	w.follow()
}

func (w *watcher) dirs() []string {
	var out []string
	for d := range w.watched {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

func (w *watcher) close() { w.fs.Close() }
