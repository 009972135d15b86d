// Package certstore keeps what certmagic stores (ACME accounts,
// certificates, keys, challenge tokens) and the locks that make one
// replica order a name while the others wait, in a store several
// replicas share: PostgreSQL or Redis, named by a URL
// (MAILAUTOCONF_STORAGE). Without a URL it is certmagic's file storage in
// the data directory, as on a single machine.
//
// Each backend implements certmagic.Storage as its documentation
// describes the contract (storage.go of github.com/caddyserver/certmagic
// v0.25): keys are slash-separated paths; Load, List and Stat return
// fs.ErrNotExist for a missing key; Delete of a directory deletes what is
// under it; a lock is held until Unlock or until its holder stops
// refreshing it, and then it expires (certmagic's FileStorage holds the
// same contract with a timestamp refreshed every 5 seconds and deemed
// stale after 10). It holds no fencing token: certmagic checks, after
// taking the lock, whether the work is still to do.
//
// It knows nothing of certificates: certs configures certmagic with it.
package certstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/certmagic"
)

// Storage is a certmagic.Storage with a probe of its backend.
type Storage interface {
	certmagic.Storage
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
	// Close releases the backend's connections. Locks still held expire.
	Close() error
	// String names the backend for logs, without credentials.
	String() string
}

// Options tune a shared backend. The zero value is the default.
type Options struct {
	// LockTTL is how long a lock outlives the last refresh by its holder:
	// a replica that dies holding a lock blocks its name this long at
	// most. A holder refreshes its locks every LockTTL/3. Default 10s,
	// certmagic's file storage staleness.
	LockTTL time.Duration
	// LockPoll is how often a replica waiting for a lock tries again.
	// Default 1s.
	LockPoll time.Duration
	Log      *slog.Logger
}

const (
	defaultLockTTL  = 10 * time.Second
	defaultLockPoll = time.Second
)

func (o *Options) defaults() {
	if o.LockTTL <= 0 {
		o.LockTTL = defaultLockTTL
	}
	if o.LockPoll <= 0 {
		o.LockPoll = defaultLockPoll
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Open returns the storage rawURL names: postgres:// or postgresql:// (a
// libpq connection URL; the tables are created on first use), redis:// or
// rediss:// (go-redis's URL; an optional key_prefix parameter, default
// "mailautoconf:certmagic:", lets several services share a database).
// With rawURL empty it is the file storage in dataDir. It does not
// connect: a backend down at start is retried at every use, and Ping
// says so meanwhile.
func Open(rawURL, dataDir string, o Options) (Storage, error) {
	o.defaults()
	if rawURL == "" {
		if dataDir == "" {
			return nil, errors.New("certificate storage: neither a storage URL nor a data directory")
		}
		return fileStorage{&certmagic.FileStorage{Path: dataDir}}, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's message repeats the URL, password included.
		return nil, errors.New("certificate storage: the URL does not parse")
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return openPostgres(rawURL, u, o)
	case "redis", "rediss":
		return openRedis(u, o)
	}
	return nil, fmt.Errorf("certificate storage: scheme %q: want postgres://, redis:// or rediss://", u.Scheme)
}

// refused reports whether err is a backend's refusal of an operation: the
// server, or the file system, answered and said no (a Redis error reply,
// a PostgreSQL error, a file the data directory may not write). Every
// other error is a backend not reached: a connection refused or broken, a
// timeout. A refusal stays until the operation is tried again: a ping,
// which reaches the server, tells nothing about it (Instrumented).
func refused(err error) bool {
	return redisRefused(err) || pgRefused(err) ||
		errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS)
}

// redact is u for logs: scheme, host and path, no user or password.
func redact(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// fileStorage is certmagic's own, with a probe.
type fileStorage struct{ *certmagic.FileStorage }

func (f fileStorage) Ping(ctx context.Context) error {
	// The data directory is reachable when its root can be listed or
	// does not exist yet (certmagic creates it at the first Store).
	if _, err := f.List(ctx, "", false); err != nil && !isNotExist(err) {
		return err
	}
	return nil
}

func (fileStorage) Close() error { return nil }

func (f fileStorage) String() string { return "file:" + f.Path }

// token is a lock holder's identity: a lock is refreshed and released
// only by the holder that took it.
func token() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// children turns the keys found under prefix into what List returns:
// every key and directory below prefix when recursive, else only the
// entries directly in it, sorted.
func children(prefix string, keys []string, recursive bool) []string {
	seen := map[string]bool{}
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		rest := k
		if prefix != "" {
			rest = strings.TrimPrefix(k, prefix+"/")
		}
		parts := strings.Split(rest, "/")
		if !recursive {
			add(path.Join(prefix, parts[0]))
			continue
		}
		for i := range parts {
			add(path.Join(prefix, strings.Join(parts[:i+1], "/")))
		}
	}
	slices.Sort(out)
	return out
}

// waitLock calls try every poll until it takes the lock, fails, or ctx
// ends.
func waitLock(ctx context.Context, poll time.Duration, try func() (bool, error)) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		ok, err := try()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t.Reset(poll)
	}
}

// refresher keeps one held lock alive until stop; it gives up once the
// lock is found lost (refresh reports false), which happens only when the
// holder could not reach the backend for a whole LockTTL.
type refresher struct {
	stop context.CancelFunc
	done chan struct{}
}

func keepFresh(every time.Duration, log *slog.Logger, name string, refresh func(ctx context.Context) (bool, error)) *refresher {
	ctx, cancel := context.WithCancel(context.Background())
	r := &refresher{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, every)
			held, err := refresh(rctx)
			rcancel()
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				log.Warn("certificate storage: cannot refresh a lock; retrying", "lock", name, "error", err)
			case !held:
				log.Warn("certificate storage: a lock expired while held (the storage was unreachable too long)", "lock", name)
				return
			}
		}
	}()
	return r
}

func (r *refresher) end() {
	r.stop()
	<-r.done
}
