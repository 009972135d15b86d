package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// errorHandler is the one place that maps error kinds to status codes and
// writes error bodies. Bodies are short plain text: a 200 of any XML would
// make Thunderbird and Delta Chat stop looking (docs/autoconfig.md#http-rules), and
// internal errors are never shown.
func (h *Handler) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	switch {
	case errors.Is(err, provision.ErrUnknownDomain):
		status, msg = http.StatusNotFound, "domain not served"
	case errors.Is(err, provision.ErrBadAddress), errors.Is(err, provision.ErrBadRequest):
		// Our own messages: fixed text naming the parameter, never its
		// value (TestErrorsNameTheParameter); bounded all the same.
		status, msg = http.StatusBadRequest, boundedReason(err)
	case isMaxBytes(err):
		// The body limit, met by a handler reading the body (guard).
		status, msg = http.StatusRequestEntityTooLarge, "request body too large"
	case errors.As(err, &he):
		status = he.Code
		msg = strings.ToLower(http.StatusText(status))
		if status == http.StatusRequestEntityTooLarge {
			msg = "request body too large"
		}
	}
	if status >= 500 {
		h.cfg.Log.Error("request failed", "error", err, "path", c.Request().URL.Path)
	}
	noteError(c, err)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	// The setup page answers with itself: its form and a message.
	if rc, ok := c.(*requestContext); ok && rc.errorPage != nil && rc.errorPage(status, err) == nil {
		return
	}
	// A person's browser gets a page in the person's language; the
	// answer on such a path depends on Accept and Accept-Language.
	if personRoute(c, status) {
		if wantsPage(c.Request()) && personErrorPage(c, status) == nil {
			return
		}
		c.Response().Header()[echo.HeaderVary] = acceptVary
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = plainText(c, status, msg+"\n")
}

// personRoute reports whether a 404 or 400 may go to a person rather
// than to a mail client: on the page's own paths, a profile's, or a path
// we do not serve. The clients' paths (autoconfig, Autodiscover, PACC)
// always answer plain text, as clients expect
// (docs/autoconfig.md#http-rules).
func personRoute(c echo.Context, status int) bool {
	if status != http.StatusNotFound && status != http.StatusBadRequest {
		return false
	}
	switch routeFormat(c.Path()) {
	case FormatPage, FormatMobileConfig, FormatNone:
		return true
	}
	return false
}

// wantsPage reports whether a request is a browser's navigation: a GET
// whose Accept names text/html.
func wantsPage(req *http.Request) bool {
	return req.Method == http.MethodGet && acceptsHTML(req.Header.Get(echo.HeaderAccept))
}

// acceptsHTML reports whether an Accept header names text/html, as every
// browser's navigation does ("text/html,application/xhtml+xml,...");
// mail clients send */* or nothing.
func acceptsHTML(accept string) bool {
	if len(accept) > 1024 {
		accept = accept[:1024]
	}
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
			return true
		}
	}
	return false
}

// personErrorPage writes the setup page's 404 or 400 page, in the
// person's language, with a link to the form. It shows nothing of the
// request: not its path, not its query.
func personErrorPage(c echo.Context, status int) error {
	l, explicit := requestLanguage(c)
	// The answer depends on Accept too: a client gets plain text.
	c.Response().Header()[echo.HeaderVary] = acceptVary
	// The page is the form's error page: it must not be shown twice.
	v := &pageView{Lang: l, LangParam: explicit, Brand: brandFor(nil, l)}
	kind := "error.404"
	if status == http.StatusBadRequest {
		kind = "error.400"
	}
	v.Error = &pageError{Title: l.T(kind + ".title"), Text: l.T(kind + ".text")}
	v.setLinks("", "")
	return renderPage(c, status, v)
}

// acceptVary is the Vary of a person's error page: its language, and
// whether it is a page at all.
var acceptVary = fixedValue("Accept, Accept-Language")

// maxReason bounds an error message in a 400 body and in the request
// log's reason.
const maxReason = 200

// boundedReason is err's message cut to maxReason bytes, on one line. The
// messages of provision's kinds quote no request value (at most a refused
// character by code point); the bound holds should one ever do.
func boundedReason(err error) string {
	msg := strings.ToValidUTF8(err.Error(), "")
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		msg = msg[:i]
	}
	return truncate(msg, maxReason)
}

func isMaxBytes(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
