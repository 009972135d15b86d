package pebbletest

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// Front is a TCP forwarder in front of an ACME server that can be made
// to hang: connections accepted and never answered, as a client sees a
// CA that is down behind a load balancer, or unreachable, or slow. Its
// Directory is the directory URL through it.
type Front struct {
	// Directory is the ACME directory URL through the front.
	Directory string

	ln     net.Listener
	target string // "" forwards nothing: hangs from the start

	mu       sync.Mutex
	hanging  bool
	conns    []net.Conn
	accepted int
	open     int // accepted connections the client has not closed
}

// Front starts a forwarder to p's ACME API, forwarding until Hang.
// Pebble builds the URLs it hands out from the request's Host, so every
// later request goes through the front too.
func (p *Pebble) Front(t testing.TB) *Front {
	t.Helper()
	u := strings.TrimPrefix(p.Directory, "https://")
	target := u[:strings.Index(u, "/")]
	f := startFront(t, target, false)
	f.Directory = strings.Replace(p.Directory, target, f.ln.Addr().String(), 1)
	return f
}

// Hanging starts a front with nothing behind it: it accepts connections
// and never answers. Its Directory is https://<its address>/dir.
func Hanging(t testing.TB) *Front {
	t.Helper()
	f := startFront(t, "", true)
	f.Directory = "https://" + f.ln.Addr().String() + "/dir"
	return f
}

func startFront(t testing.TB, target string, hanging bool) *Front {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &Front{ln: ln, target: target, hanging: hanging}
	t.Cleanup(func() { ln.Close(); f.closeAll() })
	go f.serve()
	return f
}

func (f *Front) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.accepted++
		f.open++
		f.conns = append(f.conns, c)
		hang := f.hanging
		f.mu.Unlock()
		if hang {
			go f.hold(c)
			continue
		}
		go f.forward(c)
	}
}

// hold reads what the client sends and answers nothing, until the client
// closes.
func (f *Front) hold(c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	f.mu.Lock()
	f.open--
	f.mu.Unlock()
}

func (f *Front) forward(c net.Conn) {
	u, err := net.Dial("tcp", f.target)
	if err != nil {
		c.Close()
		f.mu.Lock()
		f.open--
		f.mu.Unlock()
		return
	}
	f.mu.Lock()
	f.conns = append(f.conns, u)
	f.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
	f.mu.Lock()
	f.open--
	f.mu.Unlock()
}

// Hang cuts the connections forwarded so far and holds every later one
// unanswered.
func (f *Front) Hang() {
	f.mu.Lock()
	f.hanging = true
	f.mu.Unlock()
	f.closeAll()
}

func (f *Front) closeAll() {
	f.mu.Lock()
	cs := f.conns
	f.conns = nil
	f.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// Accepted counts the connections the front accepted.
func (f *Front) Accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted
}

// Open counts the connections the front accepted that their client has
// not closed yet (with Hang, those cut count as closed once noticed).
func (f *Front) Open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}
