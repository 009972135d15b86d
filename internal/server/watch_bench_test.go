package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/internal/testutil/servetest"
)

// sweepDomains is the catalog of BenchmarkAutoconfigDuringSweep: enough
// for a sweep of some twenty seconds unpaced.
const sweepDomains = 20_000

// BenchmarkAutoconfigDuringSweep measures autoconfig requests through a
// running server (4 clients, keep-alive) before its DNS watch's first
// sweep and during it, unpaced (DNS_WATCH_QPS=0: the worst case) and at
// the default 50 queries a second, and reports the p99 of each
// (p99-idle-ms, p99-sweep-ms):
//
//	go test -run '^$' -bench AutoconfigDuringSweep -benchtime 1x ./internal/server/
func BenchmarkAutoconfigDuringSweep(b *testing.B) {
	names := make([]string, sweepDomains)
	for i := range names {
		names[i] = fmt.Sprintf("d%d.test", i)
	}
	catalog := filepath.Join(b.TempDir(), "catalog.yaml")
	if err := os.WriteFile(catalog, []byte(`providers:
  - id: hoster.test
    domains: [`+strings.Join(names, ", ")+`]
    incoming: [{protocol: imap, host: imap.hoster.test, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.hoster.test, port: 465, security: tls}]
`), 0o644); err != nil {
		b.Fatal(err)
	}
	resolver := dnstest.Serve(b, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Rcode = dns.RcodeNameError
		if q := req.Question; len(q) == 1 && strings.HasPrefix(q[0].Name, "autoconfig.") && q[0].Qtype == dns.TypeA {
			m.Rcode = dns.RcodeSuccess
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)})
		}
		_ = w.WriteMsg(m)
	}))
	for _, qps := range []float64{0, 50} {
		b.Run(fmt.Sprintf("qps=%v", qps), func(b *testing.B) { benchDuringSweep(b, catalog, resolver, names, qps) })
	}
}

func benchDuringSweep(b *testing.B, catalog, resolver string, names []string, qps float64) {
	for b.Loop() {
		live := startBenchServer(b, catalog, resolver, qps)
		idle := measure(live.Base, names, 2*time.Second)
		testutil.Poll(b.Context(), 30*time.Second, func() bool {
			return servetest.MetricValue(b, live.Metrics, "mailautoconf_dns_queries_total") > 100
		})
		during := measure(live.Base, names, 5*time.Second)
		if servetest.MetricValue(b, live.Metrics, "mailautoconf_dns_sweep_last_timestamp_seconds") > 0 {
			b.Log("the sweep ended before the measure did: the figure mixes both")
		}
		b.ReportMetric(p99(idle), "p99-idle-ms")
		b.ReportMetric(p99(during), "p99-sweep-ms")
		b.ReportMetric(float64(len(during)), "requests-during")
		live.Stop()
	}
}

// startBenchServer runs the service on catalog with the watch on against
// resolver, paced at qps, first sweep 5 s after start.
func startBenchServer(b *testing.B, catalog, resolver string, qps float64) *servetest.Live {
	cfg := Config{
		Listen: testutil.FreeAddr(b), MetricsListen: testutil.FreeAddr(b), Catalog: catalog,
		LogFormat: "text", LogLevel: "warn", HeapFloor: 32 << 20, RateBurst: 20,
		MaxConnections: 10000, MaxConnectionsPerClient: 64,
		PublicIpv4: "192.0.2.1", DNSWatch: time.Hour, DNSWatchRecheck: time.Hour, DNSResolvers: []string{resolver}, DNSWatchQPS: qps,
	}
	return servetest.Start(b, cfg.Listen, cfg.MetricsListen, nil, func(ctx context.Context, logs io.Writer) error {
		return Run(ctx, cfg, logs)
	})
}

// measure sends autoconfig requests from 4 clients for d and returns
// each one's time.
func measure(base string, names []string, d time.Duration) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for c := range 4 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			var mine []time.Duration
			for i := c; time.Now().Before(end); i += 4 {
				req, _ := http.NewRequest(http.MethodGet, base+"/mail/config-v1.1.xml?emailaddress=fred@"+names[i%len(names)], nil)
				req.Host = "autoconfig." + names[i%len(names)]
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			out = append(out, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func p99(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return float64(ds[len(ds)*99/100]) / 1e6
}
