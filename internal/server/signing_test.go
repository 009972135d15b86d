package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil/testpki"
)

// signingPair writes a self-signed certificate and its key (PKCS #8) to
// dir and returns the two file names.
func signingPair(t *testing.T, dir, name string, key crypto.Signer) (certFile, keyFile string) {
	t.Helper()
	cert := testpki.SelfSigned(t, key, testpki.Cert{CommonName: name, KeyUsage: x509.KeyUsageDigitalSignature})
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	testpki.WritePair(t, certFile, keyFile, cert, key)
	return certFile, keyFile
}

func TestProfileSignerSettings(t *testing.T) {
	dir := t.TempDir()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecCert, ecKeyFile := signingPair(t, dir, "ec", ecKey)
	_, rsaKeyFile := signingPair(t, dir, "rsa", rsaKey)

	tests := []struct {
		name       string
		cfg        Config
		signed     bool
		wantErr    string
		wantLogged string
	}{
		{"unset", Config{}, false, "", "Apple profiles are served unsigned"},
		{"pair", Config{SignCert: ecCert, SignKey: ecKeyFile}, true, "", "signing Apple profiles"},
		{"with TLS later", Config{SignWithTLS: true, PublicHost: "mail.example.com"}, false, "", "signed with the HTTPS certificate of mail.example.com"},
		{"cert only", Config{SignCert: ecCert}, false, "MAILAUTOCONF_SIGN_KEY is not", ""},
		{"key only", Config{SignKey: ecKeyFile}, false, "MAILAUTOCONF_SIGN_CERT is not", ""},
		{"mismatch", Config{SignCert: ecCert, SignKey: rsaKeyFile}, false, "signing key " + rsaKeyFile + ": private key does not match certificate", ""},
		{"missing file", Config{SignCert: filepath.Join(dir, "none.crt"), SignKey: ecKeyFile}, false, "signing certificate: open " + filepath.Join(dir, "none.crt"), ""},
		{"swapped", Config{SignCert: ecKeyFile, SignKey: ecCert}, false, "signing certificate " + ecKeyFile + ": no PEM CERTIFICATE block", ""},
	}
	for _, tc := range tests {
		var logged bytes.Buffer
		p, err := profileSigner(&tc.cfg, slog.New(slog.NewTextHandler(&logged, nil)))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if (p.Load() != nil) != tc.signed {
			t.Errorf("%s: signer %v, want signed=%v", tc.name, p.Load(), tc.signed)
		}
		if !strings.Contains(logged.String(), tc.wantLogged) {
			t.Errorf("%s: log %q lacks %q", tc.name, logged.String(), tc.wantLogged)
		}
	}
}

// TestServeRefusesBadSigningPair: a mismatched pair stops the server at start,
// and the error says which file is wrong.
func TestServeRefusesBadSigningPair(t *testing.T) {
	dir := t.TempDir()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, _ := signingPair(t, dir, "ec", ecKey)
	_, wrongKey := signingPair(t, dir, "other", otherKey)
	cfg := testConfig(t)
	cfg.Listen, cfg.SignCert, cfg.SignKey = "127.0.0.1:0", cert, wrongKey
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "signing key "+wrongKey) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("serve with a mismatched pair: %v", err)
	}
}
