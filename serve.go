package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"mailautoconf/handlers"
	"mailautoconf/internal/gcfloor"
	"mailautoconf/internal/logbatch"
	"mailautoconf/provision"
)

// Server timeouts and limits. Autoconfig requests are tiny and answered
// from memory, so every phase is short.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	shutdownTimeout   = 20 * time.Second

	// idleTimeout closes a keep-alive connection this long after its
	// last answer. A mail client's lookups come in one burst, and a
	// setup page's profile download follows the page within seconds;
	// past that a connection held open only takes a slot from someone
	// else, and a new one costs a handshake of about a millisecond.
	// Near the connection cap idle ones go sooner (limits.go).
	idleTimeout = 15 * time.Second

	// headerLimit is the most a request's line and headers may take,
	// from the first byte to the blank line included; more gets 431.
	headerLimit = 16 << 10
	// net/http reads up to MaxHeaderBytes plus 4096 bytes before it
	// answers 431 (Server.initialReadLimitSize, net/http/server.go, Go
	// 1.26), so MaxHeaderBytes is set that much lower. HTTP/2 advertises
	// MaxHeaderBytes plus 320 as SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113
	// section 6.5.2), counted its own way.
	maxHeaderBytes = headerLimit - 4096
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments; settings come from %s_* variables (see: mailautoconf help)", envPrefix)
	}
	s, err := loadSettings()
	if err != nil {
		return err
	}
	lw := logbatch.New(stderr, s.LogFlush) // lines written together
	defer lw.Close()
	defer gcfloor.Start(uint64(s.HeapFloor))()
	log := newLogger(s, lw)
	cat, err := loadCatalog(s.Catalog, log)
	if err != nil {
		return err
	}
	var current atomic.Pointer[provision.Catalog]
	current.Store(cat)
	level, _ := parseLevel(s.LogLevel)
	cfg := handlers.Config{Catalog: &current, Log: log, PublicHost: s.PublicHost,
		RequestLog: handlers.NewRequestLog(lw, s.LogFormat, level),
		RateLimit:  handlers.NewRateLimit(s.RateLimit, s.RateBurst), // nil: no limit
		Metrics:    handlers.NewMetrics(),
	}
	if cfg.Signer, err = profileSigner(s, log); err != nil {
		return err
	}
	cfg.Metrics.CatalogLoaded(cat, time.Now())

	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return err
	}
	// The handler comes once the Handler is built, below.
	srv := newHTTPServer(nil, log)
	ln = guardConnections(ln, srv, connectionLimits(s, listenerCount(s))) // limits.go
	// HTTPS, when MAILAUTOCONF_TLS_LISTEN is set (serve_tls.go); nil otherwise.
	https, err := startHTTPS(ctx, s, cat, ln.Addr(), log)
	if err != nil {
		ln.Close()
		return err
	}
	cfg.Ready, cfg.Plain = https.readiness(), https.plainRules()
	h := handlers.New(cfg)
	srv.Handler = https.wire(h)
	metrics, err := listenMetrics(s, h, log)
	if err != nil {
		ln.Close()
		closeListeners(https.served())
		return err
	}
	defer closeListeners(metrics) // on the error paths below
	// MAILAUTOCONF_SIGN_WITH_TLS, when no signing pair is set: profiles
	// are signed with the public host's HTTPS certificate once it exists.
	if s.SignWithTLS && cfg.Signer.Load() == nil {
		go https.followSigner(ctx, cfg.Signer)
	}
	// Catalog reloads on SIGHUP and file changes (reload.go); the HTTPS
	// names follow each catalog swapped in.
	if err := startReloads(ctx, s.Catalog, s.CatalogWatch, &current, cfg.Metrics, log, https.catalogChanged); err != nil {
		ln.Close()
		return err
	}
	watchCertificates(cfg.Metrics, https)
	log.Info("serving", "listen", ln.Addr().String(), "domains", cat.DomainCount())
	return serveAllUntilDone(ctx, log, append(append([]served{{srv: srv, ln: ln}}, https.served()...), metrics...)...)
}

// loadCatalog loads the configured catalog, or the embedded demo when none
// is configured.
func loadCatalog(path string, log *slog.Logger) (*provision.Catalog, error) {
	if path == "" {
		log.Info("no catalog configured (" + envPrefix + "_CATALOG): serving the embedded demo catalog")
		return provision.Demo(), nil
	}
	cat, err := provision.Load(path)
	if err != nil {
		return nil, fmt.Errorf("catalog refused:\n%w", err)
	}
	return cat, nil
}

// listenerCount is the number of listeners the settings open: the plain
// one, HTTPS and the metrics listener when set.
func listenerCount(s *Settings) int {
	n := 1
	for _, addr := range []string{s.TLSListen, s.MetricsListen} {
		if addr != "" {
			n++
		}
	}
	return n
}

// newHTTPServer returns a server with the timeouts and header limit
// above. It does not limit connections: guardConnections does, on the
// listener the server serves.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// serveUntilDone serves until ctx ends, then shuts down gracefully: the
// listener closes at once and in-flight requests finish.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) error {
	return serveAllUntilDone(ctx, log, served{srv: srv, ln: ln})
}

// served is one server and the listener it serves; tls serves HTTPS with
// the server's TLSConfig (and HTTP/2).
type served struct {
	srv *http.Server
	ln  net.Listener
	tls bool
}

// serveAllUntilDone serves every server until ctx ends or one of them
// fails, then shuts them all down gracefully: listeners close at once and
// in-flight requests finish.
func serveAllUntilDone(ctx context.Context, log *slog.Logger, servers ...served) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if s.tls {
				errc <- s.srv.ServeTLS(s.ln, "", "")
			} else {
				errc <- s.srv.Serve(s.ln)
			}
		}()
	}
	var errs []error
	running := len(servers)
	select {
	case err := <-errc:
		running--
		errs = append(errs, err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	for ; running > 0; running-- {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
