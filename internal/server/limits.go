package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"mailautoconf/internal/connlist"
)

// What the service takes from a client, fixed: the values every phase
// of a request gets (server.go's timeouts) and these settings:
//
//   - MAILAUTOCONF_MAX_CONNECTIONS caps the connections each listener
//     holds open. Beyond it new connections wait in the kernel's accept
//     queue until one closes. Near the cap, connections idle between
//     requests (keep-alives) are closed first, so that a flood of idle
//     connections cannot keep new clients out; slow ones close after
//     readHeaderTimeout (headers) or idleTimeout (between requests).
//     0 bounds each listener by the process's file descriptors instead
//     (fdConnectionBound).
//   - MAILAUTOCONF_MAX_CONNECTIONS_PER_CLIENT caps the connections one
//     client (an IPv4 address, an IPv6 /64) holds open on a listener.
//     Beyond it the client's longest idle connection is closed for the
//     new one (many users behind one NAT address keep working); with
//     none idle the new connection is closed at once, never queued.
//   - MAILAUTOCONF_RATE_LIMIT and RATE_BURST limit each client's
//     requests (handlers/ratelimit.go), off by default.

// connLimits are the connection limits of one listener.
type connLimits struct {
	total     int // open connections at most; beyond, Accept waits
	perClient int // open connections of one client; beyond, closed at once
}

// Reserved descriptors with MAX_CONNECTIONS=0: catalog files, log,
// listeners, the ACME client's connections, a reload's second catalog.
const fdReserve = 256

// connectionLimits returns the limits of each listener cfg opens (the
// plain, HTTPS and metrics ones that are set). With MaxConnections 0
// the descriptors left after fdReserve are shared among them: an accept
// failing with EMFILE makes net/http sleep and retry, every client
// waiting, while a cap reached reaps idle connections first.
func connectionLimits(cfg *Config) connLimits {
	total := cfg.MaxConnections
	if total <= 0 {
		total = max(fdConnectionBound()/max(listenerCount(cfg), 1), 1)
	}
	return connLimits{total: total, perClient: cfg.MaxConnectionsPerClient}
}

// fdConnectionBound returns the descriptors the process may open less
// fdReserve; 1<<20 when it cannot tell or has no limit. Go raises the
// soft RLIMIT_NOFILE to the hard one at start (os package, Go 1.19 and
// later), so this is what the process really has.
func fdConnectionBound() int {
	n := openFileLimit() // fdlimit_*.go
	if n <= 0 || n > 1<<20+fdReserve {
		return 1 << 20
	}
	return max(int(n)-fdReserve, 64)
}

// clientKey is the client a connection comes from: its peer's IPv4
// address, or the /64 of its IPv6 address (interface identifiers are 64
// bits, RFC 4291 section 2.5.1: one host may use any address of its /64).
// IPv4-mapped IPv6 addresses count as IPv4. The rate limit groups
// clients the same way (handlers/ratelimit.go).
func clientKey(addr net.Addr) netip.Prefix {
	var a netip.Addr
	switch t := addr.(type) {
	case *net.TCPAddr:
		a, _ = netip.AddrFromSlice(t.IP)
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			a = ap.Addr()
		}
	}
	a = a.Unmap()
	if !a.IsValid() {
		return netip.Prefix{} // every peer of an unknown kind is one client
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// connGuard is a listener enforcing connLimits, and the connection state
// hook of the server serving it: it counts each client's connections and
// knows which are idle between requests, to close those first when the
// listener is near its cap or a client at its own.
type connGuard struct {
	net.Listener
	limits connLimits
	near   int           // open connections from which idle ones are reaped
	slots  chan struct{} // one per open connection
	done   chan struct{} // closed with the listener
	once   sync.Once

	mu      sync.Mutex
	open    int
	clients map[netip.Prefix]*client
	idle    connlist.List[guardedConn] // longest idle first
}

// client is one client's connections on a connGuard.
type client struct {
	open int
	idle connlist.List[guardedConn] // longest idle first
}

// The idle lists keep their links in the connections (internal/connlist),
// so that a keep-alive connection going idle allocates nothing.
func listenerLinks(c *guardedConn) *connlist.Links[guardedConn] { return &c.idleAt }
func clientLinks(c *guardedConn) *connlist.Links[guardedConn]   { return &c.clientIdleAt }

func newClient() *client { return &client{idle: connlist.New(clientLinks)} }

// guardConnections wraps ln in the limits and sets srv's ConnState hook
// to follow its connections' states. srv must serve the returned
// listener, directly or through crypto/tls.
func guardConnections(ln net.Listener, srv *http.Server, l connLimits) net.Listener {
	g := &connGuard{
		Listener: ln,
		limits:   l,
		// Near: the last tenth of the cap (at least the last slot).
		near:    l.total - l.total/10,
		slots:   make(chan struct{}, l.total),
		done:    make(chan struct{}),
		clients: map[netip.Prefix]*client{},
		idle:    connlist.New(listenerLinks),
	}
	srv.ConnState = g.connState
	return g
}

// Accept waits for a free slot, then for a connection. A client at its
// cap has its longest idle connection closed for the new one; with none
// idle, the new connection is closed at once and the next one waited
// for.
func (g *connGuard) Accept() (net.Conn, error) {
	for {
		select {
		case g.slots <- struct{}{}:
		case <-g.done:
			return nil, net.ErrClosed
		}
		c, err := g.Listener.Accept()
		if err != nil {
			<-g.slots
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		g.mu.Lock()
		cl := g.clients[key]
		if cl == nil {
			cl = newClient()
			g.clients[key] = cl
		}
		var reap []*guardedConn
		if cl.open >= g.limits.perClient {
			if cl.idle.Len() == 0 {
				g.mu.Unlock()
				<-g.slots
				refuse(c)
				continue
			}
			reap = append(reap, g.busyLocked(cl.idle.Front()))
		}
		cl.open++
		g.open++
		gc := &guardedConn{Conn: c, g: g, client: key}
		reap = append(reap, g.reapLocked()...)
		g.mu.Unlock()
		closeAll(reap)
		return gc, nil
	}
}

// refuse closes c with a reset rather than a FIN: the client learns at
// once, and no TIME_WAIT is left on this side for a flood's sockets.
func refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (g *connGuard) Close() error {
	g.once.Do(func() { close(g.done) })
	return g.Listener.Close()
}

// idleLocked puts c on the idle lists.
func (g *connGuard) idleLocked(c *guardedConn) {
	if !g.idle.Contains(c) {
		g.idle.PushBack(c)
		g.clients[c.client].idle.PushBack(c)
	}
}

// busyLocked takes c off the idle lists, and returns it.
func (g *connGuard) busyLocked(c *guardedConn) *guardedConn {
	if g.idle.Contains(c) {
		g.idle.Remove(c)
		g.clients[c.client].idle.Remove(c)
	}
	return c
}

// reapLocked takes idle connections off the idle lists, longest idle
// first, while the listener is near its cap, and returns them to be
// closed (outside the lock).
func (g *connGuard) reapLocked() []*guardedConn {
	var out []*guardedConn
	for open := g.open; open >= g.near && g.idle.Len() > 0; open-- {
		out = append(out, g.busyLocked(g.idle.Front()))
	}
	return out
}

func closeAll(cs []*guardedConn) {
	for _, c := range cs {
		_ = c.Close()
	}
}

// connState follows srv's connections: idle ones (between HTTP/1.1
// requests, or an HTTP/2 connection with no stream open) go on the idle
// lists, and are closed at once when the listener is near its cap;
// active ones come off them.
func (g *connGuard) connState(c net.Conn, st http.ConnState) {
	if st != http.StateIdle && st != http.StateActive {
		return // New: Accept counted it; Closed, Hijacked: Close uncounts it
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	gc, ok := c.(*guardedConn)
	if !ok || gc.g != g {
		return
	}
	g.mu.Lock()
	if gc.closed {
		g.mu.Unlock()
		return
	}
	switch st {
	case http.StateIdle:
		g.idleLocked(gc)
	case http.StateActive:
		g.busyLocked(gc)
	}
	reap := g.reapLocked()
	g.mu.Unlock()
	closeAll(reap)
}

// guardedConn is a connection counted by its connGuard until closed.
type guardedConn struct {
	net.Conn
	g      *connGuard
	client netip.Prefix

	// Under g.mu:
	idleAt, clientIdleAt connlist.Links[guardedConn] // on the idle lists while idle
	closed               bool
}

// Close closes the connection and frees its slot; closing it again does
// nothing but close the connection again.
func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	g := c.g
	g.mu.Lock()
	if !c.closed {
		c.closed = true
		g.busyLocked(c)
		g.open--
		cl := g.clients[c.client]
		if cl.open--; cl.open <= 0 {
			delete(g.clients, c.client)
		}
		<-g.slots
	}
	g.mu.Unlock()
	return err
}

// NetConn returns the connection c counts, for code that needs its
// socket: the certificates' check that a handshake's client is still
// there (internal/certs, peerGone).
func (c *guardedConn) NetConn() net.Conn { return c.Conn }
