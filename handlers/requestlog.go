package handlers

import (
	"io"
	"log/slog"
	"strings"

	"mailautoconf/internal/reqlog"
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

// givenRequestID returns the id a proxy gave the request when it is a
// short token, else "" (the log line gets a new one). Anything else a
// client sends there is dropped: it would go into every log line.
func givenRequestID(given string) string {
	if n := len(given); n > 0 && n <= 64 && strings.Trim(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return given
	}
	return ""
}
