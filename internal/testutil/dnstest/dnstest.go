// Package dnstest runs a real DNS server on loopback for tests: the
// doctor's resolver asks it as it would ask any server. Not for
// production use.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Serve answers DNS over UDP on 127.0.0.1 with h until the test ends and
// returns the server's host:port. It returns once the server is ready.
func Serve(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// Zone is a test zone: records by lower-case owner name.
type Zone map[string][]dns.RR

// Add parses each record, in zone-file syntax ("example.com. 300 IN A
// 127.0.0.1"), into z; a record that does not parse panics.
func (z Zone) Add(rrs ...string) {
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(fmt.Sprintf("test zone %q: %v", s, err))
		}
		name := strings.ToLower(rr.Header().Name)
		z[name] = append(z[name], rr)
	}
}

// NoAnswer is the rcode that makes ServeZone drop a broken name's query.
const NoAnswer = -1

// LiveZone is a Zone a test changes while it is served (ServeLive): a
// customer publishing a record while the service watches.
type LiveZone struct {
	mu sync.RWMutex
	z  Zone
}

// NewLiveZone returns a LiveZone holding rrs (zone-file syntax, as
// Zone.Add).
func NewLiveZone(rrs ...string) *LiveZone {
	l := &LiveZone{z: Zone{}}
	l.Add(rrs...)
	return l
}

// Add adds records to the zone, as Zone.Add does.
func (l *LiveZone) Add(rrs ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.z.Add(rrs...)
}

// ServeLive serves l as ServeZone serves a Zone, each answer from the
// zone as it is at that moment.
func ServeLive(t testing.TB, l *LiveZone) string {
	t.Helper()
	return serve(t, l, nil)
}

// ServeZone serves z (as Serve does) as an authoritative server that
// also follows CNAMEs inside the zone, as a recursive resolver would. A
// name in broken gets that rcode (SERVFAIL, ...) or, with NoAnswer, no
// answer at all. It returns host:port.
func ServeZone(t testing.TB, z Zone, broken map[string]int) string {
	t.Helper()
	return serve(t, &LiveZone{z: z}, broken)
}

func serve(t testing.TB, l *LiveZone, broken map[string]int) string {
	t.Helper()
	return Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		if len(req.Question) == 1 {
			q := req.Question[0]
			name := strings.ToLower(q.Name)
			if rcode, ok := broken[name]; ok {
				if rcode != NoAnswer {
					m.Rcode = rcode
					_ = w.WriteMsg(m)
				}
				return
			}
			l.mu.RLock()
			m.Answer, m.Rcode = l.z.answer(name, q.Qtype)
			l.mu.RUnlock()
		}
		_ = w.WriteMsg(m)
	}))
}

// answer is what z answers for name and qtype, following CNAMEs inside
// the zone (at most 8), with NXDOMAIN for a name it does not hold.
func (z Zone) answer(name string, qtype uint16) ([]dns.RR, int) {
	rcode := dns.RcodeSuccess
	if _, ok := z[name]; !ok {
		rcode = dns.RcodeNameError
	}
	var out []dns.RR
	for hop := 0; hop < 8; hop++ {
		var cname *dns.CNAME
		for _, rr := range z[name] {
			if rr.Header().Rrtype == qtype {
				out = append(out, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				cname = c
			}
		}
		if cname == nil {
			break
		}
		out = append(out, cname)
		name = strings.ToLower(cname.Target)
	}
	return out, rcode
}
