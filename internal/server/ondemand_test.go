package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/pebbletest"
)

// TestServeOnDemandHellosCannotLockOutOtherClients: with on-demand
// certificates and a CA that hangs, a flood of ClientHellos for served
// names without a certificate, each client gone a second later, does not
// fill a listener of MAX_CONNECTIONS=8: another client's handshake for a
// refused name, and for a name whose certificate is held, completes at
// once.
func TestServeOnDemandHellosCannotLockOutOtherClients(t *testing.T) {
	httpPort, tlsPort := testutil.FreePort(t), testutil.FreePort(t)
	p := pebbletest.Start(t, httpPort, tlsPort)
	ca := p.Front(t)
	cfg := acmeConfig(t, p, ca.Directory, writeCatalog(t, threeDomains), httpPort, tlsPort)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.AcmeOnDemand = true
	const maxConns = 8
	cfg.MaxConnections = maxConns
	var logs testutil.SyncBuffer
	startServe(t, cfg, &logs)

	// A name with its certificate held, ordered while the CA answered
	// (retried: the default wait may be short of an order on a loaded
	// machine).
	roots := p.RootPool(t)
	const held = "autoconfig.a.example"
	var err error
	ok := testutil.Poll(t.Context(), 90*time.Second, func() bool {
		_, err = handshake(tlsPort, roots, held, 10*time.Second)
		return err == nil
	})
	if !ok {
		t.Fatalf("handshake(%s) while the CA answers: %v", held, err)
	}

	ca.Hang()
	const flood = 40
	names := []string{"autoconfig.b.example", "autodiscover.b.example", "autoconfig.c.example", "autodiscover.c.example"}
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			raw, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), 5*time.Second)
			if err != nil {
				return
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(time.Second))
			// The hello is sent; the client goes a second later,
			// answered or not.
			_ = tls.Client(raw, &tls.Config{ServerName: names[i%len(names)], InsecureSkipVerify: true}).Handshake()
		})
	}
	time.Sleep(1500 * time.Millisecond) // every hello sent, the first clients gone
	const prompt = 10 * time.Second
	for _, tc := range []struct {
		sni  string
		want bool
	}{
		{"autoconfig.unknown.example", false},
		{held, true},
		{"autoconfig.b.example", false}, // its order hangs: ends with the wait
	} {
		start := time.Now()
		_, err := handshake(tlsPort, roots, tc.sni, 30*time.Second)
		d := time.Since(start)
		t.Logf("handshake(%s) during a flood of %d hellos on %d connections: %v, %v", tc.sni, flood, maxConns, d.Round(time.Millisecond), err)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("handshake(%s) during the flood: %v, locked out", tc.sni, err)
			continue
		}
		if (err == nil) != tc.want {
			t.Errorf("handshake(%s) during the flood: %v, want served %v", tc.sni, err, tc.want)
		}
		if d > prompt {
			t.Errorf("handshake(%s) during the flood took %v, want within %v", tc.sni, d, prompt)
		}
	}
	wg.Wait()
}
