package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/authdns"
	"mailautoconf/internal/testutil/servetest"
)

type apiRecord struct {
	Name, Type, State, Detail string
}

type apiFleetDomain struct {
	Domain  string
	State   string
	Records []apiRecord
}

// TestDNSWatchFleet is the zone: 1,000 customer domains in BIND's
// named with planted faults (10% without the autoconfig CNAME, 5% at
// another address, 3% at a stale Microsoft 365 Autodiscover, 2% with a
// stale PACC digest). The watch of a running service finds each record's
// state exactly as `dns --check` does (authdns.Fleet.Want, which
// TestDNSCheckFleet holds it to), and its metrics and JSON say the same;
// the service answers clients all along.
func TestDNSWatchFleet(t *testing.T) {
	f := authdns.NewFleet(1000)
	ns := authdns.Start(t, f.Zones...)
	live := startServer(t, func(c *Config) {
		c.Catalog = writeCatalog(t, string(f.CatalogYAML))
		c.PublicHost = authdns.FleetPublicHost
		c.DNSWatch = time.Hour
		c.DNSWatchQPS = 0
		c.DNSResolvers = []string{ns.Addr}
	})
	autoconfig := func() int {
		req, _ := http.NewRequest(http.MethodGet, live.Base+"/mail/config-v1.1.xml?emailaddress=a@c0001.example", nil)
		req.Host = "autoconfig.c0001.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testutil.WaitFor(t, 120*time.Second, "the watch's first sweep", func() bool {
		if code := autoconfig(); code != 200 {
			t.Fatalf("autoconfig during the sweep: %d", code)
		}
		return servetest.MetricValue(t, live.Metrics, "mailautoconf_dns_sweep_last_timestamp_seconds") > 0
	})

	byState := map[dnscheck.State]int{}
	for i := range f.Domains {
		byState[f.DomainState(i)]++
	}
	for _, s := range dnscheck.States {
		if got := servetest.MetricValue(t, live.Metrics, fmt.Sprintf(`mailautoconf_dns_domains{state=%q}`, s)); int(got) != byState[s] {
			t.Errorf(`mailautoconf_dns_domains{state=%q} = %v, want %d`, s, got, byState[s])
		}
	}

	index := map[string]int{}
	for i, d := range f.Domains {
		index[d] = i
	}
	seen, wrong := 0, 0
	for page := 1; ; page++ {
		var list struct {
			Total   int
			Domains []apiFleetDomain
		}
		if code := opsJSON(t, live.Metrics, fmt.Sprintf("/api/v1/domains?page=%d", page), "", &list); code != 200 {
			t.Fatalf("/api/v1/domains?page=%d: %d", page, code)
		}
		if len(list.Domains) == 0 {
			break
		}
		for _, d := range list.Domains {
			i, ok := index[d.Domain]
			if !ok {
				t.Fatalf("/api/v1/domains lists %q, not served", d.Domain)
			}
			seen++
			if d.State != f.DomainState(i).String() {
				t.Errorf("%s (%s): state %s, want %s", d.Domain, f.Faults[i], d.State, f.DomainState(i))
			}
			if len(d.Records) != len(f.Want[i]) {
				t.Fatalf("%s: %d records, want %d", d.Domain, len(d.Records), len(f.Want[i]))
			}
			for j, r := range d.Records {
				if r.State != f.Want[i][j].String() {
					if wrong++; wrong <= 10 {
						t.Errorf("%s (%s): %s %s = %s (%s), want %s", d.Domain, f.Faults[i], r.Type, r.Name, r.State, r.Detail, f.Want[i][j])
					}
				}
			}
		}
	}
	if seen != len(f.Domains) || wrong > 0 {
		t.Errorf("/api/v1/domains: %d domains of %d, %d records in the wrong state", seen, len(f.Domains), wrong)
	}
	var missing struct{ Total int }
	if opsJSON(t, live.Metrics, "/api/v1/domains?state=missing", "", &missing); missing.Total != byState[dnscheck.Missing] {
		t.Errorf("/api/v1/domains?state=missing: total %d, want %d", missing.Total, byState[dnscheck.Missing])
	}
}

// TestDNSWatchHangingResolver: the watch's only resolver takes queries
// and never answers. The service answers clients and its probes at once
// all the while, and each domain ends up missing, saying why.
func TestDNSWatchHangingResolver(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	live := startServer(t, func(c *Config) {
		c.PublicHost = "mail.example.org"
		c.DNSWatch = 100 * time.Millisecond
		c.DNSWatchQPS = 0
		c.DNSResolvers = []string{pc.LocalAddr().String()}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		start := time.Now()
		resp, err := http.Get(live.Base + "/mail/config-v1.1.xml?emailaddress=a@example.com")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || time.Since(start) > 2*time.Second {
			t.Fatalf("autoconfig while the watch waits on a hanging resolver: %d after %v", resp.StatusCode, time.Since(start))
		}
		var d apiFleetDomain
		if opsJSON(t, live.Metrics, "/api/v1/domains/example.com", "", &d) == 200 && d.State != "unchecked" {
			if d.State != "missing" || !strings.Contains(d.Records[0].Detail, "timed out") {
				t.Errorf("example.com behind a hanging resolver: %s, %+v; want missing, timed out", d.State, d.Records[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("example.com was not checked within 30 s behind a hanging resolver")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
