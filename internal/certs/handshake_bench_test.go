package certs_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"

	"mailautoconf/internal/certs"
)

// BenchmarkHandshakeKeyShare: a full TLS 1.3 handshake against
// certs.TLSConfig with an ECDSA P-256 certificate (both ends' CPU, over
// net.Pipe), by the key share the client offers: X25519 alone (as
// bench/hammer and OpenSSL 3.0 clients), or Go's default, the
// X25519MLKEM768 hybrid first (as Go 1.24+, Chrome 131+ and Firefox 132+
// send), which the server takes since crypto/tls prefers it.
func BenchmarkHandshakeKeyShare(b *testing.B) {
	const name = "autoconfig.example.com"
	dir := b.TempDir()
	certPEM, keyPEM := selfSigned(b, name)
	cf, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cf, certPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(kf, keyPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	src, err := certs.NewStatic(cf, kf, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	src.SetNames([]string{name})
	server := certs.TLSConfig(src)
	for _, tc := range []struct {
		name   string
		curves []tls.CurveID
	}{
		{"x25519", []tls.CurveID{tls.X25519}},
		{"default-x25519mlkem768", nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client := &tls.Config{ServerName: name, InsecureSkipVerify: true, CurvePreferences: tc.curves,
				MinVersion: tls.VersionTLS13, SessionTicketsDisabled: true}
			var got tls.CurveID
			for b.Loop() {
				c1, c2 := net.Pipe()
				done := make(chan error, 1)
				go func() {
					s := tls.Server(c2, server)
					done <- s.Handshake()
					got = s.ConnectionState().CurveID
					c2.Close()
				}()
				cc := tls.Client(c1, client)
				if err := cc.Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				c1.Close()
			}
			b.ReportMetric(float64(got), "curve-id")
		})
	}
}
