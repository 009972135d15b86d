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
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = plainText(c, status, msg+"\n")
}

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
