package certs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"mailautoconf/internal/certs"
	"mailautoconf/internal/certstore"
	"mailautoconf/internal/certstore/certstoretest"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/pebbletest"
)

// BenchmarkHandshakeHeldName: a full TLS handshake over loopback for a
// name whose certificate is held, with the file storage and with
// PostgreSQL, and on demand with the file storage: the storage is not on
// the hot path (storage-ops/op is 0).
func BenchmarkHandshakeHeldName(b *testing.B) {
	for _, backend := range []string{"file", "postgres", "file-on-demand"} {
		b.Run(backend, func(b *testing.B) {
			p := pebbletest.Start(b, testutil.FreePort(b), testutil.FreePort(b))
			var st certstore.Storage
			var err error
			if backend == "postgres" {
				st, err = certstore.Open(certstoretest.PostgresURL(b), "", certstore.Options{})
			} else {
				st, err = certstore.Open("", b.TempDir(), certstore.Options{})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			onDemand := backend == "file-on-demand"
			s := startBench(b, p, certs.ACMEOptions{Storage: st, OnDemand: onDemand})
			name := "autoconfig.a.example"
			s.m.SetNames([]string{name})
			addr := fmt.Sprintf("127.0.0.1:%d", p.TLSPort)
			conf := &tls.Config{ServerName: name, InsecureSkipVerify: true}
			if !testutil.Poll(context.Background(), issueTimeout, func() bool {
				if onDemand { // ordered at a handshake
					if c, err := tls.Dial("tcp", addr, conf); err == nil {
						c.Close()
					}
				}
				_, ok := s.m.Certificate(name)
				return ok
			}) {
				b.Fatal("no certificate")
			}
			calls := s.m.StorageCalls()
			b.ResetTimer()
			for b.Loop() {
				c, err := tls.Dial("tcp", addr, conf)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.ReportMetric(float64(s.m.StorageCalls()-calls)/float64(b.N), "storage-ops/op")
		})
	}
}

// startBench is startService for a benchmark, quiet.
func startBench(b *testing.B, p *pebbletest.Pebble, o certs.ACMEOptions) *service {
	pl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.HTTPPort))
	if err != nil {
		b.Fatal(err)
	}
	tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.TLSPort))
	if err != nil {
		b.Fatal(err)
	}
	o.Directory, o.CARoots, o.HTTPAddr, o.TLSAddr = p.Directory, p.APIRoots, pl.Addr(), tl.Addr()
	m, err := certs.NewManager(o)
	if err != nil {
		b.Fatal(err)
	}
	s := &service{
		m:     m,
		plain: &http.Server{Handler: m.HTTPHandler(http.NotFoundHandler()), ErrorLog: quiet},
		tls:   &http.Server{Handler: http.NotFoundHandler(), TLSConfig: certs.TLSConfig(m), ErrorLog: quiet},
	}
	go s.plain.Serve(pl)
	go s.tls.ServeTLS(tl, "", "")
	b.Cleanup(s.stop)
	return s
}

// BenchmarkOnDemand10000Names: 10,000 names whose certificates are in
// the storage, each loaded at its first handshake; with the cache
// unbounded it reports the heap per name held, with a capacity of 1,000
// that the cache stays at it. Run with -benchtime=1x: one iteration is
// the whole set.
func BenchmarkOnDemand10000Names(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	const directory = "https://127.0.0.1:1/dir" // never reached: nothing is ordered
	issuerKey := (&certmagic.ACMEIssuer{CA: directory}).IssuerKey()
	st, err := certstore.Open("", dir, certstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, n)
	ctx := context.Background()
	for i := range names {
		names[i] = fmt.Sprintf("autoconfig.d%05d.example", i)
		certPEM, keyPEM := selfSigned(b, names[i])
		meta, _ := json.Marshal(map[string]any{"sans": []string{names[i]}})
		for k, v := range map[string][]byte{
			certmagic.StorageKeys.SiteCert(issuerKey, names[i]):       certPEM,
			certmagic.StorageKeys.SitePrivateKey(issuerKey, names[i]): keyPEM,
			certmagic.StorageKeys.SiteMeta(issuerKey, names[i]):       meta,
		} {
			if err := st.Store(ctx, k, v); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, capacity := range []int{0, 1000} {
		b.Run(fmt.Sprintf("capacity=%d", capacity), func(b *testing.B) {
			for b.Loop() {
				p := &pebbletest.Pebble{Directory: directory, HTTPPort: testutil.FreePort(b), TLSPort: testutil.FreePort(b)}
				s := startBench(b, p, certs.ACMEOptions{Storage: st, OnDemand: true, CacheCapacity: capacity, DisableARI: true})
				s.m.SetNames(names)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				addr := fmt.Sprintf("127.0.0.1:%d", p.TLSPort)
				for _, name := range names {
					c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
					if err != nil {
						b.Fatalf("handshake(%s): %v", name, err)
					}
					c.Close()
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				held := 0
				for _, st := range s.m.Status() {
					if st.State == certs.Ready {
						held++
					}
				}
				if capacity > 0 && held > capacity {
					b.Errorf("%d certificates held, over the capacity %d", held, capacity)
				}
				b.ReportMetric(float64(held), "held")
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(max(held, 1)), "heap-B/held-name")
				s.stop()
			}
		})
	}
}

// selfSigned makes a certificate for name valid for 90 days, as PEM.
func selfSigned(b *testing.B, name string) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
