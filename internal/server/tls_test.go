package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailautoconf/internal/certstore/certstoretest"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/pebbletest"
	"mailautoconf/internal/testutil/servetest"
	"mailautoconf/internal/testutil/testpki"
)

// threeDomains is the catalog a new user tries HTTPS with.
const threeDomains = `providers:
  - id: mail.example.org
    domains: [a.example, b.example]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
  - id: mail.c.example
    domains: [c.example]
    incoming: [{protocol: imap, host: imap.c.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.c.example, port: 465, security: tls}]
`

// loopbackClient sends every request to 127.0.0.1:port whatever the URL's
// host, as DNS pointing every name at this machine would; TLS verifies
// against roots. It does not follow redirects.
func loopbackClient(port int, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// startServe runs the server with cfg until the test ends; stop ends it
// earlier and waits.
func startServe(t *testing.T, cfg Config, logs *testutil.SyncBuffer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, logs) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(25 * time.Second):
			t.Errorf("the server did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitReady polls /readyz on the plain listener until it reports every
// certificate ready.
func waitReady(t *testing.T, plainPort int, names int, timeout time.Duration) string {
	t.Helper()
	c := loopbackClient(plainPort, nil)
	want := fmt.Sprintf("certificates: %d of %d names ready", names, names)
	var body string
	ok := testutil.Poll(context.Background(), timeout, func() bool {
		resp, err := c.Get("http://svc.example/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return strings.Contains(body, want)
	})
	if !ok {
		t.Fatalf("after %v /readyz says:\n%s\nwant %q", timeout, body, want)
	}
	return body
}

// acmeConfig is the Config of a server on httpPort and tlsPort serving the
// catalog file at catalog, with certificates from directory (Pebble, or a
// front of it) trusted through p's roots.
func acmeConfig(t *testing.T, p *pebbletest.Pebble, directory, catalog string, httpPort, tlsPort int) Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Listen = fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfg.TLSListen = fmt.Sprintf("127.0.0.1:%d", tlsPort)
	cfg.Catalog = catalog
	cfg.AcmeDirectory = directory
	cfg.AcmeEmail = "hostmaster@example.org"
	cfg.AcmeCARoots = p.APIRoots
	return cfg
}

// writeCatalog writes catalog to a file of its own and returns its path.
func writeCatalog(t *testing.T, catalog string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, []byte(catalog), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeHTTPSWithACME is the "done when", as a new user would
// try it: three domains, Pebble standing in for Let's Encrypt, one start
// of the service.
func TestServeHTTPSWithACME(t *testing.T) {
	httpPort, tlsPort := testutil.FreePort(t), testutil.FreePort(t)
	p := pebbletest.Start(t, httpPort, tlsPort)
	catalog := writeCatalog(t, threeDomains)
	cfg := acmeConfig(t, p, p.Directory, catalog, httpPort, tlsPort)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.PublicHost = "mail.example.org"
	cfg.SignWithTLS = true

	var logs testutil.SyncBuffer
	start := time.Now()
	stop := startServe(t, cfg, &logs)
	const names = 10 // autoconfig., autodiscover. and ua-auto-config. of three domains, and the public host
	// Seconds in fact; the margin lets certmagic's first retry, a minute
	// later, absorb a validation failed for a reason of a loaded machine.
	waitReady(t, httpPort, names, 90*time.Second)
	t.Logf("one start: %d certificates issued and served in %v", names, time.Since(start).Round(time.Millisecond))

	roots := p.RootPool(t)
	https := loopbackClient(tlsPort, roots)
	for _, d := range []string{"a.example", "b.example", "c.example"} {
		for _, url := range []string{
			"https://autoconfig." + d + "/mail/config-v1.1.xml",
			"https://autodiscover." + d + "/autodiscover/autodiscover.xml",
		} {
			resp, body := get(t, https, url)
			if resp == nil {
				continue
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("GET %s: %s, want HTTP/2", url, resp.Proto)
			}
			if resp.TLS.PeerCertificates[0].DNSNames[0] != resp.Request.URL.Hostname() {
				t.Errorf("GET %s: certificate for %v", url, resp.TLS.PeerCertificates[0].DNSNames)
			}
			if strings.HasPrefix(url, "https://autoconfig.") && (resp.StatusCode != 200 || !strings.Contains(body, "<domain>"+d+"</domain>")) {
				t.Errorf("GET %s: %d %.200s", url, resp.StatusCode, body)
			}
			if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
				t.Errorf("GET %s: Strict-Transport-Security %q, want none", url, hsts)
			}
		}
	}

	// A name outside the catalog: no certificate, a failed handshake.
	if _, err := https.Get("https://autoconfig.unknown.example/mail/config-v1.1.xml"); err == nil {
		t.Errorf("HTTPS for a name outside the catalog succeeded")
	}
	// TLS 1.2 at least.
	old := &tls.Config{ServerName: "autoconfig.a.example", RootCAs: roots, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), old); err == nil {
		c.Close()
		t.Errorf("a TLS 1.1 handshake succeeded")
	}

	// Plain HTTP: autoconfig answered directly, Outlook's redirect
	// method, / to HTTPS where a certificate exists.
	plain := loopbackClient(httpPort, nil)
	if resp, body := get(t, plain, "http://autoconfig.b.example/mail/config-v1.1.xml"); resp != nil && (resp.StatusCode != 200 || !strings.Contains(body, "<domain>b.example</domain>")) {
		t.Errorf("plain autoconfig: %d %.200s", resp.StatusCode, body)
	}
	for _, tt := range []struct{ url, location string }{
		{"http://autodiscover.c.example/autodiscover/autodiscover.xml", "https://mail.example.org/autodiscover/autodiscover.xml"},
		{"http://autodiscover.c.example/Autodiscover/Autodiscover.xml", "https://mail.example.org/autodiscover/autodiscover.xml"},
		{"http://autoconfig.a.example/", "https://autoconfig.a.example/"},
		{"http://mail.example.org/", "https://mail.example.org/"},
		{"http://unknown.example/", ""},
	} {
		if resp, _ := get(t, plain, tt.url); resp != nil && resp.Header.Get("Location") != tt.location {
			t.Errorf("GET %s: %d Location %q, want %q", tt.url, resp.StatusCode, resp.Header.Get("Location"), tt.location)
		}
	}

	// SIGN_WITH_TLS: a profile downloaded over HTTPS is signed with the
	// public host's ACME certificate, and verifies against Pebble's root.
	verifyProfile(t, https, p.Root(t), "https://mail.example.org/mobileconfig?email=fred@a.example")

	// A restart reuses the stored certificates: no new order.
	orders := p.Orders()
	stop()
	start = time.Now()
	startServe(t, cfg, &logs)
	waitReady(t, httpPort, names, 10*time.Second)
	t.Logf("restart: %d certificates served again in %v", names, time.Since(start).Round(time.Millisecond))
	if got := p.Orders(); got != orders {
		t.Errorf("after a restart Pebble got %d orders, want still %d", got, orders)
	}
	if resp, _ := get(t, https, "https://autoconfig.c.example/mail/config-v1.1.xml"); resp != nil && resp.StatusCode != 200 {
		t.Errorf("after a restart: %d", resp.StatusCode)
	}

	// A domain added to the catalog (the file replaced, as an editor or
	// a ConfigMap update does): its certificates are obtained without a
	// restart.
	added := strings.Replace(threeDomains, "domains: [c.example]", "domains: [c.example, d.example]", 1)
	if err := os.WriteFile(catalog+".new", []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(catalog+".new", catalog); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitReady(t, httpPort, names+3, 90*time.Second)
	t.Logf("catalog change: 3 more certificates in %v", time.Since(start).Round(time.Millisecond))
	if resp, body := get(t, https, "https://autoconfig.d.example/mail/config-v1.1.xml"); resp != nil && (resp.StatusCode != 200 || !strings.Contains(body, "<domain>d.example</domain>")) {
		t.Errorf("HTTPS on a domain added to the catalog: %d %.200s", resp.StatusCode, body)
	}
	if resp, _ := get(t, https, "https://autodiscover.d.example/healthz"); resp != nil && resp.StatusCode != 200 {
		t.Errorf("HTTPS on autodiscover of a domain added to the catalog: %d", resp.StatusCode)
	}
}

// verifyProfile downloads a profile until it comes signed (the signer
// follows the first certificate within a second), and checks the
// signature with openssl against root.
func verifyProfile(t *testing.T, c *http.Client, root []byte, url string) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is missing (.ci/run installs it)")
		}
		t.Log("skipping the signature check: openssl not installed")
		return
	}
	var body string
	testutil.Poll(context.Background(), 10*time.Second, func() bool {
		resp, b := get(t, c, url)
		body = b
		return resp != nil && resp.StatusCode == 200 && !strings.HasPrefix(b, "<?xml")
	})
	dir := t.TempDir()
	in, rootFile, out := filepath.Join(dir, "signed.mobileconfig"), filepath.Join(dir, "root.pem"), filepath.Join(dir, "content")
	if err := os.WriteFile(in, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootFile, root, 0o600); err != nil {
		t.Fatal(err)
	}
	// -purpose any: the signer is a TLS server certificate, whose
	// extended key usage openssl would otherwise hold against S/MIME.
	cmd := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", rootFile, "-purpose", "any", "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify of %s: %v\n%s", url, err, msg)
	}
	if content, _ := os.ReadFile(out); !strings.Contains(string(content), "<string>fred@a.example</string>") {
		t.Errorf("verified content is not fred's profile:\n%.300s", content)
	}
}

// TestServeHTTPSWithCertificateFiles: TLSDir (MAILAUTOCONF_TLS_DIR) instead of ACME.
// Names without a file are listed as missing in /readyz; a name no file
// covers gets a failed handshake.
func TestServeHTTPSWithCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	key := testpki.Key(t)
	cert := testpki.SelfSigned(t, key, testpki.Cert{Names: []string{"autoconfig.example.com", "autoconfig.example.net"}})
	testpki.WritePair(t, filepath.Join(dir, "autoconfig.crt"), filepath.Join(dir, "autoconfig.key"), cert, key)
	httpPort, tlsPort := testutil.FreePort(t), testutil.FreePort(t)
	cfg := testConfig(t)
	cfg.Listen = fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfg.TLSListen = fmt.Sprintf("127.0.0.1:%d", tlsPort)
	cfg.TLSDir = dir
	var logs testutil.SyncBuffer
	startServe(t, cfg, &logs)

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	https := loopbackClient(tlsPort, roots)
	var resp *http.Response
	var body string
	var err error
	testutil.Poll(context.Background(), 5*time.Second, func() bool {
		resp, err = https.Get("https://autoconfig.example.net/mail/config-v1.1.xml")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		return err == nil
	})
	if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 || !strings.Contains(body, "<domain>example.net</domain>") {
		t.Fatalf("GET over HTTPS with a certificate file: %v %v %.200s", resp, err, body)
	}
	if _, err := https.Get("https://autodiscover.example.net/autodiscover/autodiscover.xml"); err == nil {
		t.Errorf("HTTPS for a name no file covers succeeded")
	}
	_, ready := get(t, loopbackClient(httpPort, nil), "http://svc.example/readyz")
	for _, want := range []string{"certificates: 2 of 6 names ready", "autodiscover.example.com: missing"} {
		if !strings.Contains(ready, want) {
			t.Errorf("/readyz:\n%s\nwant %q", ready, want)
		}
	}
}

// handshake is a TLS handshake with 127.0.0.1:port for sni, given long
// enough for an issuance during it; it returns the leaf served.
func handshake(port int, roots *x509.CertPool, sni string, timeout time.Duration) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: timeout, Deadline: time.Now().Add(timeout)}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// withPassword is rawURL with a password for its user. The test servers
// trust local connections, so PostgreSQL never asks for it: it is there
// to be looked for where it must not be.
func withPassword(t *testing.T, rawURL, password string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// TestServeHTTPSOnDemandWithSharedStorage: MAILAUTOCONF_STORAGE and
// MAILAUTOCONF_ACME_ON_DEMAND through the real server, PostgreSQL
// keeping the certificates. An unknown name's handshake fails at once
// without an order; a served domain's name gets its certificate at its
// first handshake; /readyz and the metrics show the storage; a second
// server on the same storage serves the stored certificate, and both
// asked at once for a new name place one order. The storage's password
// shows nowhere.
func TestServeHTTPSOnDemandWithSharedStorage(t *testing.T) {
	const secret = "pw-never-shown"
	storage := withPassword(t, certstoretest.PostgresURL(t), secret)
	httpPort, tlsPort := testutil.FreePort(t), testutil.FreePort(t)
	p := pebbletest.Start(t, httpPort, tlsPort)
	catalog := writeCatalog(t, threeDomains)
	replica := func(httpPort, tlsPort int) Config {
		cfg := acmeConfig(t, p, p.Directory, catalog, httpPort, tlsPort)
		cfg.MetricsListen = testutil.FreeAddr(t)
		cfg.Storage = storage
		cfg.AcmeOnDemand = true
		cfg.AcmeOrderRate = 10
		cfg.PublicHost = "mail.example.org"
		return cfg
	}
	// a is where Pebble validates; b answers no validation itself.
	a, b := replica(httpPort, tlsPort), replica(testutil.FreePort(t), testutil.FreePort(t))
	var logsA, logsB testutil.SyncBuffer
	startServe(t, a, &logsA)
	var shown []string // every page read, searched for the password
	readyz := func(cfg Config) string {
		var body string
		testutil.WaitFor(t, 10*time.Second, "/readyz on "+cfg.MetricsListen, func() bool {
			resp, err := http.Get("http://" + cfg.MetricsListen + "/readyz")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			bb, _ := io.ReadAll(resp.Body)
			body = string(bb)
			return resp.StatusCode == 200 && strings.Contains(body, "certificate storage")
		})
		shown = append(shown, body)
		return body
	}
	body := readyz(a)
	for _, want := range []string{
		"certificate storage postgres://127.0.0.1:5432/mailautoconf_test_",
		": ok",
		"certificates: 0 of 10 names ready, 10 on demand",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz:\n%s\nwant %q", body, want)
		}
	}

	roots := p.RootPool(t)
	for _, sni := range []string{"autoconfig.unknown.example", "autoconfig.a.example.evil.example"} {
		start := time.Now()
		if c, err := handshake(tlsPort, roots, sni, 10*time.Second); err == nil {
			t.Errorf("handshake(%s) served %v, want refused", sni, c.DNSNames)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("handshake(%s) refused after %v, want at once", sni, d)
		}
	}
	if got := p.Orders(); got != 0 {
		t.Fatalf("after unknown names Pebble got %d orders, want none", got)
	}

	name := "autoconfig.a.example"
	start := time.Now()
	c, err := handshake(tlsPort, roots, name, 90*time.Second)
	if err != nil {
		t.Fatalf("first handshake(%s): %v", name, err)
	}
	t.Logf("first handshake for %s, its issuance included: %v", name, time.Since(start).Round(time.Millisecond))
	if c.DNSNames[0] != name || p.Orders() != 1 {
		t.Errorf("first handshake(%s) served %v after %d orders, want its own certificate after 1", name, c.DNSNames, p.Orders())
	}
	if resp, body := get(t, loopbackClient(tlsPort, roots), "https://"+name+"/mail/config-v1.1.xml"); resp != nil && (resp.StatusCode != 200 || !strings.Contains(body, "<domain>a.example</domain>")) {
		t.Errorf("GET https://%s: %d %.200s", name, resp.StatusCode, body)
	}
	metricsA := "http://" + a.MetricsListen
	for _, sample := range []string{
		`mailautoconf_storage_operations_total{op="store",result="ok"}`,
		`mailautoconf_storage_operations_total{op="lock",result="ok"}`,
		`mailautoconf_storage_lock_wait_seconds_count`,
	} {
		if v := servetest.MetricValue(t, metricsA, sample); v < 1 {
			t.Errorf("metrics: %s = %v, want at least 1", sample, v)
		}
	}
	if v := servetest.MetricValue(t, metricsA, "mailautoconf_storage_up"); v != 1 {
		t.Errorf("metrics: mailautoconf_storage_up = %v, want 1", v)
	}

	// A second server on the same storage: the stored certificate, no
	// order; then a new name asked of both at once: one order.
	startServe(t, b, &logsB)
	readyz(b)
	bTLS := b.TLSListen[strings.LastIndexByte(b.TLSListen, ':')+1:]
	bPort, _ := strconv.Atoi(bTLS)
	if c2, err := handshake(bPort, roots, name, 30*time.Second); err != nil || !c2.Equal(c) {
		t.Errorf("handshake(%s) on the second server = %v, want the stored certificate", name, err)
	}
	if got := p.Orders(); got != 1 {
		t.Errorf("the second server made Pebble get %d orders, want still 1", got)
	}
	both := "autodiscover.b.example"
	var served [2]*x509.Certificate
	var errs [2]error
	var wg sync.WaitGroup
	for i, port := range []int{tlsPort, bPort} {
		wg.Go(func() { served[i], errs[i] = handshake(port, roots, both, 90*time.Second) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("handshake(%s) on both servers at once: %v, %v", both, errs[0], errs[1])
	}
	if !served[0].Equal(served[1]) || served[0].DNSNames[0] != both {
		t.Errorf("handshake(%s) on both servers: %v (serial %v) and %v (serial %v), want one certificate", both,
			served[0].DNSNames, served[0].SerialNumber, served[1].DNSNames, served[1].SerialNumber)
	}
	if got := p.Orders(); got != 2 {
		t.Errorf("%s asked of both servers at once: Pebble got %d orders in all, want 2 (one for each name)", both, got-1)
	}

	// The password: in no log line, /readyz or metrics page.
	readyz(a)
	for _, base := range []string{metricsA, "http://" + b.MetricsListen} {
		resp, body := get(t, http.DefaultClient, base+"/metrics")
		if resp != nil {
			shown = append(shown, body)
		}
	}
	for i, s := range append(shown, logsA.String(), logsB.String()) {
		if strings.Contains(s, secret) {
			t.Errorf("page or log %d shows the storage password:\n%s", i, s)
		}
	}
	if !strings.Contains(logsA.String(), "storage=postgres://127.0.0.1:5432/mailautoconf_test_") {
		t.Errorf("the log does not name the storage:\n%.2000s", logsA.String())
	}
}

// TestServeStorageRefusedWithoutItsPassword: a storage URL that the
// settings let through (its scheme is known) but its backend refuses
// stops Run at start, with an error naming the storage but not its
// password; nothing connects.
func TestServeStorageRefusedWithoutItsPassword(t *testing.T) {
	const secret = "pw-never-shown"
	for _, storage := range []string{
		"postgres://u:" + secret + "@127.0.0.1:1/db?sslmode=sometimes",
		"redis://u:" + secret + "@127.0.0.1:1/not-a-db",
	} {
		cfg := testConfig(t)
		cfg.TLSListen = testutil.FreeAddr(t)
		cfg.Storage = storage
		var logs testutil.SyncBuffer
		err := Run(context.Background(), cfg, &logs)
		if err == nil || !strings.Contains(err.Error(), "certificate storage") || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("Run with storage %q = %v, want an error naming the storage", storage, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("Run with storage %q = %v, log:\n%s\nthe password shows", storage, err, logs.String())
		}
	}
}
