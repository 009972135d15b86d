package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// requestContext is the echo.Context handlers get (echo's custom-context
// pattern, set up by Router.ServeHTTP), and the one place per-request state
// lives: what the request log, the metrics and the error handler need, as
// plain fields. echo's own Set allocates a map on every request, which on
// the hot path cost more than rendering the answer.
type requestContext struct {
	echo.Context
	// arrived is when serve began the request: the clock is read once,
	// for the log, the metrics and a handler that needs the time.
	arrived time.Time
	domain  string
	addr    *provision.Address
	// address holds the address queryAddress parsed, for the request's
	// lifetime: the context is pooled, and nothing keeps the pointer
	// past the request.
	address provision.Address
	// format overrides the format routeFormat derives from the route.
	format string
	// err is the error the request was answered with, for the log's
	// reason and the metrics' unknown domains: the one the error handler
	// answered, or a handler's own (noteError).
	err error
	// errorPage, when set, renders the route's own error body; the error
	// handler calls it with the status it chose (the setup page answers
	// with its form).
	errorPage func(status int, err error) error
}

// start readies a pooled rc for a request (Router.ServeHTTP): its fields
// are zero (new, or cleared by end before it went back to the pool), and
// echo's context is reset to the request.
func (rc *requestContext) start(req *http.Request, w http.ResponseWriter) {
	rc.Context.Reset(req, w)
}

// end drops what rc holds of the request before it goes back to the
// pool. A request that panics past serve (http.ErrAbortHandler) never
// gets here, and its rc never goes back.
func (rc *requestContext) end() {
	c := rc.Context
	*rc = requestContext{Context: c}
	c.Reset(nil, nil)
}

// The note functions below do nothing on a context Router.ServeHTTP did not
// make (the operations router's): there is no line to write.

// noteRequest records the domain and address for the request log. The
// address is formatted only for a debug log line.
func noteRequest(c echo.Context, domain string, addr *provision.Address) {
	if rc, ok := c.(*requestContext); ok {
		rc.domain, rc.addr = domain, addr
	}
}

// requestTime returns when the request arrived, read once by serve;
// outside Router.ServeHTTP, the time now.
func requestTime(c echo.Context) time.Time {
	if rc, ok := c.(*requestContext); ok && !rc.arrived.IsZero() {
		return rc.arrived
	}
	return time.Now()
}

// noteFormat records a request's format when the route alone does not
// tell it: a POX POST in the mobilesync schema is FormatMobileSync.
func noteFormat(c echo.Context, format string) {
	if rc, ok := c.(*requestContext); ok {
		rc.format = format
	}
}

// noteError records the error a request is answered with, when a handler
// answers one itself (an Autodiscover error document) rather than
// returning it to the error handler.
func noteError(c echo.Context, err error) {
	if rc, ok := c.(*requestContext); ok {
		rc.err = err
	}
}

// setErrorPage makes page the renderer of the request's error bodies.
func setErrorPage(c echo.Context, page func(status int, err error) error) {
	if rc, ok := c.(*requestContext); ok {
		rc.errorPage = page
	}
}
