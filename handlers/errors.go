package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// errorHandler is the one place that maps error kinds to status codes and
// writes error bodies. Bodies are short plain text: a 200 of any XML would
// make Thunderbird and Delta Chat stop looking (PROTOCOLS.md §1.3), and
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
		// Our own messages: fixed text, and any input they quote is
		// %q-escaped onto one line.
		status, msg = http.StatusBadRequest, err.Error()
	case errors.As(err, &he):
		status = he.Code
		msg = strings.ToLower(http.StatusText(status))
		if status == http.StatusRequestEntityTooLarge {
			msg = "request body too large"
		}
	}
	if status >= 500 {
		h.Log.Error("request failed", "error", err, "path", c.Request().URL.Path)
	}
	c.Set(ctxError, err)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.String(status, msg+"\n")
}

// Context keys set by handlers for the request log.
const (
	ctxDomain  = "mailautoconf.domain"
	ctxAddress = "mailautoconf.address"
	ctxError   = "mailautoconf.error"
)

// requestLog writes one line per request. The full address is logged only
// at debug level; the domain at info. Headers are never logged (the
// Authorization header some clients send carries the user's password).
func (h *Handler) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request().Method),
			slog.String("route", c.Path()),
			slog.Int("status", c.Response().Status),
			slog.Duration("duration", time.Since(start)),
		}
		if d, ok := c.Get(ctxDomain).(string); ok {
			attrs = append(attrs, slog.String("domain", d))
		}
		if a, ok := c.Get(ctxAddress).(string); ok && h.Log.Enabled(c.Request().Context(), slog.LevelDebug) {
			attrs = append(attrs, slog.String("address", a))
		}
		if e, ok := c.Get(ctxError).(error); ok && c.Response().Status < 500 {
			attrs = append(attrs, slog.String("reason", fmt.Sprint(e)))
		}
		h.Log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
		return nil
	}
}
