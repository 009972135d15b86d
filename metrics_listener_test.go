package main

import (
	"bytes"
	"context"
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
	s := startServing(t, nil) // the embedded demo catalog
	for _, r := range []struct{ path, ua, host string }{
		{"/mail/config-v1.1.xml?emailaddress=alice@example.com", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0", ""},
		{"/mail/config-v1.1.xml", "okhttp/4.12.0", "autoconfig.example.net"},
		{"/.well-known/autoconfig/mail/config-v1.1.xml", "Mozilla/5.0", "example.com"},
		{"/mail/config-v1.1.xml?emailaddress=bob@unknown.example", "Evolution/3.52.4 ", ""},
		{"/autodiscover/autodiscover.xml", "", "autodiscover.example.com"},
		{"/nothing-here", "curl/8.5.0", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.base+r.path, nil)
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
	resp, err := http.Get(s.metrics + "/metrics")
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
	if r, err := http.Get(s.base + "/metrics"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: %v %v, want 404", r.StatusCode, err)
	}
	for _, base := range []string{s.base, s.metrics} {
		for _, probe := range []string{"/healthz", "/readyz"} {
			r, err := http.Get(base + probe)
			if err != nil || r.StatusCode != http.StatusOK {
				t.Errorf("%s%s: %v %v", base, probe, r, err)
				continue
			}
			r.Body.Close()
		}
	}

	// The container HEALTHCHECK command against this server.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"healthcheck"}, &out, io.Discard); err != nil || out.String() != "ok\n" {
		t.Errorf("healthcheck = %v, %q", err, out.String())
	}
	if err := run(context.Background(), []string{"healthcheck", s.metrics + "/readyz"}, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck of the metrics listener's /readyz = %v", err)
	}
	s.stop()
	if err := run(context.Background(), []string{"healthcheck"}, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck succeeded with the server stopped")
	}
	if !strings.Contains(s.logs.String(), "serving metrics and probes") {
		t.Errorf("log lacks the metrics listener:\n%s", s.logs.String())
	}
}

func TestLoopback(t *testing.T) {
	for in, want := range map[string]string{
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:80":     "127.0.0.1:80",
		"[::]:8080":      "[::1]:8080",
		"10.1.2.3:8080":  "10.1.2.3:8080",
		"localhost:8080": "localhost:8080",
	} {
		if got, err := loopback(in); err != nil || got != want {
			t.Errorf("loopback(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := loopback("8080"); err == nil {
		t.Error("loopback(8080) succeeded")
	}
}

// TestProbesWhilePublicFull: with every public connection held busy, the
// probes on the metrics listener are still answered (the Kubernetes
// probes use that port).
func TestProbesWhilePublicFull(t *testing.T) {
	s := startServing(t, map[string]string{"MAILAUTOCONF_MAX_CONNECTIONS": "3"})
	public := strings.TrimPrefix(s.base, "http://")
	for range 3 {
		slowConn(t, public, nil)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if _, err := client.Get(s.base + "/healthz"); err == nil {
		t.Error("the public listener answered beside three busy connections: the test holds nothing")
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		r, err := client.Get(s.metrics + probe)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Errorf("%s on the metrics listener with the public one full: %v %v", probe, r, err)
			continue
		}
		r.Body.Close()
	}
}
