// Package server runs the service: the plain, HTTPS and metrics
// listeners with their timeouts and connection limits, the certificates,
// profile signing, catalog reloads and graceful shutdown. It takes a
// Config, already validated, and reads no environment; the commands and
// the settings are the root package's.
package server

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
	"mailautoconf/internal/metrics"
	"mailautoconf/provision"
)

// settingPrefix begins the name of every setting, which messages name
// (MAILAUTOCONF_CATALOG); the settings themselves are read by the root
// package, never here.
const settingPrefix = "MAILAUTOCONF"

// Server timeouts and limits. Autoconfig requests are tiny and answered
// from memory, so every phase is short.
const (
	// ShutdownTimeout is how long in-flight requests have to finish
	// once Run's ctx ends.
	ShutdownTimeout = 20 * time.Second

	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second

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

// Config is what the server needs, already validated: the root
// package's settings.go builds it from the MAILAUTOCONF_* settings, whose
// names the fields follow. Run reads no environment.
type Config struct {
	Listen       string // address of the plain-HTTP listener
	Catalog      string // catalog file or directory; "" serves the embedded demo
	CatalogWatch bool   // reload on changes of the catalog's files (SIGHUP reloads in any case)

	LogFormat string        // "text" or "json"
	LogLevel  slog.Level    // full addresses are logged only at debug
	LogFlush  time.Duration // longest a log line waits to be written with others; 0: at once
	HeapFloor uint64        // heap size below which the garbage collector waits; 0: Go's default

	PublicHost string // normalised host name clients reach the service at; may be ""

	RateLimit               float64 // requests a second per client; 0: no limit
	RateBurst               int     // at least 1
	MaxConnections          int     // per listener; 0: bounded by file descriptors
	MaxConnectionsPerClient int     // at least 1

	MetricsListen string // address of the metrics and probes listener; "": off

	// HTTPS: TLSListen turns it on; certificates come from TLSCert and
	// TLSKey or TLSDir when set, else from the ACME CA.
	TLSListen     string
	TLSCert       string
	TLSKey        string
	TLSDir        string
	DataDir       string // keeps the ACME account and certificates, when Storage is ""
	Storage       string // URL of the certificate storage replicas share (certstore.Open); may hold a password, never logged
	ACMEOnDemand  bool   // obtain certificates at their first handshake
	ACMEOrderRate int    // new orders a minute with ACMEOnDemand; at least 1
	ACMEDirectory string
	ACMEEmail     string
	ACMECARoots   string // PEM file of roots to trust for the ACME server itself
	SignWithTLS   bool   // sign profiles with the HTTPS certificate of PublicHost

	// Getenv reads the directories' connection URLs and bind passwords
	// (the variables a catalog's url_env and bind_password_env name);
	// nil reads none. The root package passes os.Getenv.
	Getenv func(string) string `json:"-"`

	// Apple profile signing: a certificate (intermediates after it) and
	// its key, PEM files; both empty: profiles are unsigned.
	SignCert string
	SignKey  string
}

// Run serves cfg until ctx ends, then shuts down gracefully (in-flight
// requests finish, within ShutdownTimeout). Its log, and the request log,
// go to logOutput, lines batched together. It returns at once, with an
// error, when the catalog, a listener, the certificates or the signing
// pair cannot be had at start; it stops with an error when a directory's
// domain list, first read after start, shares a domain with another owner
// (directories.go), as the same list kept on disk refuses the start.
func Run(ctx context.Context, cfg Config, logOutput io.Writer) error {
	lw := logbatch.New(logOutput, cfg.LogFlush) // lines written together
	defer lw.Close()
	defer gcfloor.Start(cfg.HeapFloor)()
	log := newLogger(cfg.LogFormat, cfg.LogLevel, lw)
	if cfg.Catalog == "" {
		log.Info("no catalog configured (MAILAUTOCONF_CATALOG): serving the embedded demo catalog")
	}
	cat, err := provision.LoadOrDemo(cfg.Catalog)
	if err != nil {
		return fmt.Errorf("catalog refused:\n%w", err)
	}
	// A directory's list first read after start may refuse the catalog
	// as one kept on disk does at start (directories.go): it ends ctx,
	// and Run returns its error.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var current atomic.Pointer[provision.Catalog]
	hc := handlers.Config{Catalog: &current, Log: log, PublicHost: cfg.PublicHost,
		RequestLog: handlers.NewRequestLog(lw, cfg.LogFormat, cfg.LogLevel),
		RateLimit:  handlers.NewRateLimit(cfg.RateLimit, cfg.RateBurst), // nil: no limit
		Metrics:    handlers.NewMetrics(),
	}
	// The process's metrics: the requests' series, the catalog's, the
	// certificates' and the directories' (internal/metrics).
	reg := metrics.New()
	reg.Register(hc.Metrics.Collectors()...)
	hc.MetricsHandler = reg.Handler()
	// The catalog served is the file catalog plus its directories'
	// domain lists (directories.go): those kept on disk now, those read
	// from the servers once Run has started them.
	dirs, cat, err := newDirectories(cat, cfg.Getenv, cfg.DataDir, &current, reg, log)
	if err != nil {
		return fmt.Errorf("directories: %w", err)
	}
	defer dirs.wait() // after the servers: the directories' queries end with ctx
	current.Store(cat)
	hc.Logins = dirs
	if hc.Signer, err = profileSigner(&cfg, log); err != nil {
		return err
	}
	reg.CatalogLoaded(cat, time.Now())

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	// The handler comes once the Handler is built, below.
	srv := newHTTPServer(nil, log)
	limits := connectionLimits(&cfg)
	ln = guardConnections(ln, srv, limits) // limits.go
	// HTTPS, when cfg.TLSListen is set (tls.go); nil otherwise.
	https, err := startHTTPS(ctx, &cfg, limits, cat, ln.Addr(), log)
	if err != nil {
		ln.Close()
		return err
	}
	hc.Ready, hc.Plain = append(https.readiness(), dirs), https.plainRules()
	h := handlers.New(hc)
	srv.Handler = https.wire(h)
	ops, err := listenMetrics(cfg.MetricsListen, limits, h, log)
	if err != nil {
		ln.Close()
		closeListeners(https.served())
		return err
	}
	defer closeListeners(ops) // on the error paths below
	// SignWithTLS, when no signing pair is set: profiles are signed with
	// the public host's HTTPS certificate once it exists.
	if cfg.SignWithTLS && hc.Signer.Load() == nil {
		go https.followSigner(ctx, hc.Signer)
	}
	// Catalog reloads on SIGHUP and file changes (reload.go); the HTTPS
	// names follow each catalog swapped in.
	dirs.hooks = []func(*provision.Catalog){https.catalogChanged}
	dirs.stop = func(err error) { stop(refusal{err}) }
	if err := startReloads(ctx, cfg.Catalog, cfg.CatalogWatch, &current, reg, log, dirs); err != nil {
		ln.Close()
		return err
	}
	dirs.start(ctx)
	watchCertificates(reg, https)
	log.Info("serving", "listen", ln.Addr().String(), "domains", cat.DomainCount())
	err = serveAllUntilDone(ctx, log, append(append([]served{{srv: srv, ln: ln}}, https.served()...), ops...)...)
	if r, ok := context.Cause(ctx).(refusal); ok {
		return errors.Join(r.err, err)
	}
	return err
}

// refusal is the cause of Run's end when the catalog is refused after
// start.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// newLogger builds the service's logger.
func newLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// listenerCount is the number of listeners cfg opens: the plain
// one, HTTPS and the metrics listener when set.
func listenerCount(cfg *Config) int {
	n := 1
	for _, addr := range []string{cfg.TLSListen, cfg.MetricsListen} {
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
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
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
