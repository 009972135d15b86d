package server

import (
	"net"
	"net/http"
	"testing"
)

// guardedPair returns a connection accepted through a connGuard on
// 127.0.0.1 (as srv's ConnState hook sees it) and the guard.
func guardedPair(tb testing.TB) (*connGuard, net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{}
	g := guardConnections(ln, srv, connLimits{total: 10000, perClient: 1000}).(*connGuard)
	tb.Cleanup(func() { g.Close() })
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	c, err := g.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return g, c
}

// BenchmarkConnGuard measures what the connection guard adds to each
// keep-alive request (the ConnState hook called at StateActive and again
// at StateIdle) and to each new connection (StateNew, StateActive and
// StateClosed, as with Connection: close; Accept and Close themselves
// are the listener's).
func BenchmarkConnGuard(b *testing.B) {
	b.Run("request", func(b *testing.B) {
		g, c := guardedPair(b)
		b.ReportAllocs()
		for b.Loop() {
			g.connState(c, http.StateActive)
			g.connState(c, http.StateIdle)
		}
	})
	b.Run("connection-states", func(b *testing.B) {
		g, c := guardedPair(b)
		b.ReportAllocs()
		for b.Loop() {
			g.connState(c, http.StateNew)
			g.connState(c, http.StateActive)
			g.connState(c, http.StateClosed)
		}
	})
}

// TestConnGuardRequestAllocatesNothing: a keep-alive request's two state
// changes (active, then idle again) put the connection on and off the
// idle lists without allocating; container/list allocated an Element for
// each list, two per request.
func TestConnGuardRequestAllocatesNothing(t *testing.T) {
	g, c := guardedPair(t)
	allocs := testing.AllocsPerRun(100, func() {
		g.connState(c, http.StateActive)
		g.connState(c, http.StateIdle)
	})
	if allocs != 0 {
		t.Errorf("StateActive then StateIdle: %v allocations, want 0", allocs)
	}
	if g.idle.Len() != 1 || g.clients[clientKey(c.RemoteAddr())].idle.Len() != 1 {
		t.Errorf("idle lists hold %d and %d connections, want 1 and 1", g.idle.Len(), g.clients[clientKey(c.RemoteAddr())].idle.Len())
	}
}
