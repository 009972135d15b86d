// Package logbatch gathers log lines and writes them together.
package logbatch

import (
	"io"
	"sync"
	"time"
)

// bufferSize is how much log output waits for one write.
const bufferSize = 64 << 10

// Writer gathers log lines and writes them together, at most every
// interval or when bufferSize fills, as nginx's access_log buffer=
// flush= does: one write(2) per request line costs a busy server more
// than answering the request (bench/README.md). A line waits at most
// interval; Close writes what is left, so the lines before an exit are
// never lost. With interval 0 every line is written at once.
type Writer struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	interval time.Duration
	timer    *time.Timer // armed while buf holds lines
	closed   bool
}

// New returns a Writer writing to w, lines waiting at most interval.
func New(w io.Writer, interval time.Duration) *Writer {
	return &Writer{w: w, interval: interval}
}

// Write takes one log record (slog writes each whole, under its lock).
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.interval <= 0 || l.closed {
		return l.w.Write(p)
	}
	if len(l.buf)+len(p) > bufferSize {
		if err := l.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > bufferSize {
			return l.w.Write(p)
		}
	}
	if l.buf == nil {
		l.buf = make([]byte, 0, bufferSize)
	}
	l.buf = append(l.buf, p...)
	if l.timer == nil {
		l.timer = time.AfterFunc(l.interval, l.Flush)
	} else if len(l.buf) == len(p) {
		l.timer.Reset(l.interval) // the first line since the last write
	}
	return len(p), nil
}

// Flush writes the lines gathered so far.
func (l *Writer) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *Writer) flushLocked() error {
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]
	return err
}

// Close writes what is left; later lines are written at once.
func (l *Writer) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	return l.flushLocked()
}
