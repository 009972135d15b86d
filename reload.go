package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
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

	"mailautoconf/handlers"
	"mailautoconf/provision"
)

// reloadDebounce is how long the catalog's directory must be quiet after a
// change before the catalog is read: editors and config tools write a
// file in several steps, and a Kubernetes ConfigMap update is a burst of
// creates, renames and removes.
const reloadDebounce = 250 * time.Millisecond

// reloader swaps the served catalog for a newly loaded one, on SIGHUP and,
// unless MAILAUTOCONF_CATALOG_WATCH=false, when the catalog's files change
// however they change: rewritten in place, a new file renamed over the old
// one, or a ConfigMap's "..data" symlink swapped. A new catalog is parsed
// and validated whole by provision.Load, then stored in one atomic step:
// a request sees the old catalog or the new one, never a mix. An invalid
// catalog is refused, its every error logged with file and line as at
// start, and the old one keeps serving.
type reloader struct {
	path    string
	current *atomic.Pointer[provision.Catalog]
	metrics *handlers.Metrics
	log     *slog.Logger
	// hooks are called with every catalog swapped in, in order, from the
	// reloading goroutine: the HTTPS side follows the names.
	hooks []func(*provision.Catalog)

	mu sync.Mutex
	// seen fingerprints the files as last read, valid or not: a change
	// event that leaves them the same reloads nothing.
	seen [sha256.Size]byte
}

// startReloads reloads the catalog at path into current on SIGHUP and,
// when watch is set, on changes of its files, until ctx ends. With no
// path (the embedded demo) SIGHUP is answered with a log line. SIGHUP is
// caught from this call on: its default action would end the process.
func startReloads(ctx context.Context, path string, watch bool, current *atomic.Pointer[provision.Catalog], metrics *handlers.Metrics, log *slog.Logger, hooks ...func(*provision.Catalog)) error {
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
					log.Info("SIGHUP: no catalog file to reload; the embedded demo catalog is served (set " + envPrefix + "_CATALOG)")
				}
			}
		}()
		return nil
	}
	r := &reloader{path: path, current: current, metrics: metrics, log: log, hooks: hooks}
	r.seen, _ = fingerprint(path)
	var w *watcher
	if watch {
		var err error
		if w, err = newWatcher(path, log); err != nil {
			signal.Stop(hup)
			return fmt.Errorf("watching the catalog %s: %w (set %s_CATALOG_WATCH=false to reload by SIGHUP only)", path, err, envPrefix)
		}
		context.AfterFunc(ctx, func() { w.close() })
		log.Info("watching the catalog for changes", "path", path, "dirs", strings.Join(w.dirs(), ","))
	}
	go r.run(ctx, hup, w)
	return nil
}

// run is the reloader's loop: one goroutine, so reloads never overlap.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal, w *watcher) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.fs.Events, w.fs.Errors
	}
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP", true)
			w.update()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// A change of mode alone is no change of content (and
			// some tools touch files all the time).
			if ev.Op == fsnotify.Chmod {
				continue
			}
			r.log.Debug("catalog directory changed", "event", ev.String())
			quiet.Reset(reloadDebounce)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.log.Warn("watching the catalog", "error", err)
		case <-quiet.C:
			r.reload("file change", false)
			// A ConfigMap swap points the catalog at a new
			// directory: follow it.
			w.update()
		}
	}
}

// reload loads the catalog and swaps it in if it is valid. Unless force
// is set (SIGHUP), files that read the same as last time are not parsed
// again.
func (r *reloader) reload(trigger string, force bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	fp, fpErr := fingerprint(r.path)
	if fpErr == nil && !force && fp == r.seen {
		r.log.Debug("catalog files unchanged: nothing to reload", "trigger", trigger)
		return false
	}
	r.seen = fp
	cat, err := provision.Load(r.path)
	if err != nil {
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
		return false
	}
	r.current.Store(cat)
	r.metrics.Reloaded(cat, time.Now())
	r.log.Info("catalog reloaded", "trigger", trigger, "path", r.path, "providers", len(cat.Providers()), "domains", cat.DomainCount())
	for _, hook := range r.hooks {
		hook(cat)
	}
	return true
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

// fingerprint hashes what provision.Load would read at path: the file,
// or every visible file of the directory with its name. Symbolic links
// are followed, so a ConfigMap's "..data" swap changes it.
func fingerprint(path string) ([sha256.Size]byte, error) {
	h := sha256.New()
	st, err := os.Stat(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		files = files[:0]
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		sort.Strings(files)
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		fst, err := f.Stat()
		if err == nil && !fst.IsDir() {
			fmt.Fprintf(h, "%s\x00%d\x00", name, fst.Size())
			_, err = io.Copy(h, f)
		}
		f.Close()
		if err != nil {
			return [sha256.Size]byte{}, err
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, nil
}

// watcher watches the directories a catalog lives in: the directory that
// holds it (or the catalog directory itself), where renames and ConfigMap
// swaps show, and the directory its symbolic links lead to, where an
// in-place edit of the link's target shows. Watching the file itself
// would lose it at the first rename.
type watcher struct {
	path    string
	fs      *fsnotify.Watcher
	log     *slog.Logger
	watched map[string]bool
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
	return w, nil
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
// directory they lead to may be a new one. The holding directory stays.
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
