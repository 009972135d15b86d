package main

import (
	"io"
	"sync"
	"time"
)

// logBufferSize is how much log output waits for one write.
const logBufferSize = 64 << 10

// logWriter gathers log lines and writes them together, at most every
// interval or when logBufferSize fills, as nginx's access_log buffer=
// flush= does: one write(2) per request line costs a busy server more
// than answering the request (README, Performance). A line waits at most
// interval; Close writes what is left, so the lines before an exit are
// never lost. With interval 0 every line is written at once.
type logWriter struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	interval time.Duration
	timer    *time.Timer // armed while buf holds lines
	closed   bool
}

func newLogWriter(w io.Writer, interval time.Duration) *logWriter {
	return &logWriter{w: w, interval: interval}
}

// Write takes one log record (slog writes each whole, under its lock).
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.interval <= 0 || l.closed {
		return l.w.Write(p)
	}
	if len(l.buf)+len(p) > logBufferSize {
		if err := l.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > logBufferSize {
			return l.w.Write(p)
		}
	}
	if l.buf == nil {
		l.buf = make([]byte, 0, logBufferSize)
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
func (l *logWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *logWriter) flushLocked() error {
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]
	return err
}

// Close writes what is left; later lines are written at once.
func (l *logWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	return l.flushLocked()
}
