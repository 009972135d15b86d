package certs_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"mailautoconf/internal/certs"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/pebbletest"
)

// gate is a DNSGate the test opens name by name, as the DNS watch does
// when it sees a name point at the service.
type gate struct {
	mu   sync.Mutex
	open map[string]bool
}

func (g *gate) allows(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open[name]
}

func (g *gate) let(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open[name] = true
}

func TestDNSGateOrdersOnlyNamesThatPointAtUs(t *testing.T) {
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t))
	dataDir := t.TempDir()
	g := &gate{open: map[string]bool{"autoconfig.ours.example": true}}
	s := startService(t, p, dataDir, func(o *certs.ACMEOptions) { o.DNSGate = g.allows })
	names := []string{"autoconfig.ours.example", "autoconfig.elsewhere.example", "autodiscover.elsewhere.example"}
	s.m.SetNames(names)
	waitStates(t, s.m, issueTimeout, map[string]certs.State{
		"autoconfig.ours.example":        certs.Ready,
		"autoconfig.elsewhere.example":   certs.WaitingDNS,
		"autodiscover.elsewhere.example": certs.WaitingDNS,
	})
	// Given a moment in which a wrongly placed order would show.
	time.Sleep(500 * time.Millisecond)
	if n := p.Orders(); n != 1 {
		t.Errorf("Pebble received %d orders, want 1: names waiting for DNS must not be ordered", n)
	}
	_, lines := certs.Report(s.m, time.Now())
	text := strings.Join(lines, "\n")
	for _, want := range []string{"1 of 3 names ready, 2 waiting for DNS", "autoconfig.elsewhere.example: waiting for DNS"} {
		if !strings.Contains(text, want) {
			t.Errorf("Report() =\n%s\nwant it to contain %q", text, want)
		}
	}
	if _, err := handshake(p, p.RootPool(t), "autoconfig.elsewhere.example"); err == nil {
		t.Error("a handshake for a name waiting for DNS was served")
	}

	// Its DNS is fixed: the watch opens the gate and says so.
	g.let("autoconfig.elsewhere.example")
	s.m.DNSChanged()
	waitStates(t, s.m, issueTimeout, map[string]certs.State{
		"autoconfig.ours.example":        certs.Ready,
		"autoconfig.elsewhere.example":   certs.Ready,
		"autodiscover.elsewhere.example": certs.WaitingDNS,
	})
	if n := p.Orders(); n != 2 {
		t.Errorf("Pebble received %d orders, want 2", n)
	}
	if _, err := handshake(p, p.RootPool(t), "autoconfig.elsewhere.example"); err != nil {
		t.Errorf("handshake after the gate opened: %v", err)
	}
	s.stop()

	// A certificate in storage is served whatever the gate says: a
	// restart before the watch's first sweep serves what it has.
	s = startService(t, p, dataDir, func(o *certs.ACMEOptions) { o.DNSGate = func(string) bool { return false } })
	s.m.SetNames(names)
	waitStates(t, s.m, issueTimeout, map[string]certs.State{
		"autoconfig.ours.example":        certs.Ready,
		"autoconfig.elsewhere.example":   certs.Ready,
		"autodiscover.elsewhere.example": certs.WaitingDNS,
	})
	if n := p.Orders(); n != 2 {
		t.Errorf("Pebble received %d orders after the restart, want still 2", n)
	}
}

func TestDNSGateIsIgnoredOnDemand(t *testing.T) {
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t))
	s := startService(t, p, t.TempDir(), func(o *certs.ACMEOptions) {
		o.OnDemand = true
		o.HandshakeWait = 60 * time.Second
		o.DNSGate = func(string) bool { return false }
	})
	s.m.SetNames([]string{"autoconfig.ours.example"})
	if _, err := handshake(p, p.RootPool(t), "autoconfig.ours.example"); err != nil {
		t.Fatalf("on-demand handshake with a closed DNS gate: %v (a handshake proves the name reaches us)", err)
	}
}
