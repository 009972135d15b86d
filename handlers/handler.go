package handlers

import (
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"mailautoconf/internal/dnswatch"
	"mailautoconf/internal/profilesign"
	"mailautoconf/provision"
)

// Config is what a Handler is built from. New copies it and never
// changes it; what it points to (the catalog, the signer) may be swapped
// while serving.
type Config struct {
	// Catalog is swapped whole on reload; handlers load it once per
	// request so a request never sees two catalogs.
	Catalog *atomic.Pointer[provision.Catalog]
	// Log takes the service's own messages (failures, reloads).
	Log *slog.Logger
	// RequestLog writes a line per request (serve, router.go); nil writes
	// none.
	RequestLog *RequestLog
	// Signer signs Apple profiles; nil, or a nil signer in it, serves
	// them unsigned. Store a new one to change certificates.
	Signer *atomic.Pointer[profilesign.Signer]
	// Ready lists what /readyz reports on besides the catalog.
	Ready []Readiness
	// Metrics counts requests; nil counts nothing.
	Metrics *Metrics
	// MetricsHandler serves /metrics on the operations listener: the
	// process's registry (internal/metrics), which holds Metrics'
	// series. nil serves no /metrics.
	MetricsHandler http.Handler
	// PublicHost is the service's own host name (MAILAUTOCONF_PUBLIC_HOST),
	// or "". Autodiscover v2 points clients at it, else at
	// autodiscover.<domain>: never at a host the request chose.
	PublicHost string
	// RateLimit limits each client's requests (ratelimit.go); nil, the
	// default, limits nothing.
	RateLimit *RateLimit
	// Profiles keeps the profiles last served (profilecache.go), so a
	// second download is byte-identical and costs no signing; nil makes
	// one of the default size.
	Profiles *ProfileCache
	// Logins looks %LOGIN% up in the catalog's directories (login.go);
	// nil: the address stands in for every login.
	Logins Logins
	// Plain, when set, are the rules of the plain-HTTP listener beside an
	// HTTPS one (plain.go); nil: the plain listener serves every route as
	// it is.
	Plain *PlainRules
	// DNSWatch is the DNS watch (MAILAUTOCONF_DNS_WATCH) that /domains
	// and /api/v1/domains show on the operations listener (domains.go);
	// nil: the watch is off, and they say so with a 404.
	DNSWatch *dnswatch.Watch
	// CertificateStates returns the state of the HTTPS certificate of
	// each name asked that the listener serves (internal/certs' words);
	// nil: no HTTPS, and /domains shows no certificates.
	CertificateStates func(names []string) map[string]string
	// AdminToken, when set (MAILAUTOCONF_ADMIN_TOKEN), is the bearer
	// token /domains and /api/ ask for; /metrics and the probes never do.
	AdminToken string
}

// Handler serves the service's routes from a Config. New builds it with
// its routers, once; build one per server (tests build their own).
type Handler struct {
	cfg    Config
	router *Router    // every route
	plain  *Router    // the plain listener's: router when cfg.Plain is nil
	ops    *echo.Echo // the operations listener's
}

// New returns a Handler serving cfg, with its caches made and its
// routers built. cfg is copied, not changed.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg}
	if h.cfg.Profiles == nil {
		h.cfg.Profiles = NewProfileCache(profileCacheItems, profileCacheBytes)
	}
	h.router = h.newRouter(nil)
	h.plain = h.router
	if cfg.Plain != nil {
		h.plain = h.newRouter(cfg.Plain)
	}
	h.ops = h.newOps()
	return h
}

// Router returns the router serving every route: the HTTPS listener's, or
// the plain listener's when the service serves no HTTPS itself.
func (h *Handler) Router() *Router { return h.router }

// PlainRouter returns the plain-HTTP listener's router: Router's routes
// behind Config.Plain's rules, or Router itself when Config.Plain is nil.
func (h *Handler) PlainRouter() *Router { return h.plain }

// OpsRouter returns the operations listener's echo instance
// (MAILAUTOCONF_METRICS_LISTEN), kept off the public one: metrics and the
// probes. Its requests are neither logged nor counted (a scrape every few
// seconds would drown the log).
func (h *Handler) OpsRouter() *echo.Echo { return h.ops }
