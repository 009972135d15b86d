package handlers

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"mailautoconf/internal/reqlog"
	"mailautoconf/provision"
)

// RequestLog writes the request log: one line per request, in the format
// of the process's slog handler (text or JSON), byte for byte the line
// slog would write (internal/reqlog writes it, faster than slog). A nil
// RequestLog writes none.
type RequestLog = reqlog.Writer

// NewRequestLog returns a request log writing to w in format "text" or
// "json" (MAILAUTOCONF_LOG_FORMAT). Lines are written at info level: below
// it nothing is written, at debug they also carry the address, the peer
// and the User-Agent. w must take concurrent writes when other loggers
// share it (serve's internal/logbatch does).
func NewRequestLog(w io.Writer, format string, level slog.Level) *RequestLog {
	return reqlog.New(w, format, level)
}

// requestIDHeader carries the request id a proxy in front gave the
// request; when absent or malformed the log line gets a new one.
const requestIDHeader = "X-Request-Id"

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

// givenRequestID returns the id a proxy gave the request when it is a
// short token, else "" (the log line gets a new one). Anything else a
// client sends there is dropped: it would go into every log line.
func givenRequestID(given string) string {
	if n := len(given); n > 0 && n <= 64 && strings.Trim(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return given
	}
	return ""
}
