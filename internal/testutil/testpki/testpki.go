// Package testpki makes throwaway certificates and keys for tests: the
// signing pairs of Apple profiles, the HTTPS certificates of static-file
// tests. It imports nothing of this module, so every package's tests can
// use it. Not for production use.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert describes a certificate to make. A zero NotBefore is an hour ago,
// a zero NotAfter an hour from now; the first of Names (else CommonName)
// is the subject's common name.
type Cert struct {
	CommonName          string
	Names               []string // DNS names
	NotBefore, NotAfter time.Time
	KeyUsage            x509.KeyUsage
}

// Key returns a new ECDSA P-256 key.
func Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// SelfSigned returns c self-signed by key.
func SelfSigned(t testing.TB, key crypto.Signer, c Cert) *x509.Certificate {
	t.Helper()
	tmpl := c.template()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (c Cert) template() *x509.Certificate {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: c.CommonName},
		DNSNames:     c.Names,
		NotBefore:    c.NotBefore,
		NotAfter:     c.NotAfter,
		KeyUsage:     c.KeyUsage,
	}
	if tmpl.Subject.CommonName == "" && len(c.Names) > 0 {
		tmpl.Subject.CommonName = c.Names[0]
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(time.Hour)
	}
	return tmpl
}

// WritePair writes cert as PEM to certFile and key as PKCS #8 PEM to
// keyFile (mode 0600), making their directories.
func WritePair(t testing.TB, certFile, keyFile string, cert *x509.Certificate, key crypto.Signer) {
	t.Helper()
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: cert.Raw},
		keyFile:  {Type: "PRIVATE KEY", Bytes: kder},
	} {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
