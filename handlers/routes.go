// Package handlers is mailautoconf's HTTP surface: each handler parses a
// request, asks package provision, and writes bytes. Protocol semantics live
// in provision, not here.
package handlers

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

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
	// RequestLog writes a line per request (requestlog.go); nil writes
	// none.
	RequestLog *RequestLog
	// Signer signs Apple profiles; nil, or a nil signer in it, serves
	// them unsigned. Store a new one to change certificates.
	Signer *atomic.Pointer[profilesign.Signer]
	// Ready lists what /readyz reports on besides the catalog.
	Ready []Readiness
	// Metrics counts requests and catalog reloads; nil counts nothing.
	Metrics *Metrics
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
}

// Handler serves the service's routes from a Config. New builds it with
// its routers, once; build one per server (tests build their own).
type Handler struct {
	cfg    Config
	router *Router    // every route
	plain  *Router    // the plain listener's: router when cfg.Plain is nil
	ops    *echo.Echo // the operations listener's
}

// maxBody bounds every request body; autodiscover requests are a few
// hundred bytes.
const maxBody = 64 << 10

// Router is the service's echo instance: echo finds the route, and
// ServeHTTP runs it through the request pipeline itself. It first spells
// a known path as its route does (canonicalPath), since routing must see
// the canonical spelling, then finds the route with echo's router and
// runs its handler inside serve (requestlog.go): the request log and
// metrics around the rate limit, the body limit, panic recovery and the
// error handler. echo's own ServeHTTP would build its middleware chain
// anew for every request, and a Pre middleware would cost two allocations
// more; here the chain is built once, in newRouter, and each request gets
// a requestContext from a pool, its echo context inside.
//
// Routes added to the Echo after New are served like the others;
// middleware added with Use is not run (there is none: what a middleware
// would do, serve does).
type Router struct {
	*echo.Echo
	h *Handler
	// next runs the route echo found: its handler, behind the plain
	// listener's rules on PlainRouter.
	next     echo.HandlerFunc
	contexts sync.Pool // of *requestContext
}

func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	canonicalPath(req)
	rc := r.contexts.Get().(*requestContext)
	rc.start(req, w)
	r.Echo.Router().Find(req.Method, echo.GetPath(req), rc.Context)
	r.h.serve(r.next, rc)
	rc.end()
	r.contexts.Put(rc)
}

// routed runs the handler of the route echo found for c.
func routed(c echo.Context) error { return c.Handler()(c) }

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

// newRouter returns a router serving every route through serve
// (Router), behind plain's rules when plain is not nil.
func (h *Handler) newRouter(plain *PlainRules) *Router {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.errorHandler
	h.Routes(e)
	r := &Router{Echo: e, h: h, next: routed}
	if plain != nil {
		r.next = plain.middleware(routed)
	}
	r.contexts.New = func() any { return &requestContext{Context: e.NewContext(nil, nil)} }
	return r
}

// Routes lists every route of the service.
func (h *Handler) Routes(e *echo.Echo) {
	get := []string{http.MethodGet, http.MethodHead}

	// Thunderbird autoconfig (docs/autoconfig.md#urls-and-order; docs/autoconfig.md#http-rules).
	e.Match(get, "/mail/config-v1.1.xml", h.autoconfig)
	e.Match(get, "/.well-known/autoconfig/mail/config-v1.1.xml", h.autoconfig)
	e.Match(get, "/v1.1/mail/config-v1.1.xml", h.autoconfig) // the "Nine" app's spelling
	e.Match(get, "/v1.1/:domain", h.ispdb)

	// Outlook Autodiscover (docs/autodiscover.md): POX by POST (Outlook,
	// Thunderbird) and by GET with no body (Delta Chat, iOS, Android
	// apps); v2 JSON in its query and path forms (docs/autodiscover.md#autodiscoverjson).
	e.POST("/autodiscover/autodiscover.xml", h.autodiscoverPOST)
	e.Match(get, "/autodiscover/autodiscover.xml", h.autodiscoverGET)
	e.Match(get, "/autodiscover/autodiscover.json", h.autodiscoverJSONQuery)
	e.Match(get, "/autodiscover/autodiscover.json/v1.0/*", h.autodiscoverJSONPath)

	// Apple configuration profiles (docs/apple-profiles.md) and the setup page
	// people open on their phone or computer, with its QR code and files.
	e.Match(get, "/mobileconfig", h.mobileconfig)
	e.Match(get, "/email.mobileconfig", h.mobileconfig)
	e.Match(get, "/apple", h.appleProfile)
	e.Match(get, "/", h.page)
	e.Match(get, "/qr.png", h.qrCode)
	e.Match(get, "/static/:file", h.static)

	// PACC (docs/pacc.md): ua-auto-config.<domain>, its digest in DNS.
	e.Match(get, "/.well-known/user-agent-configuration.json", h.pacc)

	e.Match(get, "/healthz", h.healthz)
	e.Match(get, "/readyz", h.readyz)
}

// routeFormat names the format a route serves, for the metrics and the
// request log; "" (no route matched) is FormatNone. A handler that learns
// more than its route tells (a POX POST in the mobilesync schema) sets the
// format itself with noteFormat.
func routeFormat(r string) string {
	// Every route is spelt in lower case (TestEveryRouteHasAFormat).
	switch {
	case r == "":
		return FormatNone
	case strings.HasSuffix(r, "/config-v1.1.xml") || strings.HasPrefix(r, "/v1.1/"):
		return FormatAutoconfig
	case r == "/.well-known/user-agent-configuration.json":
		return FormatPACC
	case strings.HasPrefix(r, "/autodiscover/autodiscover.json"):
		return FormatAutodiscoverJSON
	case strings.HasPrefix(r, "/autodiscover/"):
		return FormatAutodiscover
	case strings.Contains(r, "mobileconfig") || r == "/apple":
		return FormatMobileConfig
	case r == "/healthz" || r == "/readyz":
		return FormatHealth
	}
	return FormatPage
}

// newOps returns the operations listener's echo instance (OpsRouter).
func (h *Handler) newOps() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.errorHandler
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true, DisableErrorHandler: true}))
	get := []string{http.MethodGet, http.MethodHead}
	if h.cfg.Metrics != nil {
		e.Match(get, "/metrics", echo.WrapHandler(h.cfg.Metrics.Handler()))
	}
	e.Match(get, "/healthz", h.healthz)
	e.Match(get, "/readyz", h.readyz)
	return e
}

// canonicalPaths are matched case-insensitively: clients and documents
// spell them in several letter cases, and IIS, which clients were tested
// against, ignores case. Prefixes end in "/" and keep the rest as sent.
var canonicalPaths = []string{
	"/mail/config-v1.1.xml",
	"/.well-known/autoconfig/mail/config-v1.1.xml",
	"/v1.1/mail/config-v1.1.xml",
	"/v1.1/",
	"/mobileconfig",
	"/email.mobileconfig",
	"/apple",
	"/autodiscover/autodiscover.xml",
	"/autodiscover/autodiscover.json",
	"/autodiscover/autodiscover.json/v1.0/",
	"/.well-known/user-agent-configuration.json",
}

// canonicalPath rewrites a known path in any letter case to the spelling
// the router knows, before routing.
func canonicalPath(r *http.Request) {
	p := r.URL.Path
	for _, known := range canonicalPaths {
		if strings.HasSuffix(known, "/") {
			if len(p) > len(known) && strings.EqualFold(p[:len(known)], known) {
				p = known + p[len(known):]
				break
			}
		} else if strings.EqualFold(p, known) {
			p = known
			break
		}
	}
	if p != r.URL.Path {
		r.URL.Path = p
	}
	// Route on the decoded path only: an escaped slash in a domain then
	// never matches a route.
	r.URL.RawPath = ""
}

func (h *Handler) healthz(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return plainText(c, http.StatusOK, "ok\n")
}
