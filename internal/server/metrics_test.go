package server

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsListener: after a few requests to the public listener, the
// metrics listener shows the counts by format, client family and status;
// both listeners answer the probes; the metrics are not on the public
// listener.
func TestMetricsListener(t *testing.T) {
	s := startServer(t, nil) // the embedded demo catalog
	for _, r := range []struct{ path, ua, host string }{
		{"/mail/config-v1.1.xml?emailaddress=alice@example.com", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0", ""},
		{"/mail/config-v1.1.xml", "okhttp/4.12.0", "autoconfig.example.net"},
		{"/.well-known/autoconfig/mail/config-v1.1.xml", "Mozilla/5.0", "example.com"},
		{"/mail/config-v1.1.xml?emailaddress=bob@unknown.example", "Evolution/3.52.4 ", ""},
		{"/autodiscover/autodiscover.xml", "", "autodiscover.example.com"},
		{"/nothing-here", "curl/8.5.0", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.Base+r.path, nil)
		req.Header.Set("User-Agent", r.ua)
		if r.host != "" {
			req.Host = r.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(s.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`mailautoconf_requests_total{client="thunderbird",domain="known",format="autoconfig",status="200"} 1`,
		`mailautoconf_requests_total{client="k9",domain="known",format="autoconfig",status="200"} 1`,
		`mailautoconf_requests_total{client="kmail",domain="known",format="autoconfig",status="200"} 1`,
		`mailautoconf_requests_total{client="evolution",domain="unknown",format="autoconfig",status="404"} 1`,
		// Delta Chat GETs autodiscover.xml with no User-Agent.
		`mailautoconf_requests_total{client="deltachat",domain="known",format="autodiscover",status="200"} 1`,
		`mailautoconf_requests_total{client="other",domain="none",format="none",status="404"} 1`,
		`mailautoconf_request_duration_seconds_count{format="autoconfig"}`,
		`mailautoconf_catalog_domains 2`,
		`mailautoconf_catalog_reloads_total{result="failure"} 0`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if r, err := http.Get(s.Base + "/metrics"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: %v %v, want 404", r.StatusCode, err)
	}
	for _, base := range []string{s.Base, s.Metrics} {
		for _, probe := range []string{"/healthz", "/readyz"} {
			r, err := http.Get(base + probe)
			if err != nil || r.StatusCode != http.StatusOK {
				t.Errorf("%s%s: %v %v", base, probe, r, err)
				continue
			}
			r.Body.Close()
		}
	}

	s.Stop()
	if !strings.Contains(s.Logs.String(), "serving metrics and probes") {
		t.Errorf("log lacks the metrics listener:\n%s", s.Logs.String())
	}
}

// TestProbesWhilePublicFull: with every public connection held busy, the
// probes on the metrics listener are still answered (the Kubernetes
// probes use that port).
func TestProbesWhilePublicFull(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxConnections = 3 })
	public := strings.TrimPrefix(s.Base, "http://")
	for range 3 {
		slowConn(t, public, nil)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if _, err := client.Get(s.Base + "/healthz"); err == nil {
		t.Error("the public listener answered beside three busy connections: the test holds nothing")
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		r, err := client.Get(s.Metrics + probe)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Errorf("%s on the metrics listener with the public one full: %v %v", probe, r, err)
			continue
		}
		r.Body.Close()
	}
}
