package certs_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailautoconf/internal/certs"
	"mailautoconf/internal/certstore"
	"mailautoconf/internal/certstore/certstoretest"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/pebbletest"
)

func onDemand(o *certs.ACMEOptions) { o.OnDemand = true }

// dial is a handshake with a deadline long enough for an issuance.
func dial(p *pebbletest.Pebble, roots *x509.CertPool, sni string, timeout time.Duration) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: timeout, Deadline: time.Now().Add(timeout)}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", p.TLSPort), &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func TestOnDemandUnknownNameFailsAtOnceWithoutAnOrder(t *testing.T) {
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t))
	s := startService(t, p, t.TempDir(), onDemand)
	s.m.SetNames([]string{"autoconfig.a.example"})
	roots := p.RootPool(t)
	calls := s.m.StorageCalls()
	for _, sni := range []string{"autoconfig.unknown.example", "autoconfig.a.example.evil.example", "localhost", ""} {
		start := time.Now()
		if c, err := dial(p, roots, sni, 10*time.Second); err == nil {
			t.Errorf("handshake(%q) served %v, want refused", sni, c.DNSNames)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("handshake(%q) refused after %v, want at once", sni, d)
		}
	}
	if got := p.Orders(); got != 0 {
		t.Errorf("Pebble got %d orders, want none", got)
	}
	if got := s.m.StorageCalls() - calls; got != 0 {
		t.Errorf("refusing unknown names cost %d storage operations, want none", got)
	}
	if _, lines := certs.Report(s.m, time.Now()); !strings.Contains(lines[0], "1 on demand") {
		t.Errorf("Report()[0] = %q, want the name counted as on demand", lines[0])
	}
}

func TestOnDemandNameJustAddedGetsItsCertificateAtItsFirstHandshake(t *testing.T) {
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t))
	st, err := certstore.Open(certstoretest.PostgresURL(t), "", certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The first handshake waits for the order, however slow under load
	// (the default wait is under test with a CA that hangs).
	tweak := func(o *certs.ACMEOptions) { o.OnDemand, o.Storage, o.HandshakeWait = true, st, issueTimeout }
	s := startService(t, p, "", tweak)
	roots := p.RootPool(t)
	name := "autoconfig.new.example"
	s.m.SetNames([]string{"autoconfig.old.example"})
	if _, err := dial(p, roots, name, 10*time.Second); err == nil {
		t.Fatalf("handshake(%s) before the directory has it succeeded", name)
	}
	// The directory gains the domain: the catalog snapshot's names.
	s.m.SetNames([]string{"autoconfig.old.example", name})
	start := time.Now()
	c, err := dial(p, roots, name, issueTimeout)
	if err != nil {
		t.Fatalf("first handshake(%s): %v", name, err)
	}
	t.Logf("first handshake for a new name, its issuance included: %v", time.Since(start).Round(time.Millisecond))
	if c.DNSNames[0] != name {
		t.Errorf("first handshake(%s) served %v", name, c.DNSNames)
	}
	if got := p.Orders(); got != 1 {
		t.Errorf("Pebble got %d orders, want 1", got)
	}
	// Held now: later handshakes cost no order and no storage read.
	calls := s.m.StorageCalls()
	for range 5 {
		if c2, err := dial(p, roots, name, 5*time.Second); err != nil || !c2.Equal(c) {
			t.Fatalf("later handshake(%s) = %v, want the same certificate", name, err)
		}
	}
	if got := s.m.StorageCalls() - calls; got != 0 {
		t.Errorf("5 handshakes for a held name cost %d storage operations, want none", got)
	}
	if got := p.Orders(); got != 1 {
		t.Errorf("after more handshakes Pebble got %d orders, want still 1", got)
	}
	waitStates(t, s.m, 5*time.Second, map[string]certs.State{name: certs.Ready, "autoconfig.old.example": certs.OnDemand})

	// Another replica on the same storage loads it at its first
	// handshake: no order.
	s.stop()
	s = startService(t, p, "", tweak)
	s.m.SetNames([]string{name})
	if c2, err := dial(p, roots, name, 10*time.Second); err != nil || !c2.Equal(c) {
		t.Errorf("handshake(%s) on a replica sharing the storage = %v, want the stored certificate", name, err)
	}
	if got := p.Orders(); got != 1 {
		t.Errorf("a second replica made Pebble get %d orders, want still 1", got)
	}

	// The directory loses it: refused, so never renewed.
	s.m.SetNames(nil)
	if _, err := dial(p, roots, name, 5*time.Second); err == nil {
		t.Errorf("handshake(%s) after its removal succeeded", name)
	}
	if _, ok := s.m.Certificate(name); ok {
		t.Errorf("Certificate(%s) still held after its removal", name)
	}
}

func TestOnDemandBurstIsHeldToTheOrderRate(t *testing.T) {
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t))
	var logs lockedBuffer
	s := startService(t, p, t.TempDir(), func(o *certs.ACMEOptions) {
		o.OnDemand = true
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		// The rate is under test: a handshake within it waits for its
		// order, however slow under load.
		o.HandshakeWait = issueTimeout
	})
	const burst, rate = 50, certs.DefaultOrderRate
	names := make([]string, burst)
	for i := range names {
		names[i] = fmt.Sprintf("autoconfig.d%02d.example", i)
	}
	s.m.SetNames(names)
	roots := p.RootPool(t)
	start := time.Now()
	var ok, refused atomic.Int32
	var slowRefusal atomic.Int64
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() {
			t0 := time.Now()
			if _, err := dial(p, roots, n, issueTimeout); err == nil {
				ok.Add(1)
			} else {
				refused.Add(1)
				slowRefusal.Store(max(slowRefusal.Load(), int64(time.Since(t0))))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The limiter allows a minute's orders at once, then one every
	// 60s/rate.
	allowed := rate + int(elapsed/(time.Minute/rate))
	t.Logf("burst of %d new names: %d served, %d refused in %v; slowest refusal %v", burst, ok.Load(), refused.Load(),
		elapsed.Round(time.Millisecond), time.Duration(slowRefusal.Load()).Round(time.Millisecond))
	if got := p.Orders(); got > allowed || got < rate {
		t.Errorf("Pebble got %d orders in %v, want %d to %d (%d a minute)", got, elapsed, rate, allowed, rate)
	}
	if int(ok.Load()) > allowed || int(ok.Load()) < rate {
		t.Errorf("%d handshakes served, want %d to %d", ok.Load(), rate, allowed)
	}
	if d := time.Duration(slowRefusal.Load()); d > 5*time.Second {
		t.Errorf("a handshake over the rate was refused after %v, want at once", d)
	}
	if !strings.Contains(logs.String(), "over the order rate") {
		t.Errorf("the log does not say orders were refused for the rate")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ io.Writer = (*lockedBuffer)(nil)

// proxy is a TCP forwarder to addr that can be cut and restored, as a
// network between a replica and its storage.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	x := &proxy{ln: ln, target: target, up: true}
	t.Cleanup(func() { ln.Close(); x.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			x.mu.Lock()
			if !x.up {
				x.mu.Unlock()
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				x.mu.Unlock()
				c.Close()
				continue
			}
			x.conns = append(x.conns, c, u)
			x.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return x
}

func (x *proxy) cut() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.up = false
	for _, c := range x.conns {
		c.Close()
	}
	x.conns = nil
}

func (x *proxy) restore() {
	x.mu.Lock()
	x.up = true
	x.mu.Unlock()
}

// TestManagerLosingTheStorageKeepsServing: the storage unreachable, the
// replica serves what it holds, stays ready, says why, and recovers.
func TestManagerLosingTheStorageKeepsServing(t *testing.T) {
	url := certstoretest.PostgresURL(t)
	x := startProxy(t, "127.0.0.1:5432")
	url = strings.Replace(url, "127.0.0.1:5432", x.ln.Addr().String(), 1)
	st, err := certstore.Open(url, "", certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	metrics := certstore.NewMetrics()
	var logs lockedBuffer
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t))
	s := startService(t, p, "", func(o *certs.ACMEOptions) {
		o.Storage, o.Metrics = st, metrics
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	name := "autoconfig.a.example"
	s.m.SetNames([]string{name})
	waitStates(t, s.m, issueTimeout, allReady(name))
	if ok, lines := s.m.StorageReady(); !ok || !strings.HasSuffix(lines[0], ": ok") {
		t.Errorf("StorageReady() = %v, %q; want ready, ok", ok, lines)
	}

	x.cut()
	roots := p.RootPool(t)
	if _, err := dial(p, roots, name, 5*time.Second); err != nil {
		t.Errorf("handshake(%s) with the storage unreachable: %v", name, err)
	}
	time.Sleep(2100 * time.Millisecond) // past readiness's probe interval
	ok, lines := s.m.StorageReady()
	if !ok || !strings.Contains(lines[0], "unreachable, serving the certificates held in memory") {
		t.Errorf("StorageReady() with the storage cut = %v, %q; want ready, saying it is unreachable", ok, lines)
	}
	if !strings.Contains(logs.String(), "certificate storage unreachable") {
		t.Errorf("the log does not say the storage is unreachable:\n%s", logs.String())
	}

	x.restore()
	if !testutil.Poll(context.Background(), 10*time.Second, func() bool {
		_, lines := s.m.StorageReady()
		return strings.HasSuffix(lines[0], ": ok")
	}) {
		t.Errorf("StorageReady() after the storage came back = %q", lines)
	}
	if !strings.Contains(logs.String(), "certificate storage reachable again") {
		t.Errorf("the log does not say the storage is back")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range families {
		got[f.GetName()] = true
		if f.GetName() != "mailautoconf_storage_operations_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "error" && m.GetCounter().GetValue() > 0 {
					got["errors counted"] = true
				}
			}
		}
	}
	for _, want := range []string{"mailautoconf_storage_operations_total", "mailautoconf_storage_lock_wait_seconds", "mailautoconf_storage_up", "errors counted"} {
		if !got[want] {
			t.Errorf("metrics: no %s (got %v)", want, got)
		}
	}
}

// hangingCA starts a service on demand whose ACME CA accepts connections
// and never answers, with tweak applied after.
func hangingCA(t *testing.T, tweak func(*certs.ACMEOptions)) (*pebbletest.Pebble, *pebbletest.Front, *service) {
	t.Helper()
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t)) // for its ports
	ca := pebbletest.Hanging(t)
	s := startService(t, p, t.TempDir(), func(o *certs.ACMEOptions) {
		o.OnDemand, o.Directory = true, ca.Directory
		if tweak != nil {
			tweak(o)
		}
	})
	return p, ca, s
}

// pendingBound is what a handshake waiting for an order may take: the
// wait, and a margin for a loaded 2-core machine running -race.
const pendingBound = certs.DefaultHandshakeWait + 6*time.Second

// threeHandshakesFailWithinTheWait dials name three times: each
// handshake must fail, on the server's word (not the client's timeout),
// within pendingBound.
func threeHandshakesFailWithinTheWait(t *testing.T, p *pebbletest.Pebble, name, what string) {
	t.Helper()
	for i := range 3 {
		start := time.Now()
		_, err := dial(p, nil, name, 30*time.Second)
		d := time.Since(start)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("handshake %d (%s): the server held it until the client gave up (%v): %v", i, name, d, err)
		}
		if err == nil {
			t.Fatalf("handshake %d (%s) succeeded with no CA", i, name)
		}
		if d > pendingBound {
			t.Errorf("handshake %d (%s) ended after %v, want within %v", i, name, d.Round(time.Millisecond), pendingBound)
		}
		t.Logf("handshake %d for a name %s: %v, %v", i, what, d.Round(time.Millisecond), err)
	}
}

// TestOnDemandHandshakeEndsWithinTheWaitWhenTheCAHangs: a CA that never
// answers holds no handshake longer than the wait, neither the one that
// started the order nor those after it, which wait for the same order.
func TestOnDemandHandshakeEndsWithinTheWaitWhenTheCAHangs(t *testing.T) {
	p, ca, s := hangingCA(t, nil)
	name := "autoconfig.a.example"
	s.m.SetNames([]string{name})
	threeHandshakesFailWithinTheWait(t, p, name, "whose order hangs")
	if ca.Accepted() == 0 {
		t.Errorf("the CA got no connection: no order was tried")
	}
	if _, lines := certs.Report(s.m, time.Now()); !strings.Contains(lines[0], "1 on demand") {
		t.Errorf("Report()[0] = %q, want the name still on demand", lines[0])
	}
}

// TestOnDemandHandshakeEndsWithinTheWaitWhenTheCARefuses: a CA that
// refuses connections (the issue's https://127.0.0.1:1/dir) fails the
// handshake within the wait, where certmagic held it for its retry a
// minute later; the handshakes until that retry fail too, without an
// order of their own.
func TestOnDemandHandshakeEndsWithinTheWaitWhenTheCARefuses(t *testing.T) {
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t)) // for its ports
	// The issue's directory: nothing listens on port 1, where a port
	// found free may be taken by another test since.
	directory := "https://127.0.0.1:1/dir"
	var logs lockedBuffer
	s := startService(t, p, t.TempDir(), func(o *certs.ACMEOptions) {
		o.OnDemand, o.Directory = true, directory
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	name := "autoconfig.a.example"
	s.m.SetNames([]string{name})
	threeHandshakesFailWithinTheWait(t, p, name, "whose CA refuses connections")
	// The failure is logged just after the waiting handshakes are told
	// of it: wait for the line, then check that it is the only one.
	failures := func() int { return strings.Count(logs.String(), "certificate not obtained") }
	testutil.Poll(context.Background(), 5*time.Second, func() bool { return failures() > 0 })
	if n := failures(); n != 1 {
		t.Errorf("%d failed orders logged for 3 handshakes within a minute, want 1:\n%s", n, logs.String())
	}
}

// TestOnDemandOrderStopsWhenItsNameLeaves: the order a handshake started
// goes on in the background after the handshake, until the name leaves
// the set: then it stops, and nothing more is tried for it.
func TestOnDemandOrderStopsWhenItsNameLeaves(t *testing.T) {
	var logs lockedBuffer
	p, ca, s := hangingCA(t, func(o *certs.ACMEOptions) { o.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	name := "autoconfig.a.example"
	s.m.SetNames([]string{name, "autoconfig.b.example"})
	if _, err := dial(p, nil, name, 30*time.Second); err == nil {
		t.Fatalf("handshake(%s) succeeded with no CA", name)
	}
	if !testutil.Poll(context.Background(), 10*time.Second, func() bool { return ca.Accepted() > 0 }) {
		t.Fatalf("no order reached the CA after the handshake")
	}
	time.Sleep(500 * time.Millisecond)
	const stopped = "certificate order stopped: the name is no longer served"
	if strings.Contains(logs.String(), stopped) || strings.Contains(logs.String(), "certificate not obtained") {
		t.Fatalf("the order ended with its handshake; want it going on in the background:\n%s", logs.String())
	}
	s.m.SetNames([]string{"autoconfig.b.example"})
	if !testutil.Poll(context.Background(), 10*time.Second, func() bool { return strings.Contains(logs.String(), stopped) }) {
		t.Fatalf("10 s after %s left the set, its order has not stopped:\n%s", name, logs.String())
	}
	if !strings.Contains(logs.String(), "context canceled") {
		t.Errorf("the order stopped for another reason than the name leaving:\n%s", logs.String())
	}
	accepted := ca.Accepted()
	if _, err := dial(p, nil, name, 10*time.Second); err == nil {
		t.Errorf("handshake(%s) after it left succeeded", name)
	}
	time.Sleep(time.Second)
	if got := ca.Accepted(); got != accepted {
		t.Errorf("the CA got %d more connections after %s left, want none", got-accepted, name)
	}
}

// TestOnDemandClientGoneIsNotHeld: a client that sends its hello and goes
// (closes its side) has its connection closed at once, however long the
// wait for the order.
func TestOnDemandClientGoneIsNotHeld(t *testing.T) {
	p, _, s := hangingCA(t, func(o *certs.ACMEOptions) { o.HandshakeWait = 2 * time.Minute })
	name := "autoconfig.a.example"
	s.m.SetNames([]string{name})
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.TLSPort))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(60 * time.Second))
	sent := make(chan struct{})
	c := tls.Client(&firstWrite{Conn: raw, done: sent}, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	result := make(chan error, 1)
	go func() { result <- c.Handshake() }()
	<-sent
	time.Sleep(300 * time.Millisecond) // the server reads the hello and waits for the order
	gone := time.Now()
	if err := raw.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	err = <-result
	d := time.Since(gone)
	t.Logf("the server closed the connection %v after its client went: %v", d.Round(time.Millisecond), err)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server held the connection of a client gone for %v: %v", d, err)
	}
	if err == nil {
		t.Fatalf("handshake(%s) succeeded with no CA", name)
	}
	if d > 10*time.Second {
		t.Errorf("the server closed the connection %v after its client went, want within 10s", d)
	}
}

// firstWrite closes done at its first Write: the ClientHello is sent.
type firstWrite struct {
	net.Conn
	done chan struct{}
	once sync.Once
}

func (w *firstWrite) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	w.once.Do(func() { close(w.done) })
	return n, err
}

// TestOnDemandOverTheRateWarnsOncePerMinute: handshakes refused over the
// order rate are counted, and warned of once a minute with the count, not
// once each.
func TestOnDemandOverTheRateWarnsOncePerMinute(t *testing.T) {
	var logs lockedBuffer
	p, _, s := hangingCA(t, func(o *certs.ACMEOptions) {
		o.OrderRate = 1
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	names := make([]string, 6)
	for i := range names {
		names[i] = fmt.Sprintf("autoconfig.d%d.example", i)
	}
	s.m.SetNames(names)
	for _, n := range names {
		start := time.Now()
		if _, err := dial(p, nil, n, 30*time.Second); err == nil {
			t.Fatalf("handshake(%s) succeeded with no CA", n)
		}
		if d := time.Since(start); d > pendingBound {
			t.Errorf("handshake(%s) ended after %v, want within %v", n, d, pendingBound)
		}
	}
	var warned []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "over the order rate") {
			warned = append(warned, l)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "refused=1") {
		t.Errorf("warnings over the order rate after %d refusals:\n%s\nwant one, refused=1", len(names)-1, strings.Join(warned, "\n"))
	}
}
