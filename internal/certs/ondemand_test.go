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
	p := pebbletest.Start(t, pebbletest.FreePort(t), pebbletest.FreePort(t))
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
	p := pebbletest.Start(t, pebbletest.FreePort(t), pebbletest.FreePort(t))
	st, err := certstore.Open(certstoretest.PostgresURL(t), "", certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := startService(t, p, "", func(o *certs.ACMEOptions) { o.OnDemand, o.Storage = true, st })
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
	s = startService(t, p, "", func(o *certs.ACMEOptions) { o.OnDemand, o.Storage = true, st })
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
	p := pebbletest.Start(t, pebbletest.FreePort(t), pebbletest.FreePort(t))
	var logs lockedBuffer
	s := startService(t, p, t.TempDir(), func(o *certs.ACMEOptions) {
		o.OnDemand = true
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
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
	p := pebbletest.Start(t, pebbletest.FreePort(t), pebbletest.FreePort(t))
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
	if !pebbletest.WaitFor(context.Background(), 10*time.Second, func() bool {
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
