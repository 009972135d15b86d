package handlers

import (
	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// requestContext is the echo.Context handlers get (echo's custom-context
// pattern, set up by requestLog): it carries what the request log and the
// metrics need as plain fields. echo's own Set allocates a map on every
// request, which on the hot path cost more than rendering the answer.
type requestContext struct {
	echo.Context
	domain string
	addr   *provision.Address
	// format overrides the format routeFormat derives from the route.
	format string
}

// noteRequest records the domain and address for the request log. The
// address is formatted only for a debug log line. Every handler runs
// under requestLog, which hands it a *requestContext.
func noteRequest(c echo.Context, domain string, addr *provision.Address) {
	if rc, ok := c.(*requestContext); ok {
		rc.domain, rc.addr = domain, addr
	}
}

// noteFormat records a request's format when the route alone does not
// tell it: a POX POST in the mobilesync schema is FormatMobileSync.
func noteFormat(c echo.Context, format string) {
	if rc, ok := c.(*requestContext); ok {
		rc.format = format
	}
}
