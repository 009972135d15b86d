package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil"
)

// writePair writes a self-signed ECDSA P-256 certificate for
// autoconfig.example.com and its key into dir.
func writePair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "autoconfig.example.com"},
		DNSNames: []string{"autoconfig.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestCeilingServesFiles runs the command on two real listeners and asks
// both for each file, as bench/run's same-bytes check does.
func TestCeilingServesFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir)
	xml := []byte("<clientConfig/>\n")
	profile := bytes.Repeat([]byte("p"), 4045) // larger than net/http's 4 KiB buffer
	os.WriteFile(filepath.Join(dir, "config-v1.1.xml"), xml, 0o600)
	os.WriteFile(filepath.Join(dir, "profile"), profile, 0o600)

	plain, secure := testutil.FreeAddr(t), testutil.FreeAddr(t)
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", plain, "-tls-listen", secure, "-cert", certFile, "-key", keyFile,
			"/mail/config-v1.1.xml=" + filepath.Join(dir, "config-v1.1.xml"),
			"/signed/mobileconfig=" + filepath.Join(dir, "profile")}, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "autoconfig.example.com"}}}
	tests := []struct {
		method, path string
		status       int
		body         []byte
		ctype        string
	}{
		{"GET", "/mail/config-v1.1.xml?emailaddress=a%40example.com", 200, xml, "application/xml; charset=utf-8"},
		{"POST", "/mail/config-v1.1.xml", 200, xml, "application/xml; charset=utf-8"},
		{"HEAD", "/mail/config-v1.1.xml", 200, nil, "application/xml; charset=utf-8"},
		{"GET", "/signed/mobileconfig?email=a%40example.com", 200, profile, "application/x-apple-aspen-config"},
		{"GET", "/nothing", 404, nil, ""},
		{"DELETE", "/mail/config-v1.1.xml", 405, nil, ""},
	}
	for _, base := range []string{"http://" + plain, "https://" + secure} {
		waitServing(t, client, base)
		for _, tt := range tests {
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader("<Autodiscover/>"))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s%s: %v", tt.method, base, tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s%s = %d, want %d", tt.method, base, tt.path, resp.StatusCode, tt.status)
				continue
			}
			if tt.status != 200 {
				continue
			}
			if !bytes.Equal(body, tt.body) {
				t.Errorf("%s %s%s: %d bytes, not the file's %d", tt.method, base, tt.path, len(body), len(tt.body))
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("%s %s%s: Content-Type %q, want %q", tt.method, base, tt.path, got, tt.ctype)
			}
			if resp.ContentLength != int64(len(tt.body)) && tt.method != "HEAD" {
				t.Errorf("%s %s%s: Content-Length %d, want %d", tt.method, base, tt.path, resp.ContentLength, len(tt.body))
			}
		}
	}
}

// TestCeilingSendsServiceHeaders: with -headers a file goes out with the
// header lines beside it (as curl -D wrote them), less Date and
// Content-Length, which the server writes itself.
func TestCeilingSendsServiceHeaders(t *testing.T) {
	dir := t.TempDir()
	profile := []byte("<plist/>")
	os.WriteFile(filepath.Join(dir, "profile"), profile, 0o600)
	os.WriteFile(filepath.Join(dir, "profile.headers"), []byte("HTTP/1.1 200 OK\r\nCache-Control: private, no-cache\r\n"+
		"content-disposition: attachment; filename=\"x.mobileconfig\"\r\nContent-Length: 999\r\n"+
		"Content-Type: application/x-apple-aspen-config\r\nDate: Wed, 02 Dec 2026 14:00:00 GMT\r\nX-Content-Type-Options: nosniff\r\n\r\n"), 0o600)
	plain := testutil.FreeAddr(t)
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", plain, "-headers", "/mobileconfig=" + filepath.Join(dir, "profile")}, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	waitServing(t, http.DefaultClient, "http://"+plain)
	resp, err := http.Get("http://" + plain + "/mobileconfig")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, profile) || resp.ContentLength != int64(len(profile)) {
		t.Errorf("body %q, length %d", body, resp.ContentLength)
	}
	for k, want := range map[string]string{
		"Cache-Control": "private, no-cache", "Content-Disposition": `attachment; filename="x.mobileconfig"`,
		"Content-Type": "application/x-apple-aspen-config", "X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if d := resp.Header.Get("Date"); strings.Contains(d, "14:00:00") {
		t.Errorf("the file's Date was sent: %s", d)
	}
}

// waitServing waits until base answers HTTP.
func waitServing(t *testing.T, c *http.Client, base string) {
	t.Helper()
	testutil.WaitFor(t, 3*time.Second, base+" never answered", func() bool {
		resp, err := c.Get(base + "/nothing")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
}

func TestCeilingRefusesBadArguments(t *testing.T) {
	ctx, _ := contextWithCancel(t)
	for _, args := range [][]string{
		{"/x=y"},                                     // no listener
		{"-listen", "127.0.0.1:0"},                   // no file
		{"-listen", "127.0.0.1:0", "x=y"},            // not a path
		{"-listen", "127.0.0.1:0", "/x=/nope"},       // no such file
		{"-tls-listen", "127.0.0.1:0", "/x=main.go"}, // no certificate
	} {
		if err := run(ctx, args, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}
