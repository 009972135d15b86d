package handlers

import (
	"encoding/base32"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"mailautoconf/internal/jsontext"
)

// RequestLog writes the request log: one line per request, in the format
// of the process's slog handler (text or JSON), byte for byte the line
// slog.TextHandler or slog.JSONHandler would write for the same record
// (requestlog_test.go and FuzzRequestLine hold it to theirs). It exists
// because slog's generic path (a Record whose attributes spill into a
// slice, a value switch and a quoting scan per attribute, a new random id)
// cost about 3 µs a request under load: a sixth of all the service's
// work per answer, more than rendering it (bench/README.md).
//
// Lines are built in pooled buffers and handed to w in one Write each; w
// must take concurrent writes when other loggers share it (serve's
// internal/logbatch does).
type RequestLog struct {
	w     io.Writer
	json  bool
	level slog.Level
	mu    sync.Mutex // serializes writes to w
	bufs  sync.Pool
	// lastTime is the text form of the last line's millisecond: a busy
	// server writes dozens of lines in each.
	lastTime atomic.Pointer[formattedTime]
}

type formattedTime struct {
	ms   int64
	loc  *time.Location
	text string
}

// NewRequestLog returns a request log writing to w in format "text" or
// "json" (MAILAUTOCONF_LOG_FORMAT). Lines are written at info level: below
// it nothing is written, at debug they also carry the address, the peer
// and the User-Agent.
func NewRequestLog(w io.Writer, format string, level slog.Level) *RequestLog {
	return &RequestLog{w: w, json: format == "json", level: level,
		bufs: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

// enabled reports whether request lines are written; nil writes none.
func (l *RequestLog) enabled() bool { return l != nil && l.level <= slog.LevelInfo }

// debug reports whether lines carry the debug-level fields.
func (l *RequestLog) debug() bool { return l != nil && l.level <= slog.LevelDebug }

// requestLine is what one line says. Fields after requestID are written
// only when set; the debug-level ones only at debug.
type requestLine struct {
	time                  time.Time
	method, route, format string
	status                int
	duration              time.Duration
	client, domain        string
	// requestID is the proxy's id when valid (see requestID); "" makes
	// a new one.
	requestID string
	// Debug level only.
	address, remote, userAgent string
	reason                     string
}

// write formats l and writes it as one line.
func (rl *RequestLog) write(l *requestLine) {
	bp := rl.bufs.Get().(*[]byte)
	b := rl.appendLine((*bp)[:0], l)
	rl.mu.Lock()
	_, _ = rl.w.Write(b)
	rl.mu.Unlock()
	if cap(b) <= 4<<10 { // a huge line's buffer goes back to the GC
		*bp = b
		rl.bufs.Put(bp)
	}
}

// appendLine appends l as slog's handler of rl's format would write it,
// with its newline.
func (rl *RequestLog) appendLine(b []byte, l *requestLine) []byte {
	t := l.time.Round(0) // as slog.Record holds it: no monotonic reading
	if rl.json {
		b = append(b, `{"time":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","level":"INFO","msg":"request"`...)
	} else {
		b = append(b, "time="...)
		b = rl.appendTextTime(b, t)
		b = append(b, " level=INFO msg=request"...)
	}
	b = rl.appendString(b, "method", l.method)
	b = rl.appendString(b, "route", l.route)
	b = rl.appendString(b, "format", l.format)
	b = rl.appendKey(b, "status")
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = rl.appendKey(b, "duration")
	if rl.json {
		b = strconv.AppendInt(b, int64(l.duration), 10)
	} else {
		b = append(b, l.duration.String()...)
	}
	b = rl.appendString(b, "client", l.client)
	if l.domain != "" {
		b = rl.appendString(b, "domain", l.domain)
	}
	b = rl.appendKey(b, "request_id")
	if l.requestID != "" {
		b = rl.appendValue(b, l.requestID)
	} else {
		b = appendNewID(b, rl.json)
	}
	if rl.debug() {
		if l.address != "" {
			b = rl.appendString(b, "address", l.address)
		}
		b = rl.appendString(b, "remote", l.remote)
		b = rl.appendString(b, "user_agent", l.userAgent)
	}
	if l.reason != "" {
		b = rl.appendString(b, "reason", l.reason)
	}
	if rl.json {
		b = append(b, '}')
	}
	return append(b, '\n')
}

// appendTextTime appends t as slog's text handler does, to the
// millisecond, formatting each millisecond once.
func (rl *RequestLog) appendTextTime(b []byte, t time.Time) []byte {
	ms, loc := t.UnixMilli(), t.Location()
	if last := rl.lastTime.Load(); last != nil && last.ms == ms && last.loc == loc {
		return append(b, last.text...)
	}
	n := len(b)
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	rl.lastTime.Store(&formattedTime{ms: ms, loc: loc, text: string(b[n:])})
	return b
}

// appendKey appends the separator and key (a constant that needs neither
// quoting nor escaping).
func (rl *RequestLog) appendKey(b []byte, key string) []byte {
	if rl.json {
		b = append(b, `,"`...)
		b = append(b, key...)
		return append(b, `":`...)
	}
	b = append(b, ' ')
	b = append(b, key...)
	return append(b, '=')
}

func (rl *RequestLog) appendString(b []byte, key, v string) []byte {
	return rl.appendValue(rl.appendKey(b, key), v)
}

// appendValue appends a string value quoted as slog's handler does: JSON
// escaping, or in text form strconv.Quote when the value needs quoting.
func (rl *RequestLog) appendValue(b []byte, v string) []byte {
	if rl.json {
		b = append(b, '"')
		b = jsontext.Slog.Append(b, v)
		return append(b, '"')
	}
	if textNeedsQuoting(v) {
		return strconv.AppendQuote(b, v)
	}
	return append(b, v...)
}

// appendNewID appends a new request id: 26 base32 letters of 128 random
// bits, the shape of crypto/rand.Text, from the runtime's fast generator
// (an id must be unique, not secret), as a JSON string or bare word.
func appendNewID(b []byte, json bool) []byte {
	var raw [16]byte
	x, y := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		raw[i], raw[8+i] = byte(x>>(8*i)), byte(y>>(8*i))
	}
	if json {
		b = append(b, '"')
	}
	b = idEncoding.AppendEncode(b, raw[:])
	if json {
		b = append(b, '"')
	}
	return b
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// textNeedsQuoting reports whether slog's text handler quotes s: when it
// is empty, or has a space, '=', a character JSON escapes other than
// '\\', invalid UTF-8, or a rune that is white space or not printable.
func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == ' ' || c == '=' || c == '"' || c < 0x20 {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
