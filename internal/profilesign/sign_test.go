package profilesign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"mailautoconf/internal/testutil/testpki"
	"mailautoconf/provision"
)

// sigPKI is a throwaway CA: a root, an intermediate it issued, and a leaf
// the intermediate issued, as a TLS or profile-signing chain is built.
type sigPKI struct {
	root, inter, leaf *x509.Certificate
	leafKey           crypto.Signer
}

func sigKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ecdsa":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var sigSerial int64

func sigIssue(t testing.TB, tmpl *x509.Certificate, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	sigSerial++
	tmpl.SerialNumber = big.NewInt(sigSerial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newSigPKI(t testing.TB, kind string) *sigPKI {
	t.Helper()
	rootKey, interKey, leafKey := sigKey(t, kind), sigKey(t, kind), sigKey(t, kind)
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{
			Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
	}
	root := sigIssue(t, ca("Test Root "+kind), nil, rootKey.Public(), rootKey)
	inter := sigIssue(t, ca("Test Intermediate "+kind), root, interKey.Public(), rootKey)
	// A leaf as an ACME CA issues it for a web server: the kind of
	// certificate operators sign profiles with (docs/apple-profiles.md#signing).
	leaf := sigIssue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "autoconfig.example.com"},
		DNSNames:    []string{"autoconfig.example.com"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, inter, leafKey.Public(), interKey)
	return &sigPKI{root: root, inter: inter, leaf: leaf, leafKey: leafKey}
}

func sigCertPEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func sigKeyPEM(t testing.TB, k crypto.Signer, form string) []byte {
	t.Helper()
	var block *pem.Block
	switch form {
	case "pkcs8":
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case "pkcs1":
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))}
	case "sec1":
		der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	}
	return pem.EncodeToMemory(block)
}

func sigWriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opensslPath returns the openssl binary, skipping the test where it is
// absent, except under CI.
func opensslPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is missing (.ci/run installs it)")
		}
		t.Skip("skipping: openssl not installed (apt-get install openssl)")
	}
	return p
}

// opensslCMSVerify runs openssl cms -verify on a DER SignedData with only the
// root as trust anchor, and returns the content it recovered.
func opensslCMSVerify(t *testing.T, openssl, dir string, signed []byte, root *x509.Certificate) ([]byte, error) {
	t.Helper()
	in := sigWriteFile(t, dir, "signed.mobileconfig", signed)
	ca := sigWriteFile(t, dir, "root.pem", sigCertPEM(root))
	out := filepath.Join(dir, "content.out")
	os.Remove(out)
	// -purpose any: the signer is a TLS server certificate, whose
	// extended key usage openssl would otherwise hold against S/MIME.
	cmd := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", ca, "-purpose", "any", "-out", out)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return nil, &cmsVerifyError{string(msg)}
	}
	return os.ReadFile(out)
}

type cmsVerifyError struct{ out string }

func (e *cmsVerifyError) Error() string { return "openssl cms -verify: " + e.out }

func TestSignVerifiesWithOpenSSL(t *testing.T) {
	openssl := opensslPath(t)
	profile := renderProfile(t, "fred@example.com", provision.ProfileOptions{})
	for _, kind := range []string{"rsa", "ecdsa"} {
		t.Run(kind, func(t *testing.T) {
			pki := newSigPKI(t, kind)
			dir := t.TempDir()
			form := map[string]string{"rsa": "pkcs1", "ecdsa": "sec1"}[kind]
			// The certificate file carries the intermediate, and the
			// root at the end as some bundles do: the root is dropped.
			certFile := sigWriteFile(t, dir, "fullchain.pem", sigCertPEM(pki.leaf, pki.inter, pki.root))
			keyFile := sigWriteFile(t, dir, "key.pem", sigKeyPEM(t, pki.leafKey, form))
			s, err := Load(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := s.Sign(profile)
			if err != nil {
				t.Fatal(err)
			}
			content, err := opensslCMSVerify(t, openssl, dir, signed, pki.root)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(content, profile) {
				t.Errorf("verified content differs from the profile")
			}

			// The SignedData holds the leaf and the intermediate (the
			// root file alone let openssl build the chain), not the
			// root, and uses SHA-256.
			printed, err := exec.Command(openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", filepath.Join(dir, "signed.mobileconfig")).CombinedOutput()
			if err != nil {
				t.Fatalf("cms -print: %v\n%s", err, printed)
			}
			p := string(printed)
			if !strings.Contains(p, "algorithm: sha256") {
				t.Errorf("digest is not SHA-256:\n%s", p)
			}
			for _, cn := range []string{"autoconfig.example.com", "Test Intermediate"} {
				if !strings.Contains(p, "subject: CN="+cn) {
					t.Errorf("certificate %s not included", cn)
				}
			}
			if strings.Contains(p, "subject: CN=Test Root") {
				t.Error("root certificate included")
			}

			// One changed byte of the profile inside: openssl refuses.
			i := bytes.Index(signed, []byte("imap.example.com"))
			if i < 0 {
				t.Fatal("profile not found inside the SignedData (not attached?)")
			}
			tampered := bytes.Clone(signed)
			tampered[i] = 'j'
			if _, err := opensslCMSVerify(t, openssl, dir, tampered, pki.root); err == nil {
				t.Error("openssl verified a tampered profile")
			} else if !strings.Contains(err.Error(), "digest failure") && !strings.Contains(err.Error(), "Verification failure") {
				t.Logf("tampered: %v", err)
			}
			// A changed byte of the signature: openssl refuses.
			tampered = bytes.Clone(signed)
			tampered[len(tampered)-5] ^= 0x01
			if _, err := opensslCMSVerify(t, openssl, dir, tampered, pki.root); err == nil {
				t.Error("openssl verified a profile with a tampered signature")
			}
			// Another CA: openssl refuses.
			if _, err := opensslCMSVerify(t, openssl, dir, signed, newSigPKI(t, kind).root); err == nil {
				t.Error("openssl verified against an unrelated root")
			}
		})
	}
}

func TestSignerFromTLS(t *testing.T) {
	openssl := opensslPath(t)
	pki := newSigPKI(t, "ecdsa")
	dir := t.TempDir()
	pair, err := tls.X509KeyPair(sigCertPEM(pki.leaf, pki.inter), sigKeyPEM(t, pki.leafKey, "pkcs8"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromTLS(&pair)
	if err != nil {
		t.Fatal(err)
	}
	profile := renderProfile(t, "ann@imap-only.test", provision.ProfileOptions{})
	signed, err := s.Sign(profile)
	if err != nil {
		t.Fatal(err)
	}
	if content, err := opensslCMSVerify(t, openssl, dir, signed, pki.root); err != nil || !bytes.Equal(content, profile) {
		t.Errorf("FromTLS: verify = %v", err)
	}
}

func TestLoadSignerErrors(t *testing.T) {
	rsaPKI, ecPKI := newSigPKI(t, "rsa"), newSigPKI(t, "ecdsa")
	dir := t.TempDir()
	good := sigWriteFile(t, dir, "good.pem", sigCertPEM(rsaPKI.leaf, rsaPKI.inter))
	goodKey := sigWriteFile(t, dir, "good.key", sigKeyPEM(t, rsaPKI.leafKey, "pkcs8"))
	ecKey := sigWriteFile(t, dir, "ec.key", sigKeyPEM(t, ecPKI.leafKey, "pkcs8"))
	edKey := sigWriteFile(t, dir, "ed.key", sigKeyPEM(t, sigKey(t, "ed25519"), "pkcs8"))
	garbage := sigWriteFile(t, dir, "garbage.pem", []byte("not PEM at all\n"))
	wrongOrder := sigWriteFile(t, dir, "order.pem", sigCertPEM(rsaPKI.leaf, rsaPKI.root))
	encrypted := sigWriteFile(t, dir, "enc.key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}))
	expiredKey := sigKey(t, "ecdsa")
	expired := sigWriteFile(t, dir, "expired.pem", sigCertPEM(sigIssue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "old.example.com"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
	}, nil, expiredKey.Public(), expiredKey)))
	expiredKeyFile := sigWriteFile(t, dir, "expired.key", sigKeyPEM(t, expiredKey, "sec1"))
	noSigKey := sigKey(t, "ecdsa")
	noSig := sigWriteFile(t, dir, "nosig.pem", sigCertPEM(sigIssue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "enc.example.com"}, KeyUsage: x509.KeyUsageKeyEncipherment,
	}, nil, noSigKey.Public(), noSigKey)))
	noSigKeyFile := sigWriteFile(t, dir, "nosig.key", sigKeyPEM(t, noSigKey, "pkcs8"))

	tests := []struct {
		name, cert, key string
		want            []string // substrings of the error
	}{
		{"mismatch", good, ecKey, []string{"signing key " + ecKey, "does not match certificate \"autoconfig.example.com\""}},
		{"missing cert", filepath.Join(dir, "nope.pem"), goodKey, []string{"signing certificate", "nope.pem", "no such file"}},
		{"missing key", good, filepath.Join(dir, "nope.key"), []string{"signing key", "nope.key", "no such file"}},
		{"cert not PEM", garbage, goodKey, []string{"signing certificate " + garbage, "no PEM CERTIFICATE block"}},
		{"key not PEM", good, garbage, []string{"signing key " + garbage, "no PEM private key block"}},
		{"key and cert swapped", goodKey, good, []string{"signing certificate " + goodKey, "no PEM CERTIFICATE block"}},
		{"ed25519", good, edKey, []string{"signing key " + edKey, "ed25519", "use RSA or ECDSA"}},
		{"chain order", wrongOrder, goodKey, []string{"signing certificate " + wrongOrder, "is not issued by certificate 2"}},
		{"encrypted key", good, encrypted, []string{"signing key " + encrypted, "encrypted"}},
		{"expired", expired, expiredKeyFile, []string{"signing certificate " + expired, "expired on"}},
		{"no digital signature", noSig, noSigKeyFile, []string{"does not allow digital signatures"}},
	}
	for _, tc := range tests {
		_, err := Load(tc.cert, tc.key)
		if err == nil {
			t.Errorf("%s: Load succeeded", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
	if s, err := Load(good, goodKey); err != nil {
		t.Errorf("good pair: %v", err)
	} else if got := s.String(); !strings.Contains(got, `"autoconfig.example.com" (RSA key, SHA-256, 1 intermediate(s)`) {
		t.Errorf("String() = %q", got)
	}
}

// cmsSigningTime returns the signing time of a DER SignedData's one
// signer, read with the pkcs7 parser after it verified the signature.
func cmsSigningTime(t *testing.T, der []byte) time.Time {
	t.Helper()
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := p7.Verify(); err != nil {
		t.Fatalf("pkcs7 verify: %v", err)
	}
	var st time.Time
	for _, a := range p7.Signers[0].AuthenticatedAttributes {
		if a.Type.Equal(pkcs7.OIDAttributeSigningTime) {
			if _, err := asn1.Unmarshal(a.Value.Bytes, &st); err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	t.Fatal("no signing time")
	return st
}

// TestSigningTimeWindow: every profile signed within one Window
// carries the window's start, whatever its address and wherever in the
// window it was signed, and the signature over that time verifies with
// openssl; the next window has the next time; a certificate newer than
// the window's start signs at its NotBefore.
func TestSigningTimeWindow(t *testing.T) {
	openssl := opensslPath(t)
	fred := renderProfile(t, "fred@example.com", provision.ProfileOptions{})
	alice := renderProfile(t, "alice@example.com", provision.ProfileOptions{})
	window := time.Now().UTC().Truncate(Window).Add(-Window)
	for _, kind := range []string{"rsa", "ecdsa"} {
		t.Run(kind, func(t *testing.T) {
			pki := newSigPKI(t, kind)
			s, err := New([]*x509.Certificate{pki.leaf, pki.inter}, pki.leafKey)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, tc := range []struct {
				profile []byte
				at      time.Duration // into the window
				want    time.Time
			}{
				{fred, 1 * time.Second, window},
				{alice, 59 * time.Second, window},
				{fred, 59*time.Second + 999*time.Millisecond, window},
				{alice, 60 * time.Second, window.Add(Window)},
			} {
				signed, err := s.SignAt(tc.profile, window.Add(tc.at))
				if err != nil {
					t.Fatal(err)
				}
				if got := cmsSigningTime(t, signed); !got.Equal(tc.want) {
					t.Errorf("signed %v into the window: signing time %v, want %v", tc.at, got, tc.want)
				}
				content, err := opensslCMSVerify(t, openssl, dir, signed, pki.root)
				if err != nil || !bytes.Equal(content, tc.profile) {
					t.Errorf("signed %v into the window: openssl: %v", tc.at, err)
				}
			}
		})
	}

	// A certificate issued 20 s into a window signs at its NotBefore.
	key := testpki.Key(t)
	notBefore := window.Add(20 * time.Second)
	cert := testpki.SelfSigned(t, key, testpki.Cert{CommonName: "new.example.com", NotBefore: notBefore, KeyUsage: x509.KeyUsageDigitalSignature})
	s, err := New([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.SignAt(fred, notBefore.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := cmsSigningTime(t, signed); !got.Equal(notBefore) {
		t.Errorf("new certificate: signing time %v, want its NotBefore %v", got, notBefore)
	}
}
