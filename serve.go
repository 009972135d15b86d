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
	"mailautoconf/provision"
)

// Server timeouts and limits. Autoconfig requests are tiny and answered
// from memory, so every phase is short.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 20 * time.Second
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments; settings come from %s_* variables (see: mailautoconf help)", envPrefix)
	}
	s, err := loadSettings()
	if err != nil {
		return err
	}
	log := newLogger(s, stderr)
	cat, err := loadCatalog(s.Catalog, log)
	if err != nil {
		return err
	}
	var current atomic.Pointer[provision.Catalog]
	current.Store(cat)
	h := &handlers.Handler{Catalog: &current, Log: log, PublicHost: s.PublicHost}

	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return err
	}
	srv := newHTTPServer(handlers.New(h), log)
	log.Info("serving", "listen", ln.Addr().String(), "domains", len(cat.Domains()))
	return serveUntilDone(ctx, srv, ln, log)
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
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
