package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server starts an HTTPS server on 127.0.0.1 answering every request with
// status and a short body; tickets=false disables session tickets.
func server(t *testing.T, status int, tickets bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var posts atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			if string(b) == "<x/>" {
				posts.Add(1)
			}
		}
		w.WriteHeader(status)
		io.WriteString(w, "<ok/>")
	}))
	srv.TLS = &tls.Config{SessionTicketsDisabled: !tickets}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &posts
}

func TestHammerModes(t *testing.T) {
	const clients = 2
	tests := []struct {
		name        string
		mode        mode
		tickets     bool
		resumed     func(pct float64) bool
		handshakesN func(n, requests int) bool
	}{
		// (a): a full handshake per request, whatever the server offers.
		{"new", modeNew, true, func(p float64) bool { return p == 0 }, func(n, r int) bool { return n >= r }},
		// (b): every handshake after a client's first resumes.
		{"resume", modeResume, true, func(p float64) bool { return p > 50 }, func(n, r int) bool { return n >= r }},
		// (b) against a server without tickets: nothing to resume.
		{"resume without tickets", modeResume, false, func(p float64) bool { return p == 0 }, func(n, r int) bool { return n >= r }},
		// (c): one handshake per client.
		{"keepalive", modeKeepAlive, true, func(p float64) bool { return p == 0 }, func(n, r int) bool { return n <= clients && r > n }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := server(t, http.StatusOK, tt.tickets)
			res, err := hammer(context.Background(), options{url: srv.URL + "/mail/config-v1.1.xml?emailaddress=a%40example.com",
				host: "autoconfig.example.com", clients: clients, duration: 300 * time.Millisecond, mode: tt.mode, timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.requests == 0 || res.errors != 0 {
				t.Fatalf("hammer = %d requests, %d errors, want some and none", res.requests, res.errors)
			}
			if !tt.resumed(res.resumedPct) {
				t.Errorf("resumed %.1f%% of %d handshakes", res.resumedPct, res.handshakes)
			}
			if !tt.handshakesN(res.handshakes, res.requests) {
				t.Errorf("%d handshakes for %d requests", res.handshakes, res.requests)
			}
			if !strings.HasPrefix(res.tls, "TLS 1.3, ") || !strings.HasSuffix(res.tls, ", X25519") {
				t.Errorf("negotiated %q, want TLS 1.3 with X25519", res.tls)
			}
			if res.p50 <= 0 || res.p99 < res.p50 {
				t.Errorf("p50 %v, p99 %v", res.p50, res.p99)
			}
		})
	}
}

func TestHammerCountsErrors(t *testing.T) {
	srv, _ := server(t, http.StatusMethodNotAllowed, true)
	res, err := hammer(context.Background(), options{url: srv.URL + "/", clients: 1, duration: 100 * time.Millisecond, mode: modeKeepAlive, timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.errors == 0 || res.requests != 0 {
		t.Errorf("against a 405: %d errors, %d requests, want errors only", res.errors, res.requests)
	}
}

func TestHammerPosts(t *testing.T) {
	srv, posts := server(t, http.StatusOK, true)
	res, err := hammer(context.Background(), options{url: srv.URL + "/autodiscover/autodiscover.xml", clients: 1, duration: 100 * time.Millisecond,
		mode: modeNew, body: []byte("<x/>"), contentType: "text/xml", timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.requests == 0 || posts.Load() < int64(res.requests) {
		t.Errorf("%d requests, the server read %d bodies", res.requests, posts.Load())
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tt := range []struct {
		p    int
		want time.Duration
	}{{50, 100}, {99, 198}, {100, 200}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(1..200, %d) = %d, want %d", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("percentile(nil) = %d, want 0", got)
	}
}
