package authdns

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnscheck"
)

// TestFleetServed starts named with a small fleet and asks it what a
// correct, a NoAutoconfig and a StaleM365 domain publish.
func TestFleetServed(t *testing.T) {
	f := NewFleet(20)
	srv := Start(t, f.Zones...)
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		in, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, srv.Addr)
		if err != nil {
			t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
		}
		return in
	}
	tests := []struct {
		i      int
		name   string
		rcode  int
		answer string // the first answer record's data; "" none
	}{
		{0, "autoconfig.%s.", dns.RcodeNameError, ""},
		{10, "autoconfig.%s.", dns.RcodeSuccess, "127.0.0.2"},
		{15, "autodiscover.%s.", dns.RcodeSuccess, StaleM365Target},
		{19, "autoconfig.%s.", dns.RcodeSuccess, FleetPublicHost + "."},
	}
	for _, tc := range tests {
		name := fmtName(tc.name, f.Domains[tc.i])
		in := ask(name, dns.TypeA)
		got := ""
		if len(in.Answer) > 0 {
			switch rr := in.Answer[0].(type) {
			case *dns.A:
				got = rr.A.String()
			case *dns.CNAME:
				got = rr.Target
			}
		}
		if in.Rcode != tc.rcode || got != tc.answer {
			t.Errorf("%s A (fault %s) = %s %q, want %s %q", name, f.Faults[tc.i], dns.RcodeToString[in.Rcode], got, dns.RcodeToString[tc.rcode], tc.answer)
		}
	}
	if in := ask("example.org.", dns.TypeA); in.Rcode != dns.RcodeRefused {
		t.Errorf("example.org. A (no zone) = %s, want REFUSED: recursion must be off", dns.RcodeToString[in.Rcode])
	}
}

func fmtName(pattern, domain string) string {
	return dns.Fqdn(fmt.Sprintf(pattern, domain))
}

// TestFleetFaults holds the fractions to the brief: of 1,000 domains,
// 100 without autoconfig, 50 elsewhere, 30 at Microsoft 365, 20 with a
// stale PACC digest.
func TestFleetFaults(t *testing.T) {
	f := NewFleet(1000)
	n := map[Fault]int{}
	for _, x := range f.Faults {
		n[x]++
	}
	want := map[Fault]int{Correct: 800, NoAutoconfig: 100, Elsewhere: 50, StaleM365: 30, StalePACC: 20}
	for k, v := range want {
		if n[k] != v {
			t.Errorf("fault %s: %d domains, want %d", k, n[k], v)
		}
	}
	c := f.Counts()
	if c[dnscheck.Missing] != 100 || c[dnscheck.Drift] != 70 || c[dnscheck.Conflict] != 30 {
		t.Errorf("Counts() = %v, want 100 missing, 70 drift, 30 conflict", c)
	}
}

func TestReplace(t *testing.T) {
	s := Start(t, Zone{Origin: "r.test", Text: ZoneText("r.test", "a.r.test. 300 IN A 192.0.2.1")})
	s.Replace(t, 0, ZoneText("r.test", "a.r.test. 300 IN A 192.0.2.2"))
	m := new(dns.Msg)
	m.SetQuestion("a.r.test.", dns.TypeA)
	in, err := dns.Exchange(m, s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Answer) != 1 || !strings.Contains(in.Answer[0].String(), "192.0.2.2") {
		t.Errorf("after Replace, a.r.test is %v, want 192.0.2.2", in.Answer)
	}
}
