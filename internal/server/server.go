// Package server runs the service: the plain, HTTPS and metrics
// listeners with their timeouts and connection limits, the certificates,
// profile signing, catalog reloads and graceful shutdown. Its Config
// declares every MAILAUTOCONF_* setting; Run takes one already read and
// validated, and reads no environment: the commands, and the reading of
// the settings, are the root package's.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/gommon/bytes"

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

// Config is every MAILAUTOCONF_* setting: envconfig fills it (the root
// package's settings.go, prefix MAILAUTOCONF; split_words turns LogFormat
// into MAILAUTOCONF_LOG_FORMAT), and `mailautoconf help` prints the desc
// and default of each field. The root package validates it before Run,
// which reads no environment. PublicIpv4 and PublicIpv6 are read by the
// dns and doctor commands, not by Run. The ACME fields are spelt Acme
// because split_words would turn ACMECARoots into ACMECA_ROOTS, and
// envconfig's messages name the field (assigning ... to AcmeOnDemand).
type Config struct {
	Listen     string `default:":8080" desc:"address of the plain-HTTP listener"`
	Catalog    string `desc:"catalog YAML file, or directory of *.yaml files merged; unset serves the embedded demo catalog"`
	LogFormat  string `split_words:"true" default:"text" desc:"log format: text or json"`
	LogLevel   string `split_words:"true" default:"info" desc:"log level: debug, info, warn or error (full addresses are logged only at debug)"`
	PublicHost string `split_words:"true" desc:"host name clients reach the service at: the CNAME target of autoconfig.<domain> and autodiscover.<domain>"`
	PublicIpv4 string `split_words:"true" desc:"IPv4 addresses of the service, comma-separated: A records for autoconfig/autodiscover names (mailautoconf dns)"`
	PublicIpv6 string `split_words:"true" desc:"IPv6 addresses of the service, comma-separated: AAAA records for autoconfig/autodiscover names (mailautoconf dns)"`

	// LogFlush batches log lines into one write (internal/logbatch).
	LogFlush time.Duration `split_words:"true" default:"100ms" desc:"longest a log line waits to be written with others (one write per line costs more than a request); 0 writes each line at once"`

	// Limits on what the internet may send (limits.go,
	// handlers/ratelimit.go).
	RateLimit               float64 `split_words:"true" desc:"requests a second each client IP address (IPv6: each /64) may make, beyond RATE_BURST at once; over it: 429 with Retry-After; unset or 0: no limit"`
	RateBurst               int     `split_words:"true" default:"20" desc:"requests a client may make at once before RATE_LIMIT applies"`
	MaxConnections          int     `split_words:"true" default:"10000" desc:"open connections per listener; beyond, new ones wait in the kernel's queue, and near it idle keep-alive connections are closed first; 0: bounded by the file descriptor limit"`
	MaxConnectionsPerClient int     `split_words:"true" default:"64" desc:"open connections per listener of one client (IPv4 address, IPv6 /64); beyond, its longest idle one is closed for the new one, or with none idle the new one is closed at once"`

	// HeapFloor lets the heap grow this far before the garbage collector
	// runs (internal/gcfloor).
	HeapFloor ByteSize `split_words:"true" default:"32MiB" desc:"heap size below which the garbage collector waits (GOGC=100 above it; GOGC set in the environment overrides it); 0: Go's default"`

	// Operations (reload.go, metrics.go): live reload of the catalog,
	// and the metrics and probes listener.
	CatalogWatch  bool   `split_words:"true" default:"true" desc:"reload the catalog when its files change (edits, renames, ConfigMap updates); SIGHUP reloads it in any case"`
	MetricsListen string `split_words:"true" desc:"address of the metrics and probes listener (/metrics, /healthz, /readyz), e.g. 127.0.0.1:9090; unset: off"`

	// HTTPS (tls.go). TLS_LISTEN turns it on; certificates come from
	// TLS_CERT/TLS_KEY or TLS_DIR when set, else from the ACME CA.
	TLSListen     string `split_words:"true" desc:"address of the HTTPS listener (e.g. :443); unset: no HTTPS"`
	TLSCert       string `split_words:"true" desc:"certificate chain PEM file, instead of ACME (with TLS_KEY)"`
	TLSKey        string `split_words:"true" desc:"private key PEM file of TLS_CERT"`
	TLSDir        string `split_words:"true" desc:"directory of certificate/key PEM pairs chosen by SNI, instead of ACME"`
	DataDir       string `split_words:"true" desc:"directory keeping ACME account and certificates (required for ACME unless STORAGE is set)"`
	Storage       string `split_words:"true" desc:"URL of the certificate storage several replicas share, instead of DATA_DIR: postgres://, postgresql://, redis:// or rediss:// (internal/certstore); unset: DATA_DIR on disk"`
	AcmeOnDemand  bool   `split_words:"true" default:"false" desc:"obtain a name's certificate at its first TLS handshake instead of at start, for names the catalog or a directory serves at that moment; the handshake waits 4 s at most, the order goes on in the background"`
	AcmeOrderRate int    `split_words:"true" default:"10" desc:"with ACME_ON_DEMAND, new certificate orders a minute per replica; a handshake over it fails at once, and the client's next attempt tries again"`
	AcmeDirectory string `split_words:"true" default:"https://acme-v02.api.letsencrypt.org/directory" desc:"ACME directory URL"`
	AcmeEmail     string `split_words:"true" desc:"contact address of the ACME account"`
	AcmeCARoots   string `split_words:"true" desc:"PEM file of roots to trust for the ACME server itself (private or test CAs)"`
	SignWithTLS   bool   `split_words:"true" desc:"sign Apple profiles with the HTTPS certificate of PUBLIC_HOST when no signing pair is set"`

	// The DNS watch (watch.go, internal/dnswatch; docs/guide/watch.md):
	// every served domain's records checked in the background, shown on
	// the operations listener, and the ACME gate.
	DNSWatch        time.Duration `envconfig:"DNS_WATCH" desc:"check every served domain's DNS records this often in the background (e.g. 6h): /domains and /api/v1/domains on METRICS_LISTEN, the mailautoconf_dns_* metrics, and ACME ahead of time orders a name's certificate only once its DNS points at PUBLIC_HOST; unset or 0: off"`
	DNSWatchQPS     float64       `envconfig:"DNS_WATCH_QPS" default:"50" desc:"DNS queries a second the watch's sweeps send at most, all resolvers together, and its rechecks apart at the same pace; 0: unpaced"`
	DNSWatchRecheck time.Duration `envconfig:"DNS_WATCH_RECHECK" default:"2m" desc:"how often the watch asks again about the host names (autoconfig, autodiscover, ua-auto-config) of domains that did not point at the service, and checks domains added since the last sweep, so their certificates follow minutes after the DNS is published"`
	DNSResolvers    []string      `envconfig:"DNS_RESOLVERS" desc:"DNS servers the watch asks, comma-separated host:port (e.g. 1.1.1.1:53,8.8.8.8:53); a record is ok only when every one agrees; unset: the first nameserver of /etc/resolv.conf"`
	AdminToken      string        `envconfig:"ADMIN_TOKEN" desc:"when set, /domains and /api/ on METRICS_LISTEN answer only requests with Authorization: Bearer <this token>; /metrics, /healthz and /readyz never ask for it"`

	// Apple profile signing (signing.go): a certificate and its key.
	SignCert string `split_words:"true" desc:"PEM file of the certificate signing Apple profiles, intermediates after it; unset: profiles are unsigned"`
	SignKey  string `split_words:"true" desc:"PEM file of the private key (RSA or ECDSA) of SIGN_CERT"`

	// Getenv reads the directories' connection URLs and bind passwords
	// and the TSIG keys of dns_updates (the variables a catalog's
	// url_env, bind_password_env and tsig_key_env name); nil reads none. The root package passes os.Getenv.
	Getenv func(string) string `json:"-" ignored:"true"`
}

// ByteSize is a setting in bytes, written "32MiB", "64MB", "512K" or as
// a plain number.
type ByteSize uint64

// Decode implements envconfig.Decoder.
func (b *ByteSize) Decode(s string) error {
	n, err := bytes.Parse(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (e.g. 32MiB, 64MB, 0)", s)
	}
	*b = ByteSize(n)
	return nil
}

// ParseLevel reads a LogLevel setting.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("settings: %s_LOG_LEVEL=%q: want debug, info, warn or error", settingPrefix, s)
	}
	return l, nil
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
	defer gcfloor.Start(uint64(cfg.HeapFloor))()
	level, _ := ParseLevel(cfg.LogLevel) // validated by the root package
	log := newLogger(cfg.LogFormat, level, lw)
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
		RequestLog: handlers.NewRequestLog(lw, cfg.LogFormat, level),
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
	// The DNS watch, when cfg.DNSWatch is set (watch.go); it gates ACME
	// ahead of time.
	// RFC 2136 updates of the zones the catalog's dns_updates lists
	// (dnsupdates.go); nil without a public host or addresses.
	pub, err := newDNSPublisher(&cfg, cat, current.Load, log, cfg.Getenv)
	if err != nil {
		ln.Close()
		return err
	}
	reg.Register(pub.collectors()...)
	var drifted func(string)
	if pub != nil {
		drifted = pub.drifted
	}
	dns, err := newDNSWatch(&cfg, &current, reg, log, drifted)
	if err != nil {
		ln.Close()
		return err
	}
	// HTTPS, when cfg.TLSListen is set (tls.go); nil otherwise.
	https, err := startHTTPS(ctx, &cfg, limits, cat, ln.Addr(), dns.gate(), log)
	if err != nil {
		ln.Close()
		return err
	}
	hc.Ready, hc.Plain = append(https.readiness(), dirs), https.plainRules()
	hc.DNSWatch, hc.CertificateStates, hc.AdminToken = dns.watch(), https.certificateStates(), cfg.AdminToken
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
	dirs.hooks = []func(*provision.Catalog){https.catalogChanged, pub.catalogChanged}
	dirs.stop = func(err error) { stop(refusal{err}) }
	if err := startReloads(ctx, cfg.Catalog, cfg.CatalogWatch, &current, reg, log, dirs); err != nil {
		ln.Close()
		return err
	}
	dirs.start(ctx)
	watchCertificates(reg, https)
	dns.start(ctx, https)
	pub.start(ctx)
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
