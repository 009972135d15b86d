package dnscheck

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/miekg/dns"
)

// FuzzCheckAnswers answers every query of a check with the fuzzer's
// message (its ID set to the query's): whatever a server sends, each
// record gets a state with a reason, and what the check reports is
// bounded and free of control characters (it reaches HTML pages and
// terminals).
func FuzzCheckAnswers(f *testing.F) {
	seed := func(rrs ...string) {
		m := new(dns.Msg)
		m.SetQuestion("autoconfig.example.com.", dns.TypeA)
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed("autoconfig.example.com. 60 IN CNAME svc.host.test.")
	seed("autoconfig.example.com. 60 IN CNAME a.test.", "a.test. 60 IN CNAME autoconfig.example.com.")
	seed("autoconfig.example.com. 60 IN A 192.0.2.10", "autoconfig.example.com. 60 IN AAAA 2001:db8::1")
	seed(`_ua-auto-config.example.com. 60 IN TXT "v=UAAC1; a=sha256; d=\007\000x"`)
	seed("_imaps._tcp.example.com. 60 IN SRV 0 0 993 imap.example.com.")
	f.Add([]byte{0, 0, 0x81, 0x80, 0, 1, 0, 200})

	d := want(f, false)
	f.Fuzz(func(t *testing.T, answer []byte) {
		pool, err := NewPool([]string{"192.0.2.1:53"}, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		pool.Resolvers[0].exchange = func(_ context.Context, q *dns.Msg) (*dns.Msg, error) {
			in := new(dns.Msg)
			if err := in.Unpack(answer); err != nil {
				return nil, err
			}
			in.Id = q.Id
			return in, nil
		}
		c := &Checker{Pool: pool, Us: NewUs(publicHost)}
		got := c.Check(context.Background(), d)
		if len(got.Records) != len(d.Records) {
			t.Fatalf("%d records judged, want %d", len(got.Records), len(d.Records))
		}
		for _, r := range got.Records {
			if r.State > Conflict {
				t.Errorf("%s %s: state %d", r.Name, r.Type, r.State)
			}
			if r.State != OK && r.Detail == "" {
				t.Errorf("%s %s is %s with no reason", r.Name, r.Type, r.State)
			}
			for _, s := range []string{r.Found, r.Detail} {
				if len(s) > 8<<10 {
					t.Errorf("%s %s: %d bytes reported", r.Name, r.Type, len(s))
				}
				if strings.ContainsFunc(s, unicode.IsControl) {
					t.Errorf("%s %s: control character in %q", r.Name, r.Type, s)
				}
			}
		}
	})
}
