package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

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
		h.Log.Error("request failed", "error", err, "path", c.Request().URL.Path)
	}
	c.Set(ctxError, err)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	// The setup page answers with itself: its form and a message.
	if page, ok := c.Get(ctxErrorPage).(func(int, error) error); ok && page(status, err) == nil {
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = plainText(c, status, msg+"\n")
}

// plainText writes body as text/plain. It is the one place that does, for
// the error answers and the probes alike, and it always says nosniff: a
// browser must never take a plain-text answer for HTML, whatever a
// message may hold (Fetch standard, "X-Content-Type-Options" header).
func plainText(c echo.Context, status int, body string) error {
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.String(status, body)
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

// ctxError is the context key under which errorHandler leaves the error it
// answered, for the request log.
const ctxError = "mailautoconf.error"

// requestIDHeader carries the request id a proxy in front gave the
// request; when absent or malformed the log line gets a new one.
const requestIDHeader = "X-Request-Id"

// requestLog writes one line per request and counts it in the metrics:
// method, route, format, status, duration, guessed client family, domain
// and request id, through h.RequestLog. The full e-mail address and the
// client's IP address are logged only at debug level. Headers are never
// logged (the Authorization header Thunderbird sends to Autodiscover
// carries the user's password).
func (h *Handler) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		rc := &requestContext{Context: c} // reqcontext.go
		err := h.guard(next, rc)
		if err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)
		status := c.Response().Status
		domain, addr, format := rc.domain, rc.addr, rc.format
		if format == "" {
			format = routeFormat(c.Path())
		}
		client := GuessClient(req.UserAgent(), req.URL.Path, req.URL.RawQuery)
		reqErr, _ := c.Get(ctxError).(error)
		known := DomainNone
		switch {
		case errors.Is(reqErr, provision.ErrUnknownDomain):
			known = DomainUnknown
		case domain != "":
			known = DomainKnown
		}
		h.Metrics.observeRequest(format, client, status, known, elapsed)

		if !h.RequestLog.enabled() {
			return nil // below the log level: no line to build
		}
		line := requestLine{
			time:      start.Add(elapsed),
			method:    req.Method,
			route:     c.Path(),
			format:    format,
			status:    status,
			duration:  elapsed,
			client:    string(client),
			domain:    domain,
			requestID: givenRequestID(req.Header.Get(requestIDHeader)),
		}
		if h.RequestLog.debug() {
			if addr != nil {
				line.address = addr.String()
			}
			// The TCP peer, not a forwarded-for header a client can
			// write; behind a proxy it is the proxy.
			line.remote, line.userAgent = req.RemoteAddr, truncate(req.UserAgent(), 256)
		}
		if reqErr != nil && status < 500 {
			line.reason = boundedReason(reqErr)
		}
		h.RequestLog.write(&line)
		return nil
	}
}

func isMaxBytes(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
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
	if h.RateLimit != nil {
		if err := h.RateLimit.check(c); err != nil {
			return err
		}
	}
	req := c.Request()
	if req.ContentLength > maxBody {
		return echo.ErrStatusRequestEntityTooLarge
	}
	if req.Body != nil && req.Body != http.NoBody {
		// A body without a length stops at the limit too; net/http then
		// closes the connection after the answer.
		req.Body = http.MaxBytesReader(c.Response().Writer, req.Body, maxBody)
	}
	return next(c)
}

// givenRequestID returns the id a proxy gave the request when it is a
// short token, else "" (the log line gets a new one). Anything else a
// client sends there is dropped: it would go into every log line.
func givenRequestID(given string) string {
	if n := len(given); n > 0 && n <= 64 && strings.Trim(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return given
	}
	return ""
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
