package main

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

	"github.com/smallstep/pkcs7"

	"mailautoconf/internal/testutil/testpki"
	"mailautoconf/provision"
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
		s          Settings
		signed     bool
		wantErr    string
		wantLogged string
	}{
		{"unset", Settings{}, false, "", "Apple profiles are served unsigned"},
		{"pair", Settings{SignCert: ecCert, SignKey: ecKeyFile}, true, "", "signing Apple profiles"},
		{"with TLS later", Settings{SignWithTLS: true, PublicHost: "mail.example.com"}, false, "", "signed with the HTTPS certificate of mail.example.com"},
		{"cert only", Settings{SignCert: ecCert}, false, "MAILAUTOCONF_SIGN_KEY is not", ""},
		{"key only", Settings{SignKey: ecKeyFile}, false, "MAILAUTOCONF_SIGN_CERT is not", ""},
		{"mismatch", Settings{SignCert: ecCert, SignKey: rsaKeyFile}, false, "signing key " + rsaKeyFile + ": private key does not match certificate", ""},
		{"missing file", Settings{SignCert: filepath.Join(dir, "none.crt"), SignKey: ecKeyFile}, false, "signing certificate: open " + filepath.Join(dir, "none.crt"), ""},
		{"swapped", Settings{SignCert: ecKeyFile, SignKey: ecCert}, false, "signing certificate " + ecKeyFile + ": no PEM CERTIFICATE block", ""},
	}
	for _, tc := range tests {
		var logged bytes.Buffer
		p, err := profileSigner(&tc.s, slog.New(slog.NewTextHandler(&logged, nil)))
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

// TestServeRefusesBadSigningPair: a mismatched pair stops serve at start,
// and the error says which file is wrong.
func TestServeRefusesBadSigningPair(t *testing.T) {
	dir := t.TempDir()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, _ := signingPair(t, dir, "ec", ecKey)
	_, wrongKey := signingPair(t, dir, "other", otherKey)
	t.Setenv("MAILAUTOCONF_LISTEN", "127.0.0.1:0")
	t.Setenv("MAILAUTOCONF_SIGN_CERT", cert)
	t.Setenv("MAILAUTOCONF_SIGN_KEY", wrongKey)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "signing key "+wrongKey) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("serve with a mismatched pair: %v", err)
	}
}

func TestRenderMobileconfig(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"render", "--email", "fred@example.com", "--format", "mobileconfig"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	p, _ := provision.Demo().Lookup("example.com")
	addr, _ := provision.ParseAddress("fred@example.com")
	var ref *provision.Catalog
	want, err := ref.Mobileconfig(nil, p, addr.Domain, &addr, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Error("render --format mobileconfig differs from the served profile")
	}

	if err := run(context.Background(), []string{"render", "--email", "fred@example.com", "--format", "mobileconfig", "--sign"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "MAILAUTOCONF_SIGN_CERT") {
		t.Errorf("--sign without a pair: %v", err)
	}
	if err := run(context.Background(), []string{"render", "--email", "fred@example.com", "--format", "thunderbird", "--sign"}, io.Discard, io.Discard); err == nil {
		t.Error("--sign with --format thunderbird succeeded")
	}

	dir := t.TempDir()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	cert, keyFile := signingPair(t, dir, "rsa", key)
	t.Setenv("MAILAUTOCONF_SIGN_CERT", cert)
	t.Setenv("MAILAUTOCONF_SIGN_KEY", keyFile)
	out.Reset()
	if err := run(context.Background(), []string{"render", "--email", "fred@example.com", "--format", "mobileconfig", "--sign"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(out.Bytes())
	if err != nil {
		t.Fatalf("render --sign: not CMS: %v", err)
	}
	if err := p7.Verify(); err != nil {
		t.Errorf("render --sign: %v", err)
	}
	if !bytes.Equal(p7.Content, want) {
		t.Error("render --sign: signed content differs from the profile")
	}
}
