package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"mailautoconf/provision"

	// -update: go test ./... -update rewrites golden files, and every test
	// binary must accept the flag.
	_ "mailautoconf/internal/testutil/golden"

	"mailautoconf/internal/testutil/testpki"

	"github.com/smallstep/pkcs7"
)

func TestRenderAutodiscover(t *testing.T) {
	p, _ := provision.Demo().Lookup("example.com")
	addr := provision.Address{Local: "alice", Domain: "example.com"}
	var ref *provision.Catalog // renders without templates
	pox, err := ref.Autodiscover(nil, p, "example.com", &addr, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format, publicHost string
		want               []byte
	}{
		{"autodiscover", "", pox},
		{"autodiscover-json", "", []byte(`{"Protocol":"AutodiscoverV1","Url":"https://autodiscover.example.com/autodiscover/autodiscover.xml"}` + "\n")},
		{"autodiscover-json", "AD.Hoster.example.", []byte(`{"Protocol":"AutodiscoverV1","Url":"https://ad.hoster.example/autodiscover/autodiscover.xml"}` + "\n")},
	} {
		t.Setenv("MAILAUTOCONF_PUBLIC_HOST", tc.publicHost)
		var out bytes.Buffer
		err := run(context.Background(), []string{"render", "--email", "alice@example.com", "--format", tc.format}, &out, io.Discard)
		if err != nil {
			t.Fatalf("render --format %s: %v", tc.format, err)
		}
		if !bytes.Equal(out.Bytes(), tc.want) {
			t.Errorf("render --format %s (PUBLIC_HOST=%q):\n%s\nwant:\n%s", tc.format, tc.publicHost, out.Bytes(), tc.want)
		}
	}
	t.Setenv("MAILAUTOCONF_PUBLIC_HOST", "not a host")
	if err := run(context.Background(), []string{"render", "--email", "alice@example.com", "--format", "autodiscover-json"}, io.Discard, io.Discard); err == nil {
		t.Error("render with a bad PUBLIC_HOST succeeded")
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
	cert, keyFile := filepath.Join(dir, "rsa.crt"), filepath.Join(dir, "rsa.key")
	testpki.WritePair(t, cert, keyFile, testpki.SelfSigned(t, key, testpki.Cert{CommonName: "rsa", KeyUsage: x509.KeyUsageDigitalSignature}), key)
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
