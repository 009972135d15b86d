package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"mailautoconf/internal/reqlog"
	"mailautoconf/provision"
)

// maxBody bounds every request body; autodiscover requests are a few
// hundred bytes.
const maxBody = 64 << 10

// Router is the service's echo instance: echo finds the route, and
// ServeHTTP runs it through the request pipeline itself. It first spells
// a known path as its route does (canonicalPath), since routing must see
// the canonical spelling, then finds the route with echo's router and
// runs its handler inside serve (below): the request log and metrics
// around the rate limit, the body limit, panic recovery and the error
// handler. echo's own ServeHTTP would build its middleware chain anew for
// every request, and a Pre middleware would cost two allocations more;
// here the chain is built once, in newRouter, and each request gets a
// requestContext from a pool, its echo context inside.
//
// Unlike an echo.Echo, a Router runs no middleware of echo's chain: Use
// and Pre panic (TestRouterUsePanics), since a middleware added there
// would silently never run. What a middleware would do, serve or guard
// does: add a step there. Routes added to the Echo after New are served
// like the others, with the middleware given to their own route or
// group, which echo wraps around the route's handler.
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

// Use panics: a Router runs no middleware of echo's chain (Router), and
// one added here would silently never run.
func (r *Router) Use(...echo.MiddlewareFunc) {
	panic(errNoMiddleware)
}

// Pre panics, as Use does.
func (r *Router) Pre(...echo.MiddlewareFunc) {
	panic(errNoMiddleware)
}

const errNoMiddleware = "handlers.Router runs no echo middleware: one added with Use or Pre would never run " +
	"(Router.ServeHTTP runs echo's routing, not its middleware chain); add the step to Handler.serve or " +
	"Handler.guard in handlers/router.go, or give it to the route or group"

// routed runs the handler of the route echo found for c.
func routed(c echo.Context) error { return c.Handler()(c) }

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

// serve runs a request's route (next) behind guard, then writes its
// line in the request log and counts it in the metrics:
// method, route, format, status, duration, guessed client family, domain
// and request id, through h.cfg.RequestLog. The full e-mail address and
// the client's IP address are logged only at debug level. Headers are
// never logged (the Authorization header Thunderbird sends to Autodiscover
// carries the user's password).
//
// Router.ServeHTTP calls it with the request's *requestContext, where the
// handlers note what the line says beyond the request itself
// (reqcontext.go); it answers their errors through the error handler.
func (h *Handler) serve(next echo.HandlerFunc, rc *requestContext) {
	c := rc.Context
	start := time.Now()
	rc.arrived = start
	req := c.Request()
	if err := h.guard(next, rc); err != nil {
		h.errorHandler(err, rc)
	}
	elapsed := time.Since(start)
	status := c.Response().Status
	format := rc.format
	if format == "" {
		format = routeFormat(c.Path())
	}
	ua := headerValue(req.Header, userAgentHeader)
	client := GuessClient(ua, req.URL.Path, req.URL.RawQuery)
	known := DomainNone
	switch {
	case errors.Is(rc.err, provision.ErrUnknownDomain):
		known = DomainUnknown
	case rc.domain != "":
		known = DomainKnown
	}
	h.cfg.Metrics.observeRequest(format, client, status, known, elapsed)

	rl := h.cfg.RequestLog
	if !rl.Enabled() {
		return // below the log level: no line to build
	}
	line := reqlog.Line{
		Time:      start.Add(elapsed),
		Method:    req.Method,
		Route:     c.Path(),
		Format:    format,
		Status:    status,
		Duration:  elapsed,
		Client:    string(client),
		Domain:    rc.domain,
		RequestID: givenRequestID(headerValue(req.Header, requestIDHeader)),
	}
	if rl.Debug() {
		if rc.addr != nil {
			line.Address = rc.addr.String()
		}
		// The TCP peer, not a forwarded-for header a client can
		// write; behind a proxy it is the proxy.
		line.Remote, line.UserAgent = req.RemoteAddr, truncate(ua, 256)
	}
	if rc.err != nil && status < 500 {
		line.Reason = boundedReason(rc.err)
	}
	rl.WriteLine(&line)
}

// guard runs next behind the checks every request passes: the rate limit
// (429s are logged and counted like any answer), the body limit, and
// recovery from a panic, which becomes an error: a 500 whose cause is
// logged, never shown. http.ErrAbortHandler goes on up, as net/http means
// it to.
func (h *Handler) guard(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	if h.cfg.RateLimit != nil {
		if err := h.cfg.RateLimit.check(c); err != nil {
			return err
		}
	}
	req := c.Request()
	if req.ContentLength > maxBody {
		return echo.ErrStatusRequestEntityTooLarge
	}
	if req.ContentLength < 0 && req.Body != nil && req.Body != http.NoBody {
		// A body without a length stops at the limit too; net/http then
		// closes the connection after the answer. One with a length is
		// cut at that length by net/http, and the length was checked.
		req.Body = http.MaxBytesReader(c.Response().Writer, req.Body, maxBody)
	}
	return next(c)
}
