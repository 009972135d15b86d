// Package pebbletest runs Pebble, Let's Encrypt's ACME test server, with
// pebble-challtestsrv as its DNS server answering 127.0.0.1 for every
// name, so that validations really connect to the listeners of the
// service under test. Tests only: it is imported by _test files.
//
// The two programs are found on PATH or in $(go env GOPATH)/bin; .ci/run
// installs them. Without them Start skips the test, or fails it when the
// CI variable is set.
package pebbletest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil"
)

// Version is the Pebble release .ci/run installs.
const Version = "v2.10.1"

// Pebble is a running Pebble and its DNS server.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// APIRoots is a PEM file of the root that Pebble's own HTTPS (the
	// ACME API) chains to: what MAILAUTOCONF_ACME_CA_ROOTS names.
	APIRoots string
	// HTTPPort and TLSPort are where the validator connects for HTTP-01
	// and TLS-ALPN-01 on 127.0.0.1: the service's listeners must be there.
	HTTPPort, TLSPort int

	mgmt   string
	client *http.Client
	log    *testutil.SyncBuffer
}

// binary finds a program on PATH or in GOPATH/bin.
func binary(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// Start runs Pebble, validating challenges against 127.0.0.1:httpPort
// (HTTP-01) and 127.0.0.1:tlsPort (TLS-ALPN-01), and names in blocked
// refused as a CA refuses names it will not issue for. Both programs stop
// at the end of the test.
func Start(t testing.TB, httpPort, tlsPort int, blocked ...string) *Pebble {
	t.Helper()
	return StartWith(t, httpPort, tlsPort, Options{Blocked: blocked})
}

// Options are StartWith's settings beyond the ports.
type Options struct {
	// Blocked names are refused as by Start.
	Blocked []string
	// Validity is the lifetime of the certificates issued; 0 is
	// Pebble's default (five years). A short one lets a test see
	// renewals.
	Validity time.Duration
}

// StartWith is Start with Options.
func StartWith(t testing.TB, httpPort, tlsPort int, o Options) *Pebble {
	t.Helper()
	blocked := o.Blocked
	pebbleBin, ok1 := binary("pebble")
	challBin, ok2 := binary("pebble-challtestsrv")
	if !ok1 || !ok2 {
		msg := "pebble and pebble-challtestsrv not found (go install github.com/letsencrypt/pebble/v2/cmd/pebble@" + Version +
			" github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@" + Version + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	p := &Pebble{HTTPPort: httpPort, TLSPort: tlsPort, log: &testutil.SyncBuffer{}}

	// Pebble's API certificate, from a root of our own.
	caPEM, certPEM, keyPEM := apiCertificate(t)
	p.APIRoots = filepath.Join(dir, "api-root.pem")
	write(t, p.APIRoots, caPEM)
	write(t, filepath.Join(dir, "cert.pem"), certPEM)
	write(t, filepath.Join(dir, "key.pem"), keyPEM)

	dnsAddr := testutil.FreeAddr(t)
	chall := exec.Command(challBin,
		"-dnsserver", dnsAddr, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-management", testutil.FreeAddr(t),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	chall.Stdout, chall.Stderr = io.Discard, io.Discard
	startProcess(t, chall)

	apiPort, mgmtPort := testutil.FreePort(t), testutil.FreePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", apiPort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             filepath.Join(dir, "cert.pem"),
		"privateKey":              filepath.Join(dir, "key.pem"),
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"ocspResponderURL":        "",
		"domainBlocklist":         append([]string{"blocked-domain.example"}, blocked...),
		"retryAfter":              map[string]int{"authz": 0, "order": 0},
		"keyAlgorithm":            "ecdsa",
	}}
	if o.Validity > 0 {
		conf["pebble"].(map[string]any)["profiles"] = map[string]any{
			"default": map[string]any{"description": "short-lived", "validityPeriod": int(o.Validity.Seconds())},
		}
	}
	confJSON, _ := json.Marshal(conf)
	write(t, filepath.Join(dir, "pebble.json"), confJSON)
	cmd := exec.Command(pebbleBin, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	startProcess(t, cmd)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p.Directory = fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort)
	p.mgmt = fmt.Sprintf("https://127.0.0.1:%d", mgmtPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err1 := p.get(p.Directory)
		_, err2 := p.get(p.mgmt + "/roots/0")
		if err1 == nil && err2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not come up: %v; %v\n%s", err1, err2, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.log.String())
		}
	})
	return p
}

// Root returns the PEM root that issued certificates chain to (it changes
// at every Pebble start).
func (p *Pebble) Root(t testing.TB) []byte {
	t.Helper()
	b, err := p.get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RootPool is Root as a certificate pool.
func (p *Pebble) RootPool(t testing.TB) *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.Root(t)) {
		t.Fatal("pebble root: no certificate")
	}
	return pool
}

// Log is what Pebble has written so far: its validations name each
// identifier ("Pulled a task from the Tasks queue: ... Value:<name>").
func (p *Pebble) Log() string { return p.log.String() }

// Orders counts the new orders Pebble received so far.
func (p *Pebble) Orders() int {
	return strings.Count(p.log.String(), "POST /order-plz")
}

func (p *Pebble) get(url string) ([]byte, error) {
	resp, err := p.client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}

func startProcess(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

func write(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// apiCertificate makes a root and a certificate for 127.0.0.1 and
// localhost signed by it, as PEM.
func apiCertificate(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pebbletest API root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
