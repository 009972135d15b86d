package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Static serves certificates read from PEM files, chosen by SNI: either one
// pair (a certificate chain file and its key) or every pair found in a
// directory. Reload reads them again when they changed; Watch calls it
// periodically, so that a certificate renewed by another tool (certbot, a
// Kubernetes secret) is picked up without a restart. A handshake for a
// name no certificate covers is refused.
type Static struct {
	certFile, keyFile, dir string
	log                    *slog.Logger

	set   atomic.Pointer[staticSet]
	names atomic.Pointer[[]string] // the names the listener should serve
	mu    sync.Mutex               // serializes Reload
}

// staticSet is one immutable load of the files.
type staticSet struct {
	// byName maps each DNS name of a certificate ("*.example.com" for a
	// wildcard) to the certificate expiring last among those naming it.
	byName map[string]*tls.Certificate
	stamp  string // names, sizes and times of the files read
}

// Directory layouts Static understands, besides "<name>.crt" or
// "<name>.pem" with "<name>.key" side by side: one subdirectory per
// certificate as certbot's live/ directory and a Kubernetes TLS secret lay
// them out.
var pairNames = [][2]string{{"fullchain.pem", "privkey.pem"}, {"tls.crt", "tls.key"}}

// NewStatic reads the certificate pair certFile and keyFile, or every pair
// in dir (exactly one of the two ways). It fails when nothing loads.
func NewStatic(certFile, keyFile, dir string, log *slog.Logger) (*Static, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("a certificate file needs its key file, and a key file its certificate")
	}
	if (certFile == "") == (dir == "") {
		return nil, errors.New("give either a certificate and key file or a directory of them")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Static{certFile: certFile, keyFile: keyFile, dir: dir, log: log}
	s.names.Store(&[]string{})
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// SetNames sets the names the listener should serve, for Status.
func (s *Static) SetNames(names []string) {
	n := make([]string, 0, len(names))
	for _, name := range names {
		n = append(n, normalizeName(name))
	}
	slices.Sort(n)
	n = slices.Compact(n)
	s.names.Store(&n)
}

// Reload reads the files again if any changed since the last load. On an
// error the certificates already loaded stay in service.
func (s *Static) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pairs, stamp, err := s.pairs()
	if err != nil {
		return err
	}
	old := s.set.Load()
	if old != nil && old.stamp == stamp {
		return nil
	}
	set := &staticSet{byName: map[string]*tls.Certificate{}, stamp: stamp}
	var errs []error
	for _, p := range pairs {
		c, err := tls.LoadX509KeyPair(p[0], p[1])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p[0], err))
			continue
		}
		for _, n := range c.Leaf.DNSNames {
			n = normalizeName(n)
			if cur, ok := set.byName[n]; !ok || c.Leaf.NotAfter.After(cur.Leaf.NotAfter) {
				set.byName[n] = &c
			}
		}
		if len(c.Leaf.DNSNames) == 0 {
			errs = append(errs, fmt.Errorf("%s: the certificate names no DNS name", p[0]))
		}
	}
	if len(set.byName) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no certificate and key pairs (*.crt or *.pem with *.key)", s.dir))
	}
	if err := errors.Join(errs...); err != nil {
		// A renewal tool may be half-way through writing the pair: keep
		// what was loaded and try again at the next change or poll.
		return err
	}
	s.set.Store(set)
	if old != nil {
		s.log.Info("certificates reloaded", "names", len(set.byName))
	}
	return nil
}

// pairs lists the (certificate, key) files to load and a stamp that
// changes whenever one of them does.
func (s *Static) pairs() ([][2]string, string, error) {
	var pairs [][2]string
	if s.dir == "" {
		pairs = [][2]string{{s.certFile, s.keyFile}}
	} else {
		entries, err := os.ReadDir(s.dir)
		if err != nil {
			return nil, "", err
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") { // Kubernetes' ..data and friends
				continue
			}
			full := filepath.Join(s.dir, name)
			if st, err := os.Stat(full); err == nil && st.IsDir() {
				for _, pn := range pairNames {
					c, k := filepath.Join(full, pn[0]), filepath.Join(full, pn[1])
					if fileExists(c) && fileExists(k) {
						pairs = append(pairs, [2]string{c, k})
					}
				}
				continue
			}
			ext := filepath.Ext(name)
			if ext != ".crt" && ext != ".pem" {
				continue
			}
			k := filepath.Join(s.dir, strings.TrimSuffix(name, ext)+".key")
			if fileExists(k) {
				pairs = append(pairs, [2]string{full, k})
			}
		}
	}
	var stamp strings.Builder
	for _, p := range pairs {
		for _, f := range p {
			st, err := os.Stat(f)
			if err != nil {
				return nil, "", err
			}
			fmt.Fprintf(&stamp, "%s %d %d\n", f, st.Size(), st.ModTime().UnixNano())
		}
	}
	return pairs, stamp.String(), nil
}

func fileExists(name string) bool {
	st, err := os.Stat(name)
	return err == nil && st.Mode().IsRegular()
}

// Watch calls Reload every interval until ctx ends, logging failures.
func (s *Static) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Reload(); err != nil {
				s.log.Warn("certificates not reloaded; keeping those loaded", "error", oneLine(err, 500))
			}
		}
	}
}

// lookup returns the certificate for name: an exact match, else a
// wildcard for its parent.
func (s *Static) lookup(name string) (*tls.Certificate, bool) {
	set := s.set.Load()
	name = normalizeName(name)
	if name == "" {
		return nil, false
	}
	if c, ok := set.byName[name]; ok {
		return c, true
	}
	if _, parent, ok := strings.Cut(name, "."); ok && strings.Contains(parent, ".") {
		c, ok := set.byName["*."+parent]
		return c, ok
	}
	return nil, false
}

// GetCertificate serves the certificate covering the requested name.
func (s *Static) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c, ok := s.lookup(hello.ServerName); ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownName, hello.ServerName)
}

// Certificate returns the certificate served for name, when it is valid.
func (s *Static) Certificate(name string) (*tls.Certificate, bool) {
	c, ok := s.lookup(name)
	if !ok || !valid(c.Leaf, time.Now()) {
		return nil, false
	}
	return c, true
}

func valid(leaf *x509.Certificate, now time.Time) bool {
	return !now.Before(leaf.NotBefore) && !now.After(leaf.NotAfter)
}

// Status reports on every name set by SetNames.
func (s *Static) Status() []Status {
	now := time.Now()
	names := *s.names.Load()
	out := make([]Status, 0, len(names))
	for _, n := range names {
		st := Status{Name: n, State: Missing, Err: "no certificate file covers this name"}
		if c, ok := s.lookup(n); ok {
			st = Status{Name: n, State: Ready, NotAfter: c.Leaf.NotAfter}
			if !valid(c.Leaf, now) {
				st.State, st.Err = Failed, "the certificate file is not valid now"
			}
		}
		out = append(out, st)
	}
	return out
}
