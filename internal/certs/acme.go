package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"golang.org/x/time/rate"

	"mailautoconf/internal/certstore"
)

// LetsEncrypt is the default ACME directory: Let's Encrypt production.
const LetsEncrypt = certmagic.LetsEncryptProductionCA

// DefaultOrderRate is OrderRate's default, new orders a minute: Let's
// Encrypt allows 300 new orders an account every 3 hours.
const DefaultOrderRate = 10

// ErrOrderRate refuses an on-demand handshake that would order beyond
// OrderRate.
var ErrOrderRate = errors.New("new certificate orders over the rate; retried at a later handshake")

// ErrPending refuses an on-demand handshake whose certificate was not
// loaded or obtained within HandshakeWait; the order goes on in the
// background, and a later handshake gets the certificate.
var ErrPending = errors.New("certificate not obtained yet; a later handshake gets it")

// DefaultHandshakeWait is HandshakeWait's default. It stays below the
// handshake deadline net/http sets (the least of the server's read, read
// header and write timeouts: 5 s here, internal/server/server.go), and is
// long enough for a nearby CA's order (about a second).
const DefaultHandshakeWait = 4 * time.Second

// orderTimeout bounds one on-demand flight in the background: certmagic's
// own bound for an order during a handshake (obtainOnDemandCertificate,
// docs/acme.md#on-demand), kept for the order but no longer for the
// handshake. certmagic's first retry comes a minute after a failure, its
// second two minutes later: a flight makes two attempts at most.
const orderTimeout = 180 * time.Second

// peerCheckInterval is how often a handshake waiting for an order checks
// that its client is still there.
const peerCheckInterval = 100 * time.Millisecond

// rateWarnInterval spaces the warnings about orders refused over the rate.
const rateWarnInterval = time.Minute

// ACMEOptions configure a Manager.
type ACMEOptions struct {
	// DataDir keeps account keys and certificates, so that a restart
	// issues nothing (certmagic's file storage layout), when Storage is
	// nil.
	DataDir string
	// Storage keeps them instead, shared by every replica of the service
	// (certstore.Open of MAILAUTOCONF_STORAGE), with the locks that make
	// one replica order a name while the others wait and load the result.
	// The Manager does not close it.
	Storage certstore.Storage
	// Metrics counts the storage's operations; nil counts nothing.
	Metrics *certstore.Metrics
	// OnDemand obtains a name's certificate at its first handshake
	// instead of ahead of time (MAILAUTOCONF_ACME_ON_DEMAND), and renews
	// it at a handshake once it is due: for thousands of names, most of
	// them rarely asked for. Only names of the set (SetNames) are ever
	// obtained; any other handshake fails at once. The handshake waits
	// for the order at most HandshakeWait.
	OnDemand bool
	// OrderRate bounds new orders with OnDemand, per minute and per
	// replica (MAILAUTOCONF_ACME_ORDER_RATE); a handshake over the rate
	// fails at once, and the client's next attempt is another chance.
	// Loading a certificate another replica obtained, and renewals, are
	// not orders. 0 is DefaultOrderRate.
	OrderRate int
	// HandshakeWait bounds how long an on-demand handshake waits for a
	// certificate that is not held yet, being loaded from storage or
	// ordered; the order goes on in the background (once per name, under
	// OrderRate, stopped when the name leaves the set) and the handshake
	// fails with ErrPending. A handshake whose client has gone stops
	// waiting within peerCheckInterval. 0 is DefaultHandshakeWait; tests
	// lengthen it.
	HandshakeWait time.Duration
	// CacheCapacity bounds the certificates held in memory; 0 is
	// unbounded. When full, certmagic evicts one at random; it is loaded
	// from storage again at its next handshake.
	CacheCapacity int
	// RenewCheckInterval is how often held certificates are checked for
	// renewal (0: certmagic's 10 minutes); RenewalWindowRatio is the part
	// of the lifetime left when renewal starts (0: certmagic's 1/3), and
	// DisableARI ignores the CA's renewal information (RFC 9773), which
	// otherwise picks the moment. Tests shorten them.
	RenewCheckInterval time.Duration
	RenewalWindowRatio float64
	DisableARI         bool
	// Directory is the ACME directory URL; "" is Let's Encrypt.
	Directory string
	// Email is the ACME account contact; may be empty.
	Email string
	// CARoots is a PEM file of the roots to trust for the ACME server's
	// own HTTPS, for private or test CAs; "" trusts the system roots.
	CARoots string
	// HTTPAddr and TLSAddr are the service's own plain and TLS listeners,
	// already bound. Challenges are answered through them (HTTPHandler,
	// GetCertificate); certmagic never binds a port of its own.
	HTTPAddr, TLSAddr net.Addr
	// DisableHTTP01 and DisableTLSALPN01 turn one challenge type off, for
	// a deployment where port 80 or 443 is not reachable from the CA.
	DisableHTTP01, DisableTLSALPN01 bool
	// DNSGate, when set, holds back the first order of a name until it
	// returns true: the DNS watch (internal/dnswatch) has seen the name
	// point at this service, so that the CA's validation can succeed. A
	// name whose DNS points elsewhere would fail validation again and
	// again, for 30 days of certmagic's retries, using up the CA's limits
	// (docs/acme.md#rate-limits). Until then the name's state is
	// WaitingDNS; DNSChanged orders the names it now lets through. A
	// certificate already in storage is loaded and renewed whatever the
	// gate says, and on demand (OnDemand) there is no gate: a handshake
	// proves that the name reaches the service. It must not call into the
	// Manager, and may be called with the Manager's lock held.
	DNSGate func(name string) bool
	Log     *slog.Logger
}

// Manager obtains certificates from an ACME CA ahead of time for a set of
// names, renews them before expiry, and serves them by SNI. Unless
// OnDemand, it never obtains a certificate during a handshake: clients
// time out long before an issuance finishes. A handshake for a name
// outside the set is always refused, before certmagic sees it. One name's failure does not hold up the others: certmagic
// retries it with back-off (from a minute up to a day, for 30 days), and
// Status shows it.
type Manager struct {
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
	cache  *certmagic.Cache
	store  *certstore.Instrumented
	// onDemand: certificates are obtained at handshakes, new orders
	// limited by orders; a handshake waits for one at most wait.
	onDemand bool
	gate     func(string) bool // ACMEOptions.DNSGate; nil on demand
	orders   *rate.Limiter
	wait     time.Duration
	log      *slog.Logger
	ctx      context.Context // ends at Stop
	stop     context.CancelFunc
	once     sync.Once

	// names is the current set, read during handshakes without mu.
	names atomic.Pointer[map[string]bool]

	mu      sync.Mutex
	managed map[string]*managedName
	queue   []string // names still to load or order, for the workers
	workers int

	// Orders refused over the rate since the last warning, and when it
	// was logged.
	refusedMu     sync.Mutex
	refused       int
	refusedLogged time.Time
}

type managedName struct {
	ctx    context.Context
	cancel context.CancelFunc // ends this name's retries and its flight; nil until needed on demand
	st     Status
	flight *flight // the on-demand load or order under way, if any
	// waiting: no certificate in storage, and DNSGate has not let the
	// name through; DNSChanged queues it when it does.
	waiting bool
}

// flight is one on-demand load or order of a name's certificate, which
// every handshake for the name waits for (at most HandshakeWait).
type flight struct {
	done chan struct{} // closed when it ends
	err  error         // why it failed, once done is closed
	// failed is closed at the first failed attempt, failErr set under
	// Manager.mu before: the handshakes waiting, and those until the
	// retry, fail at once.
	failed  chan struct{}
	failErr error
}

// loadWorkers bounds how many names are loaded from the data directory at
// once, so that a catalog of many thousand domains starts without a
// goroutine and a file read per name all at the same moment.
const loadWorkers = 8

// NewManager configures certmagic for o. It manages no name until SetNames.
func NewManager(o ACMEOptions) (*Manager, error) {
	if o.DataDir == "" && o.Storage == nil {
		return nil, errors.New("ACME needs a data directory or a storage to keep certificates in")
	}
	if o.OrderRate < 0 {
		return nil, fmt.Errorf("ACME order rate %d: want 0 (the default, %d) or more", o.OrderRate, DefaultOrderRate)
	}
	if o.OrderRate == 0 {
		o.OrderRate = DefaultOrderRate
	}
	if o.HandshakeWait < 0 {
		return nil, fmt.Errorf("ACME handshake wait %v: want 0 (the default, %v) or more", o.HandshakeWait, DefaultHandshakeWait)
	}
	if o.HandshakeWait == 0 {
		o.HandshakeWait = DefaultHandshakeWait
	}
	if o.Storage == nil {
		st, err := certstore.Open("", o.DataDir, certstore.Options{Log: o.Log})
		if err != nil {
			return nil, err
		}
		o.Storage = st
	}
	if o.Directory == "" {
		o.Directory = LetsEncrypt
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var roots *x509.CertPool
	if o.CARoots != "" {
		pem, err := os.ReadFile(o.CARoots)
		if err != nil {
			return nil, fmt.Errorf("ACME CA roots: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ACME CA roots: %s holds no PEM certificate", o.CARoots)
		}
	}
	m := &Manager{log: o.Log, managed: map[string]*managedName{}, onDemand: o.OnDemand, wait: o.HandshakeWait,
		store:  certstore.Instrument(o.Storage, o.Metrics, o.Log),
		orders: rate.NewLimiter(rate.Limit(float64(o.OrderRate)/60), o.OrderRate)}
	if !o.OnDemand {
		m.gate = o.DNSGate
	}
	m.ctx, m.stop = context.WithCancel(context.Background())
	m.names.Store(&map[string]bool{})
	zl := zapLogger(o.Log)

	var cfg *certmagic.Config
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		Capacity:           o.CacheCapacity,
		RenewCheckInterval: o.RenewCheckInterval,
		Logger:             zl,
	})
	tmpl := certmagic.Config{
		Storage:            m.store,
		OnEvent:            m.onEvent,
		Logger:             zl,
		RenewalWindowRatio: o.RenewalWindowRatio,
		DisableARI:         o.DisableARI,
		// Let's Encrypt ended OCSP in 2025; stapling would only add
		// requests to responders that do not exist.
		OCSP: certmagic.OCSPConfig{DisableStapling: true},
	}
	if o.OnDemand {
		tmpl.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.decide}
	}
	cfg = certmagic.New(m.cache, tmpl)
	httpHost, httpPort, err := splitAddr(o.HTTPAddr)
	if err != nil {
		return nil, err
	}
	_, tlsPort, err := splitAddr(o.TLSAddr)
	if err != nil {
		return nil, err
	}
	m.issuer = certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA:     o.Directory,
		Email:  o.Email,
		Agreed: true, // the operator chose the CA; never ask on stdin
		// Pointing certmagic at our own listeners makes its attempt to
		// bind them fail, and it then relies on HTTPHandler and
		// GetCertificate (docs/acme.md#certmagic): it never listens on :80 or
		// :443 of every interface by itself.
		ListenHost:              httpHost,
		AltHTTPPort:             httpPort,
		AltTLSALPNPort:          tlsPort,
		DisableHTTPChallenge:    o.DisableHTTP01,
		DisableTLSALPNChallenge: o.DisableTLSALPN01,
		TrustedRoots:            roots,
		Logger:                  zl,
	})
	cfg.Issuers = []certmagic.Issuer{m.issuer}
	m.cfg = cfg
	return m, nil
}

// splitAddr returns the host and port of a listener's address.
func splitAddr(a net.Addr) (string, int, error) {
	if a == nil {
		return "", 0, errors.New("ACME needs the addresses of the plain and TLS listeners")
	}
	host, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("listener %s: %w", a, err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	return host, port, nil
}

// SetNames makes names the managed set: certificates for new names are
// loaded from the data directory or obtained, in the background; names no
// longer in the set stop being served, retried and renewed. It returns at
// once. Call it at start and whenever the catalog changes.
func (m *Manager) SetNames(names []string) {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		if n = normalizeName(n); n != "" {
			set[n] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var added []string
	for n := range set {
		if _, ok := m.managed[n]; !ok {
			added = append(added, n)
		}
	}
	var removed []certmagic.SubjectIssuer
	for n, mn := range m.managed {
		if !set[n] {
			if mn.cancel != nil {
				mn.cancel()
			}
			delete(m.managed, n)
			removed = append(removed, certmagic.SubjectIssuer{Subject: n})
		}
	}
	m.names.Store(&set)
	if len(removed) > 0 {
		m.cache.RemoveManaged(removed)
		m.log.Info("certificates no longer served", "names", len(removed))
	}
	slices.Sort(added)
	for _, n := range added {
		mn := &managedName{st: Status{Name: n}}
		if !m.onDemand {
			// Each name has its own context, so that a name removed
			// later stops being retried. On demand, it is made at the
			// name's first flight: most names never have one, and a
			// context costs a few hundred bytes a name.
			mn.ctx, mn.cancel = context.WithCancel(m.ctx)
		}
		m.managed[n] = mn
	}
	if m.onDemand {
		// Obtained or loaded at their first handshake.
		if len(added) > 0 {
			m.log.Info("certificates on demand", "new_names", len(added), "names", len(set))
		}
		return
	}
	m.queueLocked(added)
	if len(added) > 0 {
		m.log.Info("managing certificates", "new_names", len(added), "names", len(set))
	}
}

// DNSChanged orders the names waiting for DNS (ACMEOptions.DNSGate) that
// the gate now lets through. The DNS watch calls it when names start to
// point at the service, holding none of its own locks (the gate is asked
// under the Manager's); it returns at once.
func (m *Manager) DNSChanged() {
	if m.gate == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var through []string
	for n, mn := range m.managed {
		if mn.waiting && m.gate(n) {
			mn.waiting = false
			through = append(through, n)
		}
	}
	if len(through) == 0 {
		return
	}
	slices.Sort(through)
	m.log.Info("names now point at this service: ordering their certificates", "names", len(through))
	m.queueLocked(through)
}

// queueLocked adds names to the workers' queue and starts workers, up to
// loadWorkers. m.mu is held.
func (m *Manager) queueLocked(names []string) {
	m.queue = append(m.queue, names...)
	for m.workers < loadWorkers && m.workers < len(m.queue) {
		m.workers++
		go m.work()
	}
}

// work manages queued names until the queue is empty.
func (m *Manager) work() {
	for {
		m.mu.Lock()
		if len(m.queue) == 0 {
			m.workers--
			m.mu.Unlock()
			return
		}
		n := m.queue[0]
		m.queue = m.queue[1:]
		mn := m.managed[n]
		m.mu.Unlock()
		if mn != nil && mn.ctx.Err() == nil {
			m.manage(mn.ctx, n)
		}
	}
}

// manage loads the stored certificate of name, or has certmagic obtain
// one in the background (ManageAsync: queued, retried with back-off).
func (m *Manager) manage(ctx context.Context, name string) {
	cert, err := m.cfg.CacheManagedCertificate(ctx, name)
	switch {
	case err == nil && !cert.NeedsRenewal(m.cfg):
		return // served from now on; the maintenance loop renews it
	case err == nil:
		// Let ManageAsync load it again, and renew it now rather than
		// at the next maintenance tick.
		m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: name}})
	case !errors.Is(err, fs.ErrNotExist):
		m.failed(name, fmt.Errorf("loading the stored certificate: %w", err))
	case m.gate != nil && !m.gate(name):
		// Nothing stored: an order, which waits for the name's DNS.
		m.mu.Lock()
		if mn := m.managed[name]; mn != nil && mn.ctx == ctx {
			mn.waiting = true
		}
		m.mu.Unlock()
		return
	}
	if err := m.cfg.ManageAsync(ctx, []string{name}); err != nil {
		m.failed(name, err)
	}
}

// decide is certmagic's on-demand decision, asked before it loads a
// certificate from storage or renews one at a handshake: only names of the
// set, and only certificates in storage (another replica obtained it, or
// it is a renewal). New orders are never made inside certmagic's
// handshake, which would hold the client up to 180 s
// (docs/acme.md#on-demand): they are flights (startFlight), paced by the
// order rate.
func (m *Manager) decide(ctx context.Context, name string) error {
	if !(*m.names.Load())[normalizeName(name)] {
		return fmt.Errorf("%w: %q", ErrUnknownName, name)
	}
	if m.store.Exists(ctx, certmagic.StorageKeys.SiteCert(m.issuer.IssuerKey(), name)) {
		return nil
	}
	return fmt.Errorf("%w: %q: not in storage; ordered in the background", ErrPending, name)
}

// awaitOnDemand serves an on-demand name with no valid certificate held:
// it starts the name's flight unless one is under way, and waits for it
// at most m.wait, while the handshake's context lasts and its client is
// still connected.
func (m *Manager) awaitOnDemand(hello *tls.ClientHelloInfo, name string) (*tls.Certificate, error) {
	f, err := m.startFlight(name)
	if err != nil {
		return nil, err
	}
	ctx := hello.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	timer := time.NewTimer(m.wait)
	defer timer.Stop()
	tick := time.NewTicker(peerCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-f.done:
			if f.err != nil {
				return nil, f.err
			}
			if c, ok := m.current(name, time.Now()); ok {
				return &c.Certificate, nil
			}
			return nil, fmt.Errorf("%w: %q: obtained but not held", ErrPending, name)
		case <-f.failed:
			return nil, fmt.Errorf("%w: %q: %w", ErrPending, name, f.failErr)
		case <-timer.C:
			return nil, fmt.Errorf("%w: %q", ErrPending, name)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			if peerGone(hello.Conn) { // peer_*.go
				return nil, fmt.Errorf("%w: %q: the client has gone", ErrPending, name)
			}
		}
	}
}

// startFlight returns the flight of name under way, or starts one.
func (m *Manager) startFlight(name string) (*flight, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mn := m.managed[name]
	if mn == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownName, name)
	}
	if mn.flight == nil {
		if mn.ctx == nil {
			// Ends when the name leaves the set (SetNames), or at Stop.
			mn.ctx, mn.cancel = context.WithCancel(m.ctx)
		}
		f := &flight{done: make(chan struct{}), failed: make(chan struct{})}
		mn.flight = f
		ctx := mn.ctx
		go func() {
			f.err = m.loadOrOrder(ctx, name)
			m.mu.Lock()
			mn.flight = nil
			if m.onDemand {
				// Not kept between flights: see SetNames.
				mn.cancel()
				mn.ctx, mn.cancel = nil, nil
			}
			m.mu.Unlock()
			close(f.done)
		}()
	}
	return mn.flight, nil
}

// loadOrOrder puts the certificate of name in the cache: loaded from
// storage, renewed there when expired, or else ordered within the order
// rate, for orderTimeout at most. ctx is the name's: it ends when the
// name leaves the set. certmagic's Sync calls are not used: without an
// email they ask for one on standard input (docs/acme.md#on-demand).
func (m *Manager) loadOrOrder(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, orderTimeout)
	defer cancel()
	cert, err := m.cfg.CacheManagedCertificate(ctx, name)
	switch {
	case err == nil && !cert.Expired():
		// Served from now on; certmagic renews it at a handshake once
		// due.
		return nil
	case err == nil:
		m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: name}})
		err = m.cfg.RenewCertAsync(ctx, name, false)
	case errors.Is(err, fs.ErrNotExist):
		if !m.orders.Allow() {
			m.refusedOrder(name)
			return fmt.Errorf("%w: %q", ErrOrderRate, name)
		}
		err = m.cfg.ObtainCertAsync(ctx, name)
	default:
		return fmt.Errorf("loading the stored certificate of %q: %w", name, err)
	}
	if err != nil {
		return fmt.Errorf("certificate of %q: %w", name, err)
	}
	if _, err := m.cfg.CacheManagedCertificate(ctx, name); err != nil {
		return fmt.Errorf("loading the new certificate of %q: %w", name, err)
	}
	return nil
}

// refusedOrder counts an order refused over the rate, and warns at most
// once every rateWarnInterval, with the count since the last warning: a
// flood of handshakes must not flood the log.
func (m *Manager) refusedOrder(name string) {
	m.refusedMu.Lock()
	m.refused++
	now := time.Now()
	if !m.refusedLogged.IsZero() && now.Sub(m.refusedLogged) < rateWarnInterval {
		m.refusedMu.Unlock()
		return
	}
	n := m.refused
	m.refused, m.refusedLogged = 0, now
	m.refusedMu.Unlock()
	m.log.Warn("certificates not ordered: over the order rate; later handshakes try again (one line a minute at most)",
		"refused", n, "last_name", name)
}

// StorageReady is /readyz's report on the certificate storage
// (certstore.Instrumented.Ready): unready until it answered once, then
// ready even while it is down, serving what is held in memory.
func (m *Manager) StorageReady() (ok bool, lines []string) { return m.store.Ready() }

// StorageCalls counts the operations on the storage so far.
func (m *Manager) StorageCalls() int64 { return m.store.Calls() }

// Stop ends every retry and the renewal loop. It may be called again.
func (m *Manager) Stop() {
	m.once.Do(func() {
		m.stop()
		m.cache.Stop()
	})
}

// HTTPHandler answers ACME HTTP-01 challenges for the managed names and
// passes every other request to next. It belongs on the plain listener.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if certmagic.LooksLikeHTTPChallenge(r) && (*m.names.Load())[normalizeName(host)] &&
			m.issuer.HandleHTTPChallenge(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// GetCertificate serves the certificate of a managed name, and answers
// TLS-ALPN-01 challenges for them. Any other name is refused before
// certmagic sees it. With OnDemand, a name with no valid certificate held
// waits for it at most HandshakeWait (awaitOnDemand); one held is served
// by certmagic, which renews it in the background once due, under the
// same bound.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalizeName(hello.ServerName)
	if !(*m.names.Load())[name] {
		return nil, fmt.Errorf("%w: %q", ErrUnknownName, hello.ServerName)
	}
	if !m.onDemand || isALPNChallenge(hello) {
		return m.cfg.GetCertificate(hello)
	}
	if _, ok := m.current(name, time.Now()); !ok {
		return m.awaitOnDemand(hello, name)
	}
	ctx := hello.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, m.wait)
	defer cancel()
	return m.cfg.GetCertificateWithContext(ctx, hello)
}

// isALPNChallenge reports whether hello is a TLS-ALPN-01 validation
// (RFC 8737 section 3: acme-tls/1 as the only protocol), which certmagic
// answers before looking for a certificate.
func isALPNChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmez.ACMETLS1Protocol
}

// Certificate returns the certificate served for name, when a valid one
// is held.
func (m *Manager) Certificate(name string) (*tls.Certificate, bool) {
	name = normalizeName(name)
	if !(*m.names.Load())[name] {
		return nil, false
	}
	c, ok := m.current(name, time.Now())
	if !ok {
		return nil, false
	}
	return &c.Certificate, true
}

// current returns the cached certificate for name that expires last, if
// it is still valid at now.
func (m *Manager) current(name string, now time.Time) (certmagic.Certificate, bool) {
	var best certmagic.Certificate
	found := false
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf == nil || !slices.Contains(c.Names, name) {
			continue
		}
		if !found || c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
			best, found = c, true
		}
	}
	if !found || now.After(best.Leaf.NotAfter) || now.Before(best.Leaf.NotBefore) {
		return certmagic.Certificate{}, false
	}
	return best, true
}

// Status reports on every managed name, by name.
func (m *Manager) Status() []Status {
	now := time.Now()
	m.mu.Lock()
	out := make([]Status, 0, len(m.managed))
	var waiting map[string]bool
	for n, mn := range m.managed {
		out = append(out, mn.st)
		if mn.waiting {
			if waiting == nil {
				waiting = map[string]bool{}
			}
			waiting[n] = true
		}
	}
	m.mu.Unlock()
	// The state follows the cache, what handshakes are served from: a
	// name is ready once its certificate is there, whatever the events
	// said, and failed while its last attempt failed.
	for i := range out {
		s := &out[i]
		c, ok := m.current(s.Name, now)
		if ok {
			s.NotAfter = c.Leaf.NotAfter
		}
		switch {
		case s.Failures > 0:
			s.State = Failed
		case ok:
			s.State = Ready
		case waiting[s.Name]:
			s.State = WaitingDNS
		case m.onDemand:
			s.State = OnDemand
		default:
			s.State = Pending
		}
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// onEvent follows certmagic's events to count each name's failures and to
// log one line per outcome.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtained":
		name, _ := data["identifier"].(string)
		renewal, _ := data["renewal"].(bool)
		m.update(name, func(s *Status) { s.Failures, s.Err = 0, "" })
		m.log.Info("certificate obtained", "name", name, "renewal", renewal)
	case "cert_failed":
		name, _ := data["identifier"].(string)
		err, _ := data["error"].(error)
		if err == nil {
			err = errors.New("unknown error")
		}
		m.flightFailed(name, err)
		m.failed(name, err)
	case "cached_managed_cert":
		sans, _ := data["sans"].([]string)
		names := *m.names.Load()
		for _, n := range sans {
			if !names[normalizeName(n)] {
				// Obtained for a name removed meanwhile: drop it, or
				// maintenance would keep renewing it.
				go m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: n}})
			}
		}
	}
	return nil
}

// flightFailed tells the handshakes waiting for name's flight, if one
// runs, that an attempt failed.
func (m *Manager) flightFailed(name string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mn := m.managed[normalizeName(name)]
	if mn == nil || mn.flight == nil || mn.flight.failErr != nil {
		return
	}
	mn.flight.failErr = err
	close(mn.flight.failed)
}

func (m *Manager) failed(name string, err error) {
	msg := oneLine(err, 300)
	var n int
	managed := m.update(name, func(s *Status) {
		s.Err = msg
		s.Failures++
		n = s.Failures
	})
	switch {
	case !managed:
		m.log.Info("certificate order stopped: the name is no longer served", "name", name, "error", msg)
	case m.onDemand:
		m.log.Warn("certificate not obtained; tried again a minute later, then at a later handshake within the order rate",
			"name", name, "failures", n, "error", msg)
	default:
		m.log.Warn("certificate not obtained; retried with back-off", "name", name, "failures", n, "error", msg)
	}
}

// update changes the status of a managed name, and reports whether it is
// one; other names are ignored.
func (m *Manager) update(name string, f func(*Status)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mn, ok := m.managed[normalizeName(name)]
	if ok {
		f(&mn.st)
	}
	return ok
}
