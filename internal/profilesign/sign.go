// Package profilesign signs Apple configuration profiles (CMS SignedData,
// docs/apple-profiles.md#signing) with a certificate and key read from PEM
// files or taken from the TLS certificate. It signs the bytes provision's
// Mobileconfig renders; it renders nothing itself.
package profilesign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/smallstep/pkcs7"

	"mailautoconf/internal/regularfile"
)

// Signer signs configuration profiles: a CMS SignedData (RFC 5652) with
// the profile attached as its content, a SHA-256 digest, and the signer
// certificate plus its intermediates included so that a device can build
// the chain to a root it trusts (docs/apple-profiles.md#signing). iOS and macOS then
// show the profile as "Verified" instead of "Not Verified".
//
// A Signer is safe for concurrent use. Its certificate and key never
// change: to change certificates (an ACME renewal), build a new one and
// swap it in.
type Signer struct {
	leaf   *x509.Certificate
	chain  []*x509.Certificate // intermediates, leaf's issuer first
	key    crypto.Signer
	digest string // "SHA-256", for messages
}

// maxPEMFile bounds a certificate or key file; real ones are a few KB.
const maxPEMFile = 1 << 20

// Load reads a signer from PEM files, as MAILAUTOCONF_SIGN_CERT and
// MAILAUTOCONF_SIGN_KEY name them: certFile holds the signer certificate
// first and may carry its intermediates after it (a TLS "fullchain" file);
// keyFile holds its private key (PKCS #8, PKCS #1 or SEC 1), RSA or
// ECDSA. Every error names the file it is about.
func Load(certFile, keyFile string) (*Signer, error) {
	certPEM, err := readPEMFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	keyPEM, err := readPEMFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	chain, err := parseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %s: %w", certFile, err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	s, err := New(chain, key)
	if err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			return nil, fmt.Errorf("signing key %s: %w (certificate file %s)", keyFile, err, certFile)
		}
		return nil, fmt.Errorf("signing certificate %s: %w", certFile, err)
	}
	return s, nil
}

// FromTLS builds a signer from a TLS certificate, such as one an
// ACME client keeps: its chain (leaf first) and its private key.
func FromTLS(c *tls.Certificate) (*Signer, error) {
	if c == nil || len(c.Certificate) == 0 {
		return nil, errors.New("TLS certificate has no certificates")
	}
	var chain []*x509.Certificate
	for i, der := range c.Certificate {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %d: %w", i+1, err)
		}
		chain = append(chain, cert)
	}
	key, ok := c.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("TLS private key of type %T cannot sign", c.PrivateKey)
	}
	return New(chain, key)
}

// New returns a signer for chain (the signer certificate first, then
// its issuers in order) and the signer's private key, an RSA or ECDSA key.
// It refuses a key that does not match the certificate, a certificate
// outside its validity period or without the digitalSignature key usage,
// and a chain whose certificates do not issue one another. A self-signed
// root at the end of the chain is dropped: devices must trust the root on
// their own, sending it proves nothing (docs/apple-profiles.md#signing).
func New(chain []*x509.Certificate, key crypto.Signer) (*Signer, error) {
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	if key == nil {
		return nil, errors.New("no private key")
	}
	switch key.Public().(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, &keyError{fmt.Sprintf("a %T key cannot sign profiles: use RSA or ECDSA", key.Public())}
	}
	leaf := chain[0]
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, &keyError{"private key does not match certificate " + describeCert(leaf)}
	}
	now := time.Now()
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("certificate %s is not valid before %s", describeCert(leaf), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("certificate %s expired on %s", describeCert(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("certificate %s does not allow digital signatures (key usage)", describeCert(leaf))
	}
	for i, issuer := range chain[1:] {
		child := chain[i]
		if err := child.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("certificate %d (%s) is not issued by certificate %d (%s): put the signer first, then each issuer in order",
				i+1, describeCert(child), i+2, describeCert(issuer))
		}
	}
	rest := chain[1:]
	if n := len(rest); n > 0 && isSelfSigned(rest[n-1]) {
		rest = rest[:n-1]
	}
	return &Signer{leaf: leaf, chain: rest, key: key, digest: "SHA-256"}, nil
}

// keyError is a problem with the private key rather than the certificate.
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

// Window is how finely a profile's signing time is told: every
// profile a signer signs within one window carries the window's start,
// whatever the address and whenever in the window it was asked for. A
// signing time to the second would tell whoever downloads a profile when
// it was first made, that is, that someone set the address up just before
// (the server's profile cache serves it byte for byte).
const Window = time.Minute

// SigningTime is the signing time of a profile signed at now: now cut to
// the Window, in UTC, and never before the certificate's NotBefore
// (a verifier may hold the signing time to the validity period; a
// certificate issued within the window would otherwise sign "before" it
// was valid). It is the same for every profile of one signer and window.
func (s *Signer) SigningTime(now time.Time) time.Time {
	t := now.UTC().Truncate(Window)
	if nb := s.leaf.NotBefore.UTC(); t.Before(nb) {
		t = nb
	}
	return t
}

// Sign returns profile wrapped in a DER-encoded CMS SignedData, signed
// now: SignAt(profile, time.Now()).
func (s *Signer) Sign(profile []byte) ([]byte, error) { return s.SignAt(profile, time.Now()) }

// SignAt returns profile wrapped in a DER-encoded CMS SignedData. The
// content is the profile byte for byte; the signature covers it and the
// signing time SigningTime(now), so two profiles signed in one window
// carry the same time, and a cached one tells nothing a fresh one would
// not. A Signer holds no state of its own and is safe for concurrent use.
func (s *Signer) SignAt(profile []byte, now time.Time) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(profile)
	if err != nil {
		return nil, fmt.Errorf("signing profile: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if len(s.chain) > 0 {
		err = sd.AddSignerChain(s.leaf, s.key, s.chain, pkcs7.SignerInfoConfig{})
	} else {
		err = sd.AddSigner(s.leaf, s.key, pkcs7.SignerInfoConfig{})
	}
	if err != nil {
		return nil, fmt.Errorf("signing profile: %w", err)
	}
	if err := s.setSigningTime(sd, s.SigningTime(now)); err != nil {
		return nil, fmt.Errorf("signing profile: %w", err)
	}
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("signing profile: %w", err)
	}
	return der, nil
}

// setSigningTime puts t in place of the signing time pkcs7 wrote (the
// moment of the call: smallstep/pkcs7 v0.2.3 takes no other) and signs
// the signed attributes again. They are signed as their DER encoding as
// a SET OF, in DER order (RFC 5652 §5.4); t is a UTCTime as before (years
// 1950 to 2049, §11.3), of the same length, so the order stays, and it is
// checked all the same.
func (s *Signer) setSigningTime(sd *pkcs7.SignedData, t time.Time) error {
	infos := sd.GetSignedData().SignerInfos
	if len(infos) != 1 {
		return fmt.Errorf("%d signer infos, want 1", len(infos))
	}
	si := &infos[0]
	value, err := asn1.Marshal(t)
	if err != nil {
		return err
	}
	found := false
	for i := range si.AuthenticatedAttributes {
		if a := &si.AuthenticatedAttributes[i]; a.Type.Equal(pkcs7.OIDAttributeSigningTime) {
			a.Value = asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: value}
			found = true
		}
	}
	if !found {
		return errors.New("no signing time among the signed attributes")
	}
	var prev []byte
	for _, a := range si.AuthenticatedAttributes {
		enc, err := asn1.Marshal(a)
		if err != nil {
			return err
		}
		if bytes.Compare(prev, enc) > 0 {
			return errors.New("signed attributes out of DER order")
		}
		prev = enc
	}
	// The attributes as a SEQUENCE OF, retagged SET OF: the same bytes
	// but the first (RFC 5652 §5.4: the signature covers the EXPLICIT
	// SET OF tag, not the IMPLICIT [0] of SignerInfo).
	signed, err := asn1.Marshal(si.AuthenticatedAttributes)
	if err != nil {
		return err
	}
	signed[0] = 0x31
	digest := sha256.Sum256(signed)
	sig, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	si.EncryptedDigest = sig
	return nil
}

// String describes the signer for the startup log: subject, key type,
// intermediates and expiry.
func (s *Signer) String() string {
	kind := "RSA"
	if _, ok := s.key.Public().(*ecdsa.PublicKey); ok {
		kind = "ECDSA"
	}
	return fmt.Sprintf("%s (%s key, %s, %d intermediate(s), valid until %s)",
		describeCert(s.leaf), kind, s.digest, len(s.chain), s.leaf.NotAfter.UTC().Format("2006-01-02"))
}

// NotAfter is when the signer certificate expires.
func (s *Signer) NotAfter() time.Time { return s.leaf.NotAfter }

func describeCert(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	if len(c.DNSNames) > 0 {
		return fmt.Sprintf("%q", c.DNSNames[0])
	}
	return fmt.Sprintf("%q", c.Subject.String())
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func readPEMFile(name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("no file named")
	}
	return regularfile.ReadNote(name, maxPEMFile, ", not a PEM file")
}

// parseCertificates reads every CERTIFICATE block, in order. Other blocks
// (a private key in a combined file) are skipped.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}

// parsePrivateKey reads the first private-key block: PKCS #8 ("PRIVATE
// KEY"), PKCS #1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key block (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted: give an unencrypted key (file mode 0600)")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s block: %w", b.Type, err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T key cannot sign", key)
		}
		return s, nil
	}
}
