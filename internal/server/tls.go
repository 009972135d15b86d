package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"mailautoconf/handlers"
	"mailautoconf/internal/certs"
	"mailautoconf/internal/certstore"
	"mailautoconf/internal/profilesign"
	"mailautoconf/provision"
)

// staticReloadInterval is how often static certificate files are checked
// for changes.
const staticReloadInterval = 30 * time.Second

// httpsService is the HTTPS side of serve: its listener and server, where
// its certificates come from (an ACME CA or files), and the rules of the
// plain listener beside it.
type httpsService struct {
	ln         net.Listener
	srv        *http.Server
	source     certs.Source
	acme       *certs.Manager     // nil with certificate files
	storage    *certstore.Metrics // of acme's storage; nil with certificate files
	static     *certs.Static      // nil with ACME
	publicHost string
	log        *slog.Logger
}

// startHTTPS binds the HTTPS listener and gets its certificates going:
// with ACME, every name of cat is obtained (or loaded from the data
// directory) in the background from now on. Its readiness and plainRules
// go into the handlers' Config; wire then gives the plain listener's
// handler, with ACME HTTP-01 challenges answered, and the HTTPS server
// the Handler's router. It returns nil when cfg.TLSListen is
// unset: the plain listener then serves every route as it is (behind a
// TLS-terminating proxy, say).
//
// The plain listener must be bound already: the ACME client is pointed at
// both listeners and never binds ports itself. dnsGate, when set (the DNS
// watch's Gate), holds back ACME's first order of each name until its DNS
// points at us; it is not used on demand. Everything stops when ctx ends.
func startHTTPS(ctx context.Context, cfg *Config, limits connLimits, cat *provision.Catalog, plainAddr net.Addr, dnsGate func(string) bool, log *slog.Logger) (*httpsService, error) {
	if cfg.TLSListen == "" {
		return nil, nil
	}
	t := &httpsService{log: log, publicHost: cfg.PublicHost}
	if cfg.TLSCert != "" || cfg.TLSDir != "" {
		st, err := certs.NewStatic(cfg.TLSCert, cfg.TLSKey, cfg.TLSDir, log)
		if err != nil {
			return nil, fmt.Errorf("HTTPS certificates: %w", err)
		}
		t.static, t.source = st, st
	}
	ln, err := net.Listen("tcp", cfg.TLSListen)
	if err != nil {
		return nil, err
	}
	if t.static == nil {
		if err := t.startACME(ctx, cfg, plainAddr, ln.Addr(), dnsGate); err != nil {
			ln.Close()
			return nil, err
		}
	} else {
		go t.static.Watch(ctx, staticReloadInterval)
	}
	// The handler comes once the Handler is built (wire).
	t.srv = newHTTPServer(nil, log)
	t.ln = guardConnections(ln, t.srv, limits) // limits.go
	t.srv.TLSConfig = certs.TLSConfig(t.source)
	t.catalogChanged(cat)
	if t.static != nil {
		log.Info("serving HTTPS", "listen", ln.Addr().String(), "certificates", "files")
	}
	return t, nil
}

// startACME opens the certificate storage (cfg.Storage, shared by every
// replica, or the data directory) and starts the ACME manager on it, for
// the plain and TLS listeners at httpAddr and tlsAddr. Both are closed
// when ctx ends. With cfg.AcmeOnDemand a name's certificate is obtained
// at its first handshake, new orders held to cfg.AcmeOrderRate a minute;
// otherwise, with dnsGate set, a name without a certificate is ordered
// once dnsGate lets it through (certs.ACMEOptions.DNSGate).
func (t *httpsService) startACME(ctx context.Context, cfg *Config, httpAddr, tlsAddr net.Addr, dnsGate func(string) bool) error {
	// certstore.Open does not connect, and its errors and String never
	// repeat the URL's user or password.
	st, err := certstore.Open(cfg.Storage, cfg.DataDir, certstore.Options{Log: t.log})
	if err != nil {
		return err
	}
	t.storage = certstore.NewMetrics()
	if cfg.AcmeOnDemand {
		dnsGate = nil // a handshake proves the name reaches us
	}
	m, err := certs.NewManager(certs.ACMEOptions{
		DataDir:   cfg.DataDir,
		Storage:   st,
		Metrics:   t.storage,
		OnDemand:  cfg.AcmeOnDemand,
		OrderRate: cfg.AcmeOrderRate,
		Directory: cfg.AcmeDirectory,
		Email:     cfg.AcmeEmail,
		CARoots:   cfg.AcmeCARoots,
		HTTPAddr:  httpAddr,
		TLSAddr:   tlsAddr,
		DNSGate:   dnsGate,
		Log:       t.log,
	})
	if err != nil {
		st.Close()
		return err
	}
	t.acme, t.source = m, m
	context.AfterFunc(ctx, func() {
		m.Stop()
		st.Close()
	})
	t.log.Info("serving HTTPS", "listen", tlsAddr.String(), "certificates", "acme",
		"storage", st.String(), "on_demand", cfg.AcmeOnDemand, "dns_gate", dnsGate != nil)
	return nil
}

// readiness is what /readyz reports on the certificates, and with ACME
// on their storage; nothing when t is nil.
func (t *httpsService) readiness() []handlers.Readiness {
	if t == nil {
		return nil
	}
	r := []handlers.Readiness{handlers.ReadinessFunc(func() (bool, []string) {
		return certs.Report(t.source, time.Now())
	})}
	if t.acme != nil {
		r = append(r, handlers.ReadinessFunc(t.acme.StorageReady))
	}
	return r
}

// plainRules are the rules of the plain listener beside HTTPS; nil when t
// is nil.
func (t *httpsService) plainRules() *handlers.PlainRules {
	if t == nil {
		return nil
	}
	return &handlers.PlainRules{
		PublicHost:     t.publicHost,
		HasCertificate: func(host string) bool { _, ok := t.source.Certificate(host); return ok },
	}
}

// wire makes h's router the HTTPS server's handler and returns the plain
// listener's handler: h's plain router, with ACME HTTP-01 challenges
// answered. When t is nil it is h's router.
func (t *httpsService) wire(h *handlers.Handler) http.Handler {
	if t == nil {
		return h.PlainRouter()
	}
	t.srv.Handler = h.Router()
	if t.acme != nil {
		return t.acme.HTTPHandler(h.PlainRouter())
	}
	return h.PlainRouter()
}

// catalogChanged makes the HTTPS names those of cat: with ACME, the
// certificates of new names are obtained at once, in the background, and
// names gone are no longer served. Call it whenever the catalog is
// swapped; it returns at once.
func (t *httpsService) catalogChanged(cat *provision.Catalog) {
	if t == nil {
		return
	}
	names := cat.TLSNames(t.publicHost)
	if t.acme != nil {
		t.acme.SetNames(names)
	} else {
		t.static.SetNames(names)
	}
}

// served returns the HTTPS server for serveAllUntilDone; none when t is nil.
func (t *httpsService) served() []served {
	if t == nil {
		return nil
	}
	return []served{{srv: t.srv, ln: t.ln, tls: true}}
}

// followSigner keeps signer set to a profile signer built from the HTTPS
// certificate of the public host (Config.SignWithTLS), rebuilt
// when that certificate is renewed, until ctx ends. Until a certificate
// exists the pointer stays nil and profiles are served unsigned.
func (t *httpsService) followSigner(ctx context.Context, signer *atomic.Pointer[profilesign.Signer]) {
	var current []byte // DER of the leaf signing now
	check := func() {
		c, ok := t.source.Certificate(t.publicHost)
		if !ok || len(c.Certificate) == 0 || bytes.Equal(c.Certificate[0], current) {
			return
		}
		s, err := profilesign.FromTLS(c)
		if err != nil {
			t.log.Warn("profiles not signed with the HTTPS certificate", "host", t.publicHost, "error", err)
			current = c.Certificate[0] // do not retry this certificate
			return
		}
		current = c.Certificate[0]
		signer.Store(s)
		t.log.Info("signing profiles with the HTTPS certificate", "host", t.publicHost, "signer", s.String())
	}
	// Look often until the first certificate arrives, then now and then:
	// a renewal replaces a certificate weeks before it expires.
	for {
		check()
		wait := time.Minute
		if current == nil {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// certificateStates returns the certificate state of each of names the
// listener serves (/domains' certificate column); nil when t is nil.
func (t *httpsService) certificateStates() func(names []string) map[string]string {
	if t == nil {
		return nil
	}
	return func(names []string) map[string]string {
		want := make(map[string]bool, len(names))
		for _, n := range names {
			want[n] = true
		}
		out := make(map[string]string, len(names))
		for _, s := range t.source.Status() {
			if want[s.Name] {
				out[s.Name] = string(s.State)
			}
		}
		return out
	}
}
