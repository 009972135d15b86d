package dnswatch

import (
	"fmt"
	"net"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unique"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/provision"
)

// manyDomains is the scale the watch must stay bounded at (issue 25).
const manyDomains = 100_000

// bigCatalog serves n domains d0.test, d1.test, ... with one provider.
func bigCatalog(tb testing.TB, n int) *provision.Catalog {
	tb.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("d%d.test", i)
	}
	return testCatalog(tb, names...)
}

// hosterDNS answers as the DNS of a hoster's customers would: every
// tenth domain publishes nothing, the others point autoconfig and
// autodiscover at the public host and publish nothing else. Answers are
// made per query, so that 100,000 domains need no zone in memory.
func hosterDNS(tb testing.TB) string {
	return dnstest.Serve(tb, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		m.Rcode = dns.RcodeNameError
		if len(req.Question) == 1 {
			q := req.Question[0]
			name := strings.ToLower(q.Name)
			label, domain, _ := strings.Cut(name, ".")
			hdr := func(n string, t uint16) dns.RR_Header {
				return dns.RR_Header{Name: n, Rrtype: t, Class: dns.ClassINET, Ttl: 300}
			}
			switch {
			case name == publicHost+".":
				m.Rcode = dns.RcodeSuccess
				if q.Qtype == dns.TypeA {
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr(name, dns.TypeA), A: net.IPv4(192, 0, 2, 1)})
				}
			case (label == "autoconfig" || label == "autodiscover") && !strings.HasSuffix(domain, "0.test."):
				m.Rcode = dns.RcodeSuccess
				m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: publicHost + "."})
				if q.Qtype == dns.TypeA {
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr(publicHost+".", dns.TypeA), A: net.IPv4(192, 0, 2, 1)})
				}
			}
		}
		_ = w.WriteMsg(m)
	}))
}

// heapBytes is the live heap after a collection.
func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkSweep100k sweeps 100,000 domains against a DNS server on
// loopback, unpaced, and reports a sweep's time (ns/op), the heap the
// results keep (B/domain), the highest heap seen during the sweep
// (peak-heap-MB) and the queries a domain takes. Run it once:
//
//	go test -run '^$' -bench BenchmarkSweep100k -benchtime 1x ./internal/dnswatch/
func BenchmarkSweep100k(b *testing.B) {
	cat := bigCatalog(b, manyDomains)
	server := hosterDNS(b)
	base := heapBytes()
	var w *Watch
	var peak atomic.Uint64
	for b.Loop() {
		w = newWatch(b, cat, server, Config{Workers: 64})
		stop := sampleHeap(&peak)
		w.Sweep(b.Context())
		stop()
	}
	if c := w.Counts(); c["ok"] != manyDomains*9/10 || c["missing"] != manyDomains/10 {
		b.Fatalf("Counts = %v", c)
	}
	kept := heapBytes() - base
	b.ReportMetric(float64(kept)/manyDomains, "B/domain")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(w.Queries())/float64(b.N)/manyDomains, "queries/domain")
	runtime.KeepAlive(w)
	runtime.KeepAlive(cat)
}

// sampleHeap records the highest heap in use into peak, every 20 ms,
// until the returned function is called.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			rtmetrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// TestResultsBounded holds the memory a domain's result keeps to a few
// hundred bytes: 100,000 results of a realistic check (host names ok,
// every SRV and TXT record missing, the commonest case at a hoster) and
// 100,000 of a check where nothing is published, each with details of
// its own.
func TestResultsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 200,000 results")
	}
	p := testCatalog(t, "x.test").Providers()[0]
	want := dnsrecords.Derive(p, "x.test", dnsrecords.Target{Host: publicHost})
	sum := recordsSum(want.Records)
	check := func(i int, nothing bool) dnscheck.Domain {
		d := dnscheck.Domain{Domain: fmt.Sprintf("d%d.test", i), Records: make([]dnscheck.Record, len(want.Records))}
		for j, r := range want.Records {
			d.Records[j].Record = r
			if j >= 2 || nothing {
				d.Records[j].State = dnscheck.Missing
				d.Records[j].Detail = "not published: no such name (NXDOMAIN)"
				if nothing {
					// A detail of its own, as a timeout's names the record.
					d.Records[j].Detail = fmt.Sprintf("could not be resolved: SRV _imaps._tcp.d%d.test: no answer from 192.0.2.53:53: timed out", i)
				}
			}
		}
		return d
	}
	for _, c := range []struct {
		name    string
		nothing bool
		limit   float64
	}{
		{"hoster", false, 300},
		{"own details", true, 2500},
	} {
		keys := make([]string, manyDomains)
		for i := range keys {
			keys[i] = fmt.Sprintf("d%d.test", i)
		}
		base := heapBytes()
		results := make(map[string]result)
		now := time.Now()
		for i, k := range keys {
			results[k] = compact(check(i, c.nothing), sum, now)
		}
		per := float64(heapBytes()-base) / manyDomains
		t.Logf("%s: %.0f bytes a domain kept (%d records each)", c.name, per, len(want.Records))
		if per > c.limit {
			t.Errorf("%s: %.0f bytes a domain, want at most %.0f", c.name, per, c.limit)
		}
		runtime.KeepAlive(results)
		runtime.KeepAlive(keys)
	}
	runtime.KeepAlive(unique.Make(""))
}
