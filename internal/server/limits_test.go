package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/testpki"
)

// startLimitedServe runs the server with testConfig changed by edit
// (when not nil) and logging at warn, until the test ends, and returns
// its address once it accepts connections.
func startLimitedServe(t *testing.T, edit func(*Config)) string {
	t.Helper()
	cfg := testConfig(t)
	cfg.LogLevel = "warn"
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	testutil.WaitFor(t, 10*time.Second, "the server did not start", func() bool {
		c, err := net.Dial("tcp", cfg.Listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return cfg.Listen
}

// timedGet asks for autoconfig on a new connection and returns the
// status and how long the answer took.
func timedGet(addr string) (int, time.Duration, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Get("http://" + addr + "/mail/config-v1.1.xml?emailaddress=alice@example.com")
	if err != nil {
		return 0, time.Since(start), err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), nil
}

// TestSlowloris: 300 connections sending their headers one byte a
// second do not keep normal requests from being answered promptly, and
// the server drops each of them once readHeaderTimeout has passed.
func TestSlowloris(t *testing.T) {
	// All from one address here: the per-client cap, which would close
	// most of them at once, is TestConnectionsPerClient's.
	addr := startLimitedServe(t, func(c *Config) { c.MaxConnectionsPerClient = 1000 })
	const slow = 300
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed []time.Duration // when the server hung up, per connection
	)
	start := time.Now()
	stop := make(chan struct{})
	for range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dialing a slow connection: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			header := "GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.com\r\nX-Slow: " + strings.Repeat("a", 100)
			for i := 0; i < len(header); i++ {
				if _, err := c.Write([]byte{header[i]}); err != nil {
					mu.Lock()
					closed = append(closed, time.Since(start))
					mu.Unlock()
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}

	// Normal requests while the slow ones trickle in.
	var took []time.Duration
	for time.Since(start) < 3*time.Second {
		status, d, err := timedGet(addr)
		if err != nil || status != http.StatusOK {
			t.Fatalf("a normal request during the attack: %d, %v", status, err)
		}
		took = append(took, d)
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(took)
	worst := took[len(took)-1]
	t.Logf("%d normal requests beside %d slow connections: median %v, worst %v", len(took), slow, took[len(took)/2], worst)
	if worst > time.Second {
		t.Errorf("a normal request took %v beside the slow connections", worst)
	}

	// The server hangs up on every slow connection once its headers are
	// overdue: the next byte written then fails.
	testutil.WaitFor(t, readHeaderTimeout+5*time.Second, "slow connections still open past the header timeout", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(closed) == slow
	})
	close(stop)
	wg.Wait()
	slices.Sort(closed)
	if first := closed[0]; first < readHeaderTimeout-time.Second {
		t.Errorf("a slow connection was dropped after %v, before the header timeout %v", first, readHeaderTimeout)
	}
}

// TestMaxConnections: beyond MAILAUTOCONF_MAX_CONNECTIONS a connection
// waits while the others are busy, and is served as soon as one closes.
func TestMaxConnections(t *testing.T) {
	addr := startLimitedServe(t, func(c *Config) { c.MaxConnections = 3 })
	var busy []net.Conn
	for range 3 {
		busy = append(busy, slowConn(t, addr, nil))
	}
	answered := make(chan time.Time, 1)
	go func() {
		if status, _, err := timedGet(addr); err == nil && status == http.StatusOK {
			answered <- time.Now()
		}
		close(answered)
	}()
	select {
	case <-answered:
		t.Fatal("a fourth connection was served beside three busy ones")
	case <-time.After(300 * time.Millisecond):
	}
	freed := time.Now()
	busy[0].Close()
	select {
	case at, ok := <-answered:
		if !ok {
			t.Fatal("the waiting request failed")
		}
		t.Logf("served %v after a connection closed", at.Sub(freed))
	case <-time.After(readHeaderTimeout - time.Second):
		t.Fatal("the waiting request was not served after a connection closed")
	}
}

// slowConn opens a connection from local (nil: any address) that has
// sent half a request line: busy, neither new nor idle, until
// readHeaderTimeout. It is closed when the test ends.
func slowConn(t *testing.T, addr string, local net.Addr) net.Conn {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: local}).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /healthz HT"); err != nil {
		t.Fatal(err)
	}
	return c
}

// heldConn is a slowConn the server keeps: one refused because the
// server has not yet seen an earlier connection of the test close (the
// start probe's) is retried. After it, the probe no longer counts.
func heldConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	testutil.WaitFor(t, 2*time.Second, "no room for a client's connection", func() bool {
		d, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		t.Cleanup(func() { d.Close() })
		io.WriteString(d, "GET /healthz HT")
		c = d
		return !closedByServer(d, 50*time.Millisecond)
	})
	c.SetReadDeadline(time.Time{})
	return c
}

// refusedAtOnce opens a connection and tells whether the server closed
// it within a second: the reset may even beat the end of the dial. A
// connection left open is closed when the test ends.
func refusedAtOnce(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return closedByServer(c, time.Second)
}

// keptAlive opens a connection, has one request answered on it and
// leaves it open: idle between requests. It is closed when the test ends.
func keptAlive(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x.example\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a request on a connection to keep alive: %v", err)
	}
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server did not keep the connection alive")
	}
	c.SetDeadline(time.Time{})
	return c
}

// closedByServer tells whether the server closed c within wait: a read
// ends with EOF or a reset rather than the deadline.
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestIdleConnectionsReaped: at MAILAUTOCONF_MAX_CONNECTIONS with every
// connection idle between requests, a new client is served at once, the
// connections idle longest closed for it.
func TestIdleConnectionsReaped(t *testing.T) {
	addr := startLimitedServe(t, func(c *Config) { c.MaxConnections = 10 })
	var idle []net.Conn
	for range 10 {
		idle = append(idle, keptAlive(t, addr))
		// The server puts a connection on its idle list (ConnState) just
		// after the answer has left: a client that has read it may be
		// faster, and on a loaded machine the next connection went idle
		// first, so that "idle longest" was another one than idle[0].
		// A pause lets the server's goroutine get there first.
		time.Sleep(50 * time.Millisecond)
	}
	for range 3 {
		status, d, err := timedGet(addr)
		if err != nil || status != http.StatusOK {
			t.Fatalf("a new client beside 10 idle connections: %d, %v", status, err)
		}
		t.Logf("a new client served in %v beside idle connections", d)
	}
	if !closedByServer(idle[0], time.Second) {
		t.Error("the connection idle longest is still open")
	}
	if closedByServer(idle[9], 100*time.Millisecond) {
		t.Error("the connection idle shortest was closed too, with room to spare")
	}
}

// loopback2 is a second loopback address for a second client; the test
// skips where it cannot be bound (Linux routes all of 127/8 to lo).
func loopback2(t *testing.T) net.Addr {
	t.Helper()
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	ln, err := net.ListenTCP("tcp", a)
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	ln.Close()
	return a
}

// TestConnectionsPerClient: one client holding its cap of busy
// connections (the default, 64) has every further connection closed at
// once, while another client is served as usual; the client's count goes
// down as its connections close.
func TestConnectionsPerClient(t *testing.T) {
	addr := startLimitedServe(t, nil)
	other := loopback2(t)
	const perClient = 64
	var held []net.Conn
	held = append(held, heldConn(t, addr)) // past the start probe
	for range perClient - 1 {
		held = append(held, slowConn(t, addr, nil))
	}
	for i := range 10 {
		if !refusedAtOnce(t, addr) {
			t.Fatalf("connection %d of one client was not closed at once", perClient+i+1)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{LocalAddr: other}).DialContext,
	}}
	var took []time.Duration
	for range 50 {
		start := time.Now()
		resp, err := client.Get("http://" + addr + "/mail/config-v1.1.xml?emailaddress=alice@example.com")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("another client beside one at its cap: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("another client beside one holding %d connections: median %v, worst %v of %d", perClient, took[len(took)/2], took[len(took)-1], len(took))

	held[0].Close()
	testutil.WaitFor(t, 2*time.Second, "the client's count did not go down with a closed connection", func() bool {
		return !refusedAtOnce(t, addr)
	})
}

// TestConnectionsPerClientIdle: a client at its cap whose connections are
// idle gets a new one, its longest idle connection closed for it (many
// users behind one NAT address keep working).
func TestConnectionsPerClientIdle(t *testing.T) {
	addr := startLimitedServe(t, func(c *Config) { c.MaxConnectionsPerClient = 3 })
	var idle []net.Conn
	for range 3 {
		idle = append(idle, keptAlive(t, addr))
	}
	if status, _, err := timedGet(addr); err != nil || status != http.StatusOK {
		t.Fatalf("a fourth connection of a client with three idle: %d, %v", status, err)
	}
	// Which one goes is the one the server saw idle first: net/http marks
	// a connection idle after its answer is written, so under load the
	// order the server sees may differ from the test's by a little.
	// Exactly one must go.
	closed := 0
	for i, c := range idle {
		wait := 100 * time.Millisecond
		if i == 0 {
			wait = time.Second
		}
		if closedByServer(c, wait) {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d of the client's 3 idle connections closed for a fourth, want 1", closed)
	}
}

// TestConnectionsPerClientIPv6: on [::1] the cap holds too (the
// /64 grouping itself is TestClientKey's).
func TestConnectionsPerClientIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	startLimitedServe(t, func(c *Config) { c.Listen, c.MaxConnectionsPerClient = addr, 3 })
	heldConn(t, addr) // past the start probe
	for range 2 {
		slowConn(t, addr, nil)
	}
	if !refusedAtOnce(t, addr) {
		t.Fatal("a fourth connection from [::1] was not closed at once")
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.1:1234", "192.0.2.1/32"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
	} {
		ap := netip.MustParseAddrPort(tc.addr)
		for _, a := range []net.Addr{net.TCPAddrFromAddrPort(ap), &net.UnixAddr{Name: tc.addr}} {
			if got := clientKey(a).String(); got != tc.want {
				t.Errorf("clientKey(%T %s) = %s, want %s", a, tc.addr, got, tc.want)
			}
		}
	}
	if got := clientKey(&net.UnixAddr{Name: "@"}); got.IsValid() {
		t.Errorf("clientKey(unix @) = %v, want the zero prefix", got)
	}
}

// TestRequestSizeLimits: over the real server, headers (and a request
// line) past maxHeaderBytes get 431 and bodies past the Autodiscover
// limit 413, without the server reading them whole.
func TestRequestSizeLimits(t *testing.T) {
	addr := startLimitedServe(t, nil)
	send := func(name, request string) int {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, request) // the server may answer before reading it all
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", name, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	big := strings.Repeat("a", 2*maxHeaderBytes)
	for _, tc := range []struct {
		name, request string
		want          int
	}{
		{"long header", "GET /healthz HTTP/1.1\r\nHost: x.example\r\nX-Big: " + big + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"many headers", "GET /healthz HTTP/1.1\r\nHost: x.example\r\n" + strings.Repeat("X-A: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n", 1000) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"long query", "GET /mail/config-v1.1.xml?x=" + big + " HTTP/1.1\r\nHost: autoconfig.example.com\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"body over the Autodiscover limit", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.com\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("x", 20000), http.StatusRequestEntityTooLarge},
		{"announced huge body", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.com\r\nContent-Length: 1000000000\r\n\r\n", http.StatusRequestEntityTooLarge},
		{"chunked body over the limit", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.com\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1000\r\n"+strings.Repeat("y", 4096)+"\r\n", 30) + "0\r\n\r\n", http.StatusRequestEntityTooLarge},
		{"normal request", "GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.com\r\n\r\n", http.StatusOK},
	} {
		if got := send(tc.name, tc.request); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestHeaderLimit: over the real server, a request whose line and
// headers (the blank line included) take headerLimit bytes is served and
// one of a byte more gets 431: the figure of docs/guide/hardening.md is
// the one enforced.
func TestHeaderLimit(t *testing.T) {
	addr := startLimitedServe(t, nil)
	head := func(size int) string {
		const start, end = "GET /healthz HTTP/1.1\r\nHost: x.example\r\nX-Pad: ", "\r\n\r\n"
		return start + strings.Repeat("p", size-len(start)-len(end)) + end
	}
	for _, tc := range []struct {
		size, want int
	}{
		{headerLimit - 1, http.StatusOK},
		{headerLimit, http.StatusOK},
		{headerLimit + 1, http.StatusRequestHeaderFieldsTooLarge},
		{headerLimit + 4096, http.StatusRequestHeaderFieldsTooLarge},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		req := head(tc.size)
		if len(req) != tc.size {
			t.Fatalf("built a head of %d bytes, want %d", len(req), tc.size)
		}
		go io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("a head of %d bytes: no answer: %v", tc.size, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("a head of %d bytes (limit %d): status %d, want %d", tc.size, headerLimit, resp.StatusCode, tc.want)
		}
	}
}

// TestNetHTTPOwnAnswers: requests net/http refuses before any handler
// runs get its own answers; every 5xx among them is one the hardening
// page (docs/guide/hardening.md) names as net/http's.
func TestNetHTTPOwnAnswers(t *testing.T) {
	addr := startLimitedServe(t, nil)
	data, err := os.ReadFile("../../docs/guide/hardening.md")
	if err != nil {
		t.Fatal(err)
	}
	hardening := string(data)
	for _, tc := range []struct {
		name, request string
		want          int
	}{
		{"HTTP/2.0 request line", "GET /healthz HTTP/2.0\r\nHost: x.example\r\n\r\n", http.StatusHTTPVersionNotSupported},
		{"HTTP/3.0 request line", "GET /healthz HTTP/3.0\r\nHost: x.example\r\n\r\n", http.StatusHTTPVersionNotSupported},
		{"HTTP/2 preface in the clear", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", http.StatusNotFound}, // no h2c: routed as a request
		{"Transfer-Encoding gzip", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x.example\r\nTransfer-Encoding: gzip\r\n\r\n", http.StatusNotImplemented},
		{"Transfer-Encoding gzip, chunked", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x.example\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", http.StatusNotImplemented},
		{"HTTP/1.9", "GET /healthz HTTP/1.9\r\nHost: x.example\r\n\r\n", http.StatusOK},
		{"malformed version", "GET /healthz HTTP/1.x\r\nHost: x.example\r\n\r\n", http.StatusBadRequest},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", http.StatusBadRequest},
		{"two Content-Lengths", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x.example\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", http.StatusBadRequest},
		{"Expect other than 100-continue", "GET /healthz HTTP/1.1\r\nHost: x.example\r\nExpect: 200-ok\r\n\r\n", http.StatusExpectationFailed},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, tc.request)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Errorf("%s: no answer: %v", tc.name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if code := fmt.Sprintf("`%d`", resp.StatusCode); resp.StatusCode >= 500 && !strings.Contains(hardening, code) {
			t.Errorf("%s: net/http answers %d, which docs/guide/hardening.md does not name (%s)", tc.name, resp.StatusCode, code)
		}
	}
}

// TestConnectionsPerClientHTTPS: the HTTPS listener has the same cap; an
// idle HTTP/2 connection makes room like an HTTP/1.1 keep-alive.
func TestConnectionsPerClientHTTPS(t *testing.T) {
	dir := t.TempDir()
	key := testpki.Key(t)
	cert := testpki.SelfSigned(t, key, testpki.Cert{Names: []string{"autoconfig.example.com"}})
	testpki.WritePair(t, filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"), cert, key)
	tlsAddr := testutil.FreeAddr(t)
	startLimitedServe(t, func(c *Config) { c.TLSListen, c.TLSDir, c.MaxConnectionsPerClient = tlsAddr, dir, 2 })
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	conf := &tls.Config{RootCAs: roots, ServerName: "autoconfig.example.com", NextProtos: []string{"h2", "http/1.1"}}
	testutil.WaitFor(t, 5*time.Second, "HTTPS did not start", func() bool {
		c, err := tls.Dial("tcp", tlsAddr, conf)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// Two handshaken connections with no request yet: busy. (The server
	// may not have seen the probe above close yet: retry a refusal.)
	for range 2 {
		var c *tls.Conn
		testutil.WaitFor(t, 2*time.Second, "no room for a client's first HTTPS connections", func() bool {
			var err error
			c, err = tls.Dial("tcp", tlsAddr, conf)
			return err == nil
		})
		t.Cleanup(func() { c.Close() })
	}
	c, err := net.Dial("tcp", tlsAddr)
	if err == nil {
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(2 * time.Second))
		err = tls.Client(c, conf).Handshake()
	}
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a third HTTPS connection of one client: handshake %v, want it closed at once", err)
	}
}

// TestConnectionLimitsUnlimited: MaxConnections 0
// (MAILAUTOCONF_MAX_CONNECTIONS=0) shares the descriptors left after
// fdReserve among the listeners.
func TestConnectionLimitsUnlimited(t *testing.T) {
	bound := fdConnectionBound()
	if n := openFileLimit(); n > fdReserve && n < 1<<20 && bound != int(n)-fdReserve {
		t.Errorf("fdConnectionBound() = %d with RLIMIT_NOFILE %d, want %d", bound, n, int(n)-fdReserve)
	}
	cfg := &Config{MaxConnections: 0, MaxConnectionsPerClient: 64, Listen: ":0", MetricsListen: ":0"}
	if got := connectionLimits(cfg); got.total != bound/2 || got.perClient != 64 {
		t.Errorf("connectionLimits(0, 2 listeners) = %+v, want total %d", got, bound/2)
	}
	cfg.MaxConnections, cfg.TLSListen = 50, ":0"
	if got := connectionLimits(cfg); got.total != 50 {
		t.Errorf("connectionLimits(50, 3 listeners) = %+v, want total 50", got)
	}
}
