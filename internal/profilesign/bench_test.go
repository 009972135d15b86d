package profilesign

import (
	"crypto/x509"
	"testing"

	"mailautoconf/provision"
)

// BenchmarkSign signs the demo provider's profile of alice@example.com.
func BenchmarkSign(b *testing.B) {
	pki := newSigPKI(b, "ecdsa")
	s, err := New([]*x509.Certificate{pki.leaf, pki.inter}, pki.leafKey)
	if err != nil {
		b.Fatal(err)
	}
	profile := renderProfile(b, "alice@example.com", provision.ProfileOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(profile); err != nil {
			b.Fatal(err)
		}
	}
}
