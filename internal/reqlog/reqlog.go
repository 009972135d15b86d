// Package reqlog writes request log lines: one line per Line, byte for
// byte what slog.TextHandler or slog.JSONHandler writes for a record of
// message "request" at info level with Line's fields as attributes, in
// that order (reqlog_test.go and FuzzRequestLine hold it to slog itself).
//
// It is speed machinery: slog's generic path (a Record whose attributes
// spill into a slice, a value switch and a quoting scan per attribute, a
// new random id) cost about 3 µs a request under load, a sixth of all the
// service's work per answer, more than rendering it (bench/README.md).
// The plain version is slog: a reader wanting to know what a line holds
// reads Line, or the reference in reqlog_test.go.
package reqlog

import (
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

// Line is what one request line says, in the order written. Fields after
// RequestID are written only when set, and the debug ones only at debug
// level.
type Line struct {
	Time                  time.Time
	Method, Route, Format string
	Status                int
	Duration              time.Duration
	Client                string
	Domain                string // left out when ""
	// RequestID is written as given; "" writes a new random one.
	RequestID string
	// Debug level only; Address is left out when "".
	Address, Remote, UserAgent string
	Reason                     string // left out when ""
}

// Writer writes request lines to an io.Writer. Lines are built in pooled
// buffers and handed to the io.Writer in one Write each, under a lock; the
// io.Writer must take concurrent writes when other loggers share it.
type Writer struct {
	out   io.Writer
	json  bool
	level slog.Level
	mu    sync.Mutex // serializes writes to out
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

// New returns a Writer writing to out in format "text" or "json" (slog's
// text or JSON handler). Lines are at info level: at a level above it
// nothing is written, at debug the debug fields are too.
func New(out io.Writer, format string, level slog.Level) *Writer {
	return &Writer{out: out, json: format == "json", level: level,
		bufs: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

// Enabled reports whether lines are written; a nil Writer writes none.
func (w *Writer) Enabled() bool { return w != nil && w.level <= slog.LevelInfo }

// Debug reports whether lines carry the debug fields.
func (w *Writer) Debug() bool { return w != nil && w.level <= slog.LevelDebug }

// WriteLine writes l as one line. Call it only when Enabled.
func (w *Writer) WriteLine(l *Line) {
	bp := w.bufs.Get().(*[]byte)
	b := w.appendLine((*bp)[:0], l)
	w.mu.Lock()
	_, _ = w.out.Write(b)
	w.mu.Unlock()
	if cap(b) <= 4<<10 { // a huge line's buffer goes back to the GC
		*bp = b
		w.bufs.Put(bp)
	}
}

// appendLine appends l as slog's handler of w's format would write it,
// with its newline.
func (w *Writer) appendLine(b []byte, l *Line) []byte {
	t := l.Time.Round(0) // as slog.Record holds it: no monotonic reading
	if w.json {
		b = append(b, `{"time":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","level":"INFO","msg":"request"`...)
	} else {
		b = append(b, "time="...)
		b = w.appendTextTime(b, t)
		b = append(b, " level=INFO msg=request"...)
	}
	b = w.appendString(b, "method", l.Method)
	b = w.appendString(b, "route", l.Route)
	b = w.appendString(b, "format", l.Format)
	b = w.appendKey(b, "status")
	b = strconv.AppendInt(b, int64(l.Status), 10)
	b = w.appendKey(b, "duration")
	if w.json {
		b = strconv.AppendInt(b, int64(l.Duration), 10)
	} else {
		b = append(b, l.Duration.String()...)
	}
	b = w.appendString(b, "client", l.Client)
	if l.Domain != "" {
		b = w.appendString(b, "domain", l.Domain)
	}
	b = w.appendKey(b, "request_id")
	if l.RequestID != "" {
		b = w.appendValue(b, l.RequestID)
	} else {
		b = appendNewID(b, w.json)
	}
	if w.Debug() {
		if l.Address != "" {
			b = w.appendString(b, "address", l.Address)
		}
		b = w.appendString(b, "remote", l.Remote)
		b = w.appendString(b, "user_agent", l.UserAgent)
	}
	if l.Reason != "" {
		b = w.appendString(b, "reason", l.Reason)
	}
	if w.json {
		b = append(b, '}')
	}
	return append(b, '\n')
}

// appendTextTime appends t as slog's text handler does, to the
// millisecond, formatting each millisecond once.
func (w *Writer) appendTextTime(b []byte, t time.Time) []byte {
	ms, loc := t.UnixMilli(), t.Location()
	if last := w.lastTime.Load(); last != nil && last.ms == ms && last.loc == loc {
		return append(b, last.text...)
	}
	n := len(b)
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	w.lastTime.Store(&formattedTime{ms: ms, loc: loc, text: string(b[n:])})
	return b
}

// appendKey appends the separator and key (a constant that needs neither
// quoting nor escaping).
func (w *Writer) appendKey(b []byte, key string) []byte {
	if w.json {
		b = append(b, `,"`...)
		b = append(b, key...)
		return append(b, `":`...)
	}
	b = append(b, ' ')
	b = append(b, key...)
	return append(b, '=')
}

func (w *Writer) appendString(b []byte, key, v string) []byte {
	return w.appendValue(w.appendKey(b, key), v)
}

// appendValue appends a string value quoted as slog's handler does: JSON
// escaping, or in text form strconv.Quote when the value needs quoting.
func (w *Writer) appendValue(b []byte, v string) []byte {
	if w.json {
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
	if json {
		b = append(b, '"')
	}
	b = appendBase32(b, rand.Uint64(), rand.Uint64())
	if json {
		b = append(b, '"')
	}
	return b
}

// base32Alphabet is RFC 4648's (section 6), crypto/rand.Text's.
const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// appendBase32 appends the 16 bytes of hi and lo, big-endian, in base32
// without padding: 26 letters, which TestAppendBase32 holds to
// encoding/base32. The 128 bits, with two zero bits after them, are 26
// groups of 5; they are taken from the last, shifting the three words
// right by 5 each time.
func appendBase32(b []byte, hi, lo uint64) []byte {
	var out [26]byte
	top, mid, low := hi>>62, hi<<2|lo>>62, lo<<2
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = base32Alphabet[low&31]
		low = low>>5 | mid<<59
		mid = mid>>5 | top<<59
		top >>= 5
	}
	return append(b, out[:]...)
}

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
