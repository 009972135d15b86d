package dnscheck_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/provision"
)

// badTimeout is the per-query timeout of these tests: short, since a
// resolver that hangs costs it for every query.
const badTimeout = 300 * time.Millisecond

// hangGuard bounds a whole check: far above what it takes (a hanging
// resolver costs badTimeout per query), only so that a hang fails the
// test instead of stalling it.
const hangGuard = 30 * time.Second

// TestBadResolvers checks example.com's records against servers that
// misbehave: every record gets a state, missing or drift, with a detail
// saying what went wrong, and the check ends.
func TestBadResolvers(t *testing.T) {
	tests := []struct {
		name   string
		server func(t *testing.T) string
		// host and other are what the detail of a host record (CNAME)
		// and of the others (SRV, TXT) must say, and their states.
		host, other           string
		hostState, otherState dnscheck.State
	}{
		{"hangs", hangingServer, "timed out", "timed out", dnscheck.Missing, dnscheck.Missing},
		{"garbage", garbageServer, "malformed answer", "malformed answer", dnscheck.Missing, dnscheck.Missing},
		{"cname-loop", loopServer, "loops", "no ", dnscheck.Drift, dnscheck.Missing},
		{"10000-a-records", floodServer, "", "", 0, 0},
	}
	want := exampleRecords(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := checkBounded(t, []string{tc.server(t)}, want)
			for _, r := range d.Records {
				if r.State == dnscheck.OK || r.Detail == "" {
					t.Errorf("%s %s = %s, detail %q: want missing or drift, with a detail", r.Type, r.Name, r.State, r.Detail)
					continue
				}
				if tc.name == "10000-a-records" {
					continue // judged below
				}
				state, words := tc.otherState, tc.other
				// A TXT lookup follows CNAMEs, as resolvers do, so it
				// meets the loop too; SRV owners are never aliases.
				if r.Type == "CNAME" || r.Type == "TXT" && tc.name == "cname-loop" {
					state, words = tc.hostState, tc.host
				}
				if r.State != state || !strings.Contains(r.Detail, words) {
					t.Errorf("%s %s = %s (%s), want %s saying %q", r.Type, r.Name, r.State, r.Detail, state, words)
				}
				if len(r.Found) > 2048 || len(r.Detail) > 2048 {
					t.Errorf("%s %s: found %d bytes, detail %d bytes: unbounded", r.Type, r.Name, len(r.Found), len(r.Detail))
				}
			}
			if tc.name == "10000-a-records" {
				judgeFlood(t, d)
			}
		})
	}

	// All of them at once, beside a good server: every record is as bad
	// as the worst resolver says, and the detail says they disagree.
	t.Run("all", func(t *testing.T) {
		good := goodServer(t, want)
		servers := []string{good, hangingServer(t), garbageServer(t), loopServer(t), floodServer(t)}
		d := checkBounded(t, servers, want)
		for _, r := range d.Records {
			if r.State == dnscheck.OK || !strings.HasPrefix(r.Detail, "resolvers disagree: "+good+" says ok") {
				t.Errorf("%s %s = %s (%s): want not ok, the resolvers disagreeing", r.Type, r.Name, r.State, r.Detail)
			}
		}
	})
}

// judgeFlood: the answer of 10,000 A records (as many as one TCP
// message holds, under a header counting 10,000) is either refused as
// malformed, or read up to the resolver's bound; either way autoconfig
// leads elsewhere or is not resolved, and what is reported stays small.
func judgeFlood(t *testing.T, d dnscheck.Domain) {
	t.Helper()
	for _, r := range d.Records {
		if len(r.Found) > 4096 || len(r.Detail) > 4096 {
			t.Errorf("%s %s: found %d bytes, detail %d bytes: unbounded", r.Type, r.Name, len(r.Found), len(r.Detail))
		}
		// The resolver reads 64 records of an answer; and an AAAA
		// question's answer of A records gives no IPv6 address.
		if n := strings.Count(r.Found, "10.0."); n > 64 {
			t.Errorf("%s %s: found %d addresses, want at most the 64 of the A answer", r.Type, r.Name, n)
		}
		if r.Type == "CNAME" && !strings.Contains(r.Detail, "malformed answer") && !strings.Contains(r.Detail, "leads to 10.") {
			t.Errorf("%s %s = %s (%s): want malformed, or leading to the flood's addresses", r.Type, r.Name, r.State, r.Detail)
		}
	}
}

// exampleRecords are the demo catalog's records of example.com with the
// public host autoconfig.hoster.test.
func exampleRecords(t *testing.T) dnsrecords.Domain {
	t.Helper()
	p, err := provision.Demo().Lookup("example.com")
	if err != nil {
		t.Fatal(err)
	}
	return dnsrecords.Derive(p, "example.com", dnsrecords.Target{Host: "autoconfig.hoster.test"})
}

// checkBounded checks want with servers, unpaced, and fails the test
// when the check does not end within hangGuard.
func checkBounded(t *testing.T, servers []string, want dnsrecords.Domain) dnscheck.Domain {
	t.Helper()
	pool, err := dnscheck.NewPool(servers, 0, badTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c := &dnscheck.Checker{Pool: pool, Us: dnscheck.NewUs("autoconfig.hoster.test", netip.MustParseAddr("127.0.0.1"))}
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangGuard)
	defer cancel()
	done := make(chan dnscheck.Domain, 1)
	go func() { done <- c.Check(ctx, want) }()
	select {
	case d := <-done:
		if len(d.Records) != len(want.Records) {
			t.Fatalf("check: %d records, want %d", len(d.Records), len(want.Records))
		}
		return d
	case <-time.After(hangGuard):
		t.Fatalf("check did not end within %v", hangGuard)
		return dnscheck.Domain{}
	}
}

// goodServer publishes want as it should be.
func goodServer(t *testing.T, want dnsrecords.Domain) string {
	z := dnstest.Zone{}
	z.Add("autoconfig.hoster.test. 300 IN A 127.0.0.1")
	for _, r := range want.Records {
		z.Add(r.Name + " 300 IN " + r.Type + " " + r.Data)
	}
	return dnstest.ServeZone(t, z, nil)
}

// udpServer answers each UDP datagram with reply's bytes (nil: none)
// until the test ends, and returns host:port.
func udpServer(t *testing.T, reply func(query []byte) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if b := reply(buf[:n]); b != nil {
				_, _ = pc.WriteTo(b, addr)
			}
		}
	})
	return pc.LocalAddr().String()
}

// hangingServer reads every query and never answers.
func hangingServer(t *testing.T) string {
	return udpServer(t, func([]byte) []byte { return nil })
}

// garbageServer answers every query with its ID and then bytes that are
// no DNS message: the answer to the question, unreadable.
func garbageServer(t *testing.T) string {
	return udpServer(t, func(q []byte) []byte {
		if len(q) < 2 {
			return nil
		}
		junk := []byte{q[0], q[1], 0x81, 0x80, 0x00, 0x01, 0x00, 0x05, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef, 0xc0, 0x0c, 0xc0, 0x0c}
		return append(junk, strings.Repeat("\xff", 40)...)
	})
}

// loopServer answers every name under example.com with a CNAME to
// loop-a.example.com, which is a CNAME to loop-b.example.com, which
// leads back to loop-a.
func loopServer(t *testing.T) string {
	return udpServer(t, func(q []byte) []byte {
		req := new(dns.Msg)
		if req.Unpack(q) != nil || len(req.Question) != 1 {
			return nil
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		name := strings.ToLower(req.Question[0].Name)
		target := "loop-a.example.com."
		switch name {
		case "loop-a.example.com.":
			target = "loop-b.example.com."
		case "loop-b.example.com.":
			target = "loop-a.example.com."
		}
		m.Answer = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target}}
		b, _ := m.Pack()
		return b
	})
}

// floodRecords is how many A records the flood's header counts.
const floodRecords = 10000

// floodServer answers over UDP with the TC bit and nothing else, and over
// TCP (RFC 7766 §5, where the resolver asks again) with a header counting
// 10,000 A records and as many records as one message holds (65,535
// bytes, RFC 1035 §4.2.2): a DNS message cannot hold more.
func floodServer(t *testing.T) string {
	t.Helper()
	var (
		ln   net.Listener
		addr string
	)
	for range 20 {
		a := udpServer(t, func(q []byte) []byte {
			req := new(dns.Msg)
			if req.Unpack(q) != nil {
				return nil
			}
			m := new(dns.Msg)
			m.SetReply(req)
			m.Truncated = true
			b, _ := m.Pack()
			return b
		})
		l, err := net.Listen("tcp", a)
		if err == nil {
			ln, addr = l, a
			break
		}
	}
	if ln == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); floodConn(c) })
		}
	})
	return addr
}

func floodConn(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	for {
		var size [2]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		req := new(dns.Msg)
		if req.Unpack(q) != nil || len(req.Question) != 1 {
			return
		}
		b, err := floodAnswer(req)
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(size[:], uint16(len(b)))
		if _, err := c.Write(append(size[:], b...)); err != nil && !errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// floodAnswer is the answer to req: A records of 10.0.x.y at the
// question's name, as many as fit in 65,535 bytes, under a header
// counting floodRecords.
func floodAnswer(req *dns.Msg) ([]byte, error) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Compress = true
	name := req.Question[0].Name
	// 16 bytes a record once its owner is a compression pointer: the
	// header, the question and n records fill at most 65,535 bytes.
	n := min(floodRecords, (65535-12-len(name)-1-4)/16)
	for i := range n {
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A:   net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)),
		})
	}
	for m.Len() > 65535 {
		m.Answer = m.Answer[:len(m.Answer)-1]
	}
	b, err := m.Pack()
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint16(b[6:8], floodRecords) // ANCOUNT
	return b, nil
}
