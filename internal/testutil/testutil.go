// Package testutil holds the few helpers every kind of test here shares:
// a free loopback port, polling until a condition holds, and a buffer
// two goroutines may write and read. The helpers of one kind of test
// live in its subpackages (servetest, pebbletest, dbtest, ...). Tests
// only: it is imported by _test files and by those subpackages.
package testutil

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago
// (another process may take it since).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a listener's address, 127.0.0.1:PORT.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// WaitFor polls cond every 10 ms until it holds, and returns how long
// that took; when timeout passes first, the test fails with what.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	if !poll(context.Background(), timeout, 10*time.Millisecond, cond) {
		t.Fatalf("after %v: %s", timeout, what)
	}
	return time.Since(start)
}

// Poll polls cond every 50 ms until it holds (true), or timeout passes or
// ctx ends (false). It does not fail the test: the caller says what was
// missing, or goes on. Its slower pace suits conditions that cost a
// request to another process (an ACME server, a TLS handshake).
func Poll(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	return poll(ctx, timeout, 50*time.Millisecond, cond)
}

func poll(ctx context.Context, timeout, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// SyncBuffer is a bytes.Buffer that a logger or a process's output may
// write while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
