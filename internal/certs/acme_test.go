package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/certs"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/pebbletest"

	// -update: go test ./... -update rewrites golden files, and every test
	// binary must accept the flag.
	_ "mailautoconf/internal/testutil/golden"
)

// service is the part of mailautoconf a Manager needs: a plain listener
// answering HTTP-01 and a TLS listener answering TLS-ALPN-01, on the
// ports Pebble validates against.
type service struct {
	m          *certs.Manager
	plain, tls *http.Server
}

func startService(t *testing.T, p *pebbletest.Pebble, dataDir string, tweak func(*certs.ACMEOptions)) *service {
	t.Helper()
	pl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.TLSPort))
	if err != nil {
		t.Fatal(err)
	}
	o := certs.ACMEOptions{
		DataDir:   dataDir,
		Directory: p.Directory,
		Email:     "admin@example.org",
		CARoots:   p.APIRoots,
		HTTPAddr:  pl.Addr(),
		TLSAddr:   tl.Addr(),
		Log:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if tweak != nil {
		tweak(&o)
	}
	m, err := certs.NewManager(o)
	if err != nil {
		t.Fatal(err)
	}
	// The TLS server's handshake deadline (net/http's, from
	// ReadHeaderTimeout) is the service's 5 s, or longer where a test
	// lets a handshake wait longer for its order.
	handshake := max(5*time.Second, o.HandshakeWait+time.Second)
	s := &service{
		m:     m,
		plain: &http.Server{Handler: m.HTTPHandler(http.NotFoundHandler()), ReadHeaderTimeout: 5 * time.Second, ErrorLog: quiet},
		tls:   &http.Server{Handler: http.NotFoundHandler(), TLSConfig: certs.TLSConfig(m), ReadHeaderTimeout: handshake, ErrorLog: quiet},
	}
	go s.plain.Serve(pl)
	go s.tls.ServeTLS(tl, "", "")
	t.Cleanup(s.stop)
	return s
}

func (s *service) stop() {
	s.m.Stop()
	s.plain.Close()
	s.tls.Close()
}

// quiet drops the refused handshakes the tests cause on purpose.
var quiet = log.New(io.Discard, "", 0)

// testWriter sends the manager's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitStates waits until every name has a state other than pending.
func waitStates(t *testing.T, m *certs.Manager, timeout time.Duration, want map[string]certs.State) {
	t.Helper()
	ok := testutil.Poll(context.Background(), timeout, func() bool {
		for _, s := range m.Status() {
			if want[s.Name] != s.State {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("after %v, Status() = %+v, want states %v", timeout, m.Status(), want)
	}
}

// issueTimeout bounds the wait for an issuance. It takes seconds; the
// margin lets certmagic's first retry (a minute later) absorb a validation
// that failed for a reason of a loaded test machine (Pebble's DNS lookup
// over TCP reset, seen once under load).
const issueTimeout = 90 * time.Second

func allReady(names ...string) map[string]certs.State {
	out := map[string]certs.State{}
	for _, n := range names {
		out[n] = certs.Ready
	}
	return out
}

// handshake connects to the TLS listener asking for sni and verifies the
// chain against roots. It returns the leaf's names.
func handshake(p *pebbletest.Pebble, roots *x509.CertPool, sni string) ([]string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", p.TLSPort), &tls.Config{ServerName: sni, RootCAs: roots, NextProtos: []string{"h2"}})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.NegotiatedProtocol != "h2" {
		return nil, fmt.Errorf("negotiated %q, want h2", st.NegotiatedProtocol)
	}
	return st.PeerCertificates[0].DNSNames, nil
}

func TestManagerIssuesRenewsOnRestartAndFollowsTheCatalog(t *testing.T) {
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t))
	dataDir := t.TempDir()
	names := []string{"autoconfig.a.example", "autodiscover.a.example", "autoconfig.b.example", "autodiscover.b.example", "mail.example.net"}

	// First start, HTTP-01 only: every name is issued ahead of time.
	start := time.Now()
	s := startService(t, p, dataDir, func(o *certs.ACMEOptions) { o.DisableTLSALPN01 = true })
	s.m.SetNames(names)
	waitStates(t, s.m, issueTimeout, allReady(names...))
	t.Logf("%d certificates issued in %v", len(names), time.Since(start).Round(time.Millisecond))
	orders := p.Orders()
	if orders < len(names) {
		t.Errorf("Pebble got %d orders, want at least %d (one per name)", orders, len(names))
	}
	roots := p.RootPool(t)
	for _, n := range names {
		got, err := handshake(p, roots, n)
		if err != nil || !slices.Equal(got, []string{n}) {
			t.Errorf("handshake(%s) = %v, %v; want a certificate for %s", n, got, err, n)
		}
		if c, ok := s.m.Certificate(n); !ok || c.Leaf.DNSNames[0] != n {
			t.Errorf("Certificate(%s) = %v, %v", n, c, ok)
		}
	}

	// A name outside the set: refused, and never ordered.
	for _, sni := range []string{"autoconfig.c.example", "", "localhost"} {
		if got, err := handshake(p, roots, sni); err == nil {
			t.Errorf("handshake(%q) succeeded with %v, want refused", sni, got)
		}
	}
	if _, ok := s.m.Certificate("autoconfig.c.example"); ok {
		t.Errorf("Certificate(autoconfig.c.example) found one")
	}
	if got := p.Orders(); got != orders {
		t.Errorf("after handshakes for unknown names, Pebble got %d orders, want still %d", got, orders)
	}

	// Restart on the same data directory, TLS-ALPN-01 only: nothing is
	// ordered again, every name is served at once.
	s.stop()
	s = startService(t, p, dataDir, func(o *certs.ACMEOptions) { o.DisableHTTP01 = true })
	s.m.SetNames(names)
	waitStates(t, s.m, 5*time.Second, allReady(names...))
	if got := p.Orders(); got != orders {
		t.Errorf("after a restart Pebble got %d orders, want still %d", got, orders)
	}
	if _, err := handshake(p, roots, names[0]); err != nil {
		t.Errorf("after a restart, handshake(%s): %v", names[0], err)
	}

	// The catalog gains a domain and loses one: the new names are
	// obtained (TLS-ALPN-01) without a restart, the old ones refused.
	names2 := []string{"autoconfig.a.example", "autodiscover.a.example", "autoconfig.c.example", "autodiscover.c.example", "mail.example.net"}
	s.m.SetNames(names2)
	waitStates(t, s.m, issueTimeout, allReady(names2...))
	if got := p.Orders(); got < orders+2 {
		t.Errorf("after adding a domain Pebble got %d orders, want at least %d", got, orders+2)
	}
	if _, err := handshake(p, roots, "autoconfig.c.example"); err != nil {
		t.Errorf("handshake(autoconfig.c.example) after the catalog change: %v", err)
	}
	if got, err := handshake(p, roots, "autoconfig.b.example"); err == nil {
		t.Errorf("handshake(autoconfig.b.example) after its removal served %v", got)
	}
}

func TestManagerOneFailureDoesNotBlockTheOthers(t *testing.T) {
	// Pebble refuses blocked.example as a CA refuses a name it will not
	// issue for (or rate-limits it).
	p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t), "blocked.example")
	s := startService(t, p, t.TempDir(), nil)
	names := []string{"autoconfig.blocked.example", "autoconfig.ok.example", "autodiscover.ok.example"}
	s.m.SetNames(names)
	want := allReady(names...)
	want["autoconfig.blocked.example"] = certs.Failed
	waitStates(t, s.m, issueTimeout, want)
	for _, st := range s.m.Status() {
		if st.Name == "autoconfig.blocked.example" && (st.Failures < 1 || !strings.Contains(st.Err, "rejectedIdentifier")) {
			t.Errorf("Status(autoconfig.blocked.example) = %+v, want a failure naming the CA's reason", st)
		}
	}
	_, lines := certs.Report(s.m, time.Now())
	text := strings.Join(lines, "\n")
	for _, want := range []string{"certificates: 2 of 3 names ready", "autoconfig.blocked.example: failed (", "retried with back-off): ", "rejectedIdentifier"} {
		if !strings.Contains(text, want) {
			t.Errorf("Report() =\n%s\nwant it to contain %q", text, want)
		}
	}
	if _, err := handshake(p, p.RootPool(t), "autoconfig.ok.example"); err != nil {
		t.Errorf("handshake(autoconfig.ok.example): %v", err)
	}
}

func TestNewManagerRefusesBadOptions(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	notPEM := t.TempDir() + "/roots.pem"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, o := range []certs.ACMEOptions{
		{HTTPAddr: addr, TLSAddr: addr},
		{DataDir: t.TempDir(), TLSAddr: addr},
		{DataDir: t.TempDir(), HTTPAddr: addr, TLSAddr: addr, CARoots: notPEM},
		{DataDir: t.TempDir(), HTTPAddr: addr, TLSAddr: addr, CARoots: notPEM + ".absent"},
	} {
		if _, err := certs.NewManager(o); err == nil {
			t.Errorf("NewManager(%+v) succeeded", o)
		}
	}
}
