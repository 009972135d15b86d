package doctor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/testutil/dnstest"
)

// queryFollow follows a CNAME the server did not expand (an
// authoritative server whose zone the target is not in), as a resolver
// does, and stops a loop.
func TestQueryFollow(t *testing.T) {
	records := map[string]string{
		"_ua-auto-config.example.com.": "_ua-auto-config.example.com. 300 IN CNAME _ua-auto-config.hoster.test.",
		"_ua-auto-config.hoster.test.": `_ua-auto-config.hoster.test. 300 IN TXT "v=UAAC1; a=sha256; d=x"`,
		"a.loop.test.":                 "a.loop.test. 300 IN CNAME b.loop.test.",
		"b.loop.test.":                 "b.loop.test. 300 IN CNAME a.loop.test.",
	}
	server := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if rr, ok := records[strings.ToLower(req.Question[0].Name)]; ok {
			r, _ := dns.NewRR(rr)
			m.Answer = append(m.Answer, r) // never the target's records
		}
		_ = w.WriteMsg(m)
	}))
	r, err := newResolver(server, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ans := r.queryFollow(context.Background(), "_ua-auto-config.example.com", dns.TypeTXT)
	if ans.err != nil || len(ans.rrs) != 1 || strings.Join(ans.rrs[0].(*dns.TXT).Txt, "") != "v=UAAC1; a=sha256; d=x" {
		t.Errorf("queryFollow = %+v, want the TXT record at the CNAME's target", ans)
	}
	if ans := r.queryFollow(context.Background(), "a.loop.test", dns.TypeTXT); ans.err == nil || !strings.Contains(ans.err.Error(), "loops") {
		t.Errorf("queryFollow(loop) = %+v, want an error saying it loops", ans)
	}
}
