package server

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/certs"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/internal/testutil/pebbletest"
	"mailautoconf/internal/testutil/servetest"
)

// opsJSON gets path from the metrics listener at base with token, and
// decodes the JSON answer into v; it returns the status.
func opsJSON(t *testing.T, base, path, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return resp.StatusCode
}

type apiDomain struct {
	Domain       string `json:"domain"`
	State        string `json:"state"`
	Certificates []struct{ Name, State string }
}

// TestDNSWatchGatesACME is the ACME gate end to end: with the
// watch on, Pebble is asked for a.example's names, which point at the
// service, and not for b.example's, which wait for DNS (on /readyz and
// /api/v1/domains) until their CNAMEs are published; the recheck then
// finds them within its interval, and they are ordered.
func TestDNSWatchGatesACME(t *testing.T) {
	httpPort, tlsPort := testutil.FreePort(t), testutil.FreePort(t)
	p := pebbletest.Start(t, httpPort, tlsPort)
	z := dnstest.NewLiveZone()
	z.Add(
		"mail.example.org. 300 IN A 127.0.0.1",
		"autoconfig.a.example. 300 IN CNAME mail.example.org.",
		"autodiscover.a.example. 300 IN CNAME mail.example.org.",
		"ua-auto-config.a.example. 300 IN CNAME mail.example.org.",
	)
	cfg := acmeConfig(t, p, p.Directory, writeCatalog(t, `providers:
  - id: mail.example.org
    domains: [a.example, b.example]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`), httpPort, tlsPort)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.PublicHost = "mail.example.org"
	cfg.MetricsListen = testutil.FreeAddr(t)
	cfg.DNSWatch = time.Hour
	cfg.DNSWatchRecheck = 200 * time.Millisecond
	cfg.DNSWatchQPS = 50
	cfg.DNSResolvers = []string{dnstest.ServeLive(t, z)}
	cfg.AdminToken = "tok"
	var logs testutil.SyncBuffer
	startServe(t, cfg, &logs)
	ops := "http://" + cfg.MetricsListen

	// a.example's three names and the public host are ordered; b.example's
	// three wait.
	body := waitReadyText(t, httpPort, "certificates: 4 of 7 names ready", 90*time.Second)
	for _, n := range []string{"autoconfig.b.example", "autodiscover.b.example", "ua-auto-config.b.example"} {
		if !strings.Contains(body, n+": "+string(certs.WaitingDNS)) {
			t.Errorf("/readyz lacks %q:\n%s", n+": waiting for DNS", body)
		}
	}
	orders := p.Orders()
	if orders < 4 || strings.Contains(p.Log(), "b.example") {
		t.Errorf("Pebble got %d orders, and validated b.example's names: %v; want a.example's three and the public host's, none of b.example's",
			orders, strings.Contains(p.Log(), "b.example"))
	}
	var b apiDomain
	if code := opsJSON(t, ops, "/api/v1/domains/b.example", "tok", &b); code != 200 || b.State != "missing" || len(b.Certificates) != 3 || b.Certificates[0].State != string(certs.WaitingDNS) {
		t.Errorf("/api/v1/domains/b.example: %d %+v", code, b)
	}
	if code := opsJSON(t, ops, "/api/v1/domains/b.example", "", nil); code != 401 {
		t.Errorf("/api/v1/domains/b.example without the token: %d, want 401", code)
	}
	if v := servetest.MetricValue(t, ops, `mailautoconf_dns_domains{state="missing"}`); v != 1 {
		t.Errorf(`mailautoconf_dns_domains{state="missing"} = %v, want 1`, v)
	}
	if v := servetest.MetricValue(t, ops, "mailautoconf_dns_queries_total"); v <= 0 {
		t.Errorf("mailautoconf_dns_queries_total = %v", v)
	}

	// b.example publishes its names: ordered at the next recheck.
	z.Add(
		"autoconfig.b.example. 300 IN CNAME mail.example.org.",
		"autodiscover.b.example. 300 IN CNAME mail.example.org.",
		"ua-auto-config.b.example. 300 IN CNAME mail.example.org.",
	)
	waitReadyText(t, httpPort, "certificates: 7 of 7 names ready", 90*time.Second)
	if got := p.Orders(); got < orders+3 || !strings.Contains(p.Log(), "Value:\"autoconfig.b.example\"") {
		t.Errorf("Pebble got %d orders after b.example's DNS, %d before, and validated autoconfig.b.example: %v; want its three names ordered",
			got, orders, strings.Contains(p.Log(), "autoconfig.b.example"))
	}
	if !strings.Contains(logs.String(), "names now point at this service") {
		t.Errorf("no log line of names pointing at the service:\n%s", logs.String())
	}
}

// waitReadyText waits until /readyz on the plain listener contains want.
func waitReadyText(t *testing.T, plainPort int, want string, timeout time.Duration) string {
	t.Helper()
	c := loopbackClient(plainPort, nil)
	var body string
	if !testutil.Poll(t.Context(), timeout, func() bool {
		resp, err := c.Get("http://svc.example/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return strings.Contains(body, want)
	}) {
		t.Fatalf("after %v /readyz says:\n%s\nwant %q", timeout, body, want)
	}
	return body
}

// TestDNSWatchWithoutHTTPS: the watch runs without HTTPS too (its page
// and metrics, no certificates); with it off, its routes say so.
func TestDNSWatchWithoutHTTPS(t *testing.T) {
	z := dnstest.NewLiveZone()
	z.Add("autoconfig.example.com. 300 IN A 192.0.2.1", "autodiscover.example.com. 300 IN A 192.0.2.1")
	live := startServer(t, func(c *Config) {
		c.DNSWatch = 100 * time.Millisecond
		c.DNSWatchRecheck = time.Minute
		c.DNSWatchQPS = 0
		c.DNSResolvers = []string{dnstest.ServeLive(t, z)}
		c.PublicIpv4 = "192.0.2.1"
	})
	var d apiDomain
	testutil.WaitFor(t, 10*time.Second, "example.com checked", func() bool {
		return opsJSON(t, live.Metrics, "/api/v1/domains/example.com", "", &d) == 200 && d.State != "unchecked"
	})
	if d.State != "ok" || d.Certificates != nil {
		t.Errorf("/api/v1/domains/example.com = %+v, want ok without certificates", d)
	}
	var list struct{ Total int }
	if code := opsJSON(t, live.Metrics, "/api/v1/domains?state=ok", "", &list); code != 200 || list.Total != 1 {
		t.Errorf("/api/v1/domains?state=ok: %d, total %d", code, list.Total)
	}
	if v := servetest.MetricValue(t, live.Metrics, "mailautoconf_dns_sweep_last_timestamp_seconds"); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("mailautoconf_dns_sweep_last_timestamp_seconds = %v", v)
	}

	off := startServer(t, nil)
	resp, err := http.Get(off.Metrics + "/domains")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "the DNS watch is off") {
		t.Errorf("/domains with the watch off: %d %s", resp.StatusCode, b)
	}
	if v := servetest.MetricValue(t, off.Metrics, "mailautoconf_dns_queries_total"); v != -1 {
		t.Errorf("mailautoconf_dns_queries_total = %v with the watch off, want no such series", v)
	}
}
