// Package dnstest runs a real DNS server on loopback for tests: the
// doctor's resolver asks it as it would ask any server. Not for
// production use.
package dnstest

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// Serve answers DNS over UDP on 127.0.0.1 with h until the test ends and
// returns the server's host:port. It returns once the server is ready.
func Serve(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
