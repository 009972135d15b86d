package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"
)

// DefaultTimeout bounds one query to one server, retries included.
const DefaultTimeout = 3 * time.Second

// maxRRs bounds the records read from one answer: a record set of ours
// has a handful, and an answer of 10,000 records is not read further.
const maxRRs = 64

// maxCNAMEs bounds a CNAME chain, as resolvers do (RFC 1034 §3.6.2 asks
// them to detect loops; 8 is BIND's and Unbound's order of magnitude).
const maxCNAMEs = 8

// Resolver asks one DNS server, over UDP with a TCP retry on truncation
// (RFC 7766 §5), paced by a limiter it may share with other resolvers.
// It is safe for concurrent use and caches nothing.
type Resolver struct {
	server  string // host:port
	timeout time.Duration
	pace    *rate.Limiter // nil: unpaced
	queries *atomic.Int64 // every query sent, shared with the Pool
	// exchange sends m and reads the answer; nil: over the network
	// (network). The fuzz target answers from memory.
	exchange func(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
	// silent, in the copy one check of a domain uses (forCheck), counts
	// the queries in a row that got no answer, and holds the last error:
	// after maxSilent the server is not asked again in that check, so a
	// server that takes queries and never answers costs a domain a few
	// timeouts, not one for each of its dozen records.
	silent *silence
}

type silence struct {
	n   int
	err error
}

// maxSilent is how many queries in a row may go unanswered in one
// domain's check before the others are not sent.
const maxSilent = 2

// forCheck returns the resolver as one check of one domain uses it, from
// one goroutine.
func (r *Resolver) forCheck() *Resolver {
	c := *r
	c.silent = &silence{}
	return &c
}

// Server is the host:port the resolver asks.
func (r *Resolver) Server() string { return r.server }

// Pool is the resolvers a check asks, each about every record (a record
// is ok only when every one agrees), with one pace for all of them.
type Pool struct {
	Resolvers []*Resolver
	queries   atomic.Int64
}

// NewPool returns resolvers for servers (host:port each; none: the first
// nameserver of /etc/resolv.conf), paced together at qps queries a
// second (0: unpaced), each query bounded by timeout (0: DefaultTimeout).
func NewPool(servers []string, qps float64, timeout time.Duration) (*Pool, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if qps < 0 {
		return nil, fmt.Errorf("queries a second %v: want 0 (unpaced) or more", qps)
	}
	if len(servers) == 0 {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return nil, errors.New("no DNS server: /etc/resolv.conf names none, and no resolver was given")
		}
		servers = []string{net.JoinHostPort(conf.Servers[0], conf.Port)}
	}
	p := &Pool{}
	var pace *rate.Limiter
	if qps > 0 {
		pace = rate.NewLimiter(rate.Limit(qps), max(1, int(qps/10)))
	}
	seen := map[string]bool{}
	for _, s := range servers {
		s = strings.TrimSpace(s)
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("resolver %q: want HOST:PORT", s)
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		p.Resolvers = append(p.Resolvers, &Resolver{server: s, timeout: timeout, pace: pace, queries: &p.queries})
	}
	return p, nil
}

// Queries is how many queries the pool's resolvers have sent.
func (p *Pool) Queries() int64 { return p.queries.Load() }

// answer is the answer section of one query (at most maxRRs records), or
// why there is none.
type answer struct {
	rcode int
	rrs   []dns.RR
	err   error
}

// problem says why the answer has no records: "" when it may have some.
func (a answer) problem() string {
	switch {
	case a.err != nil:
		return a.err.Error()
	case a.rcode == dns.RcodeNameError:
		return "no such name (NXDOMAIN)"
	case a.rcode != dns.RcodeSuccess:
		return "the server answered " + dns.RcodeToString[a.rcode]
	}
	return ""
}

// failed is true when the server gave no usable answer at all (timeout,
// garbage, SERVFAIL), as opposed to saying the record does not exist.
func (a answer) failed() bool {
	return a.err != nil || a.rcode != dns.RcodeSuccess && a.rcode != dns.RcodeNameError
}

func (r *Resolver) query(ctx context.Context, name string, qtype uint16) answer {
	name = dns.Fqdn(strings.ToLower(name))
	if r.silent != nil && r.silent.n >= maxSilent {
		return answer{err: fmt.Errorf("%s %s: not asked: %w", dns.TypeToString[qtype], strings.TrimSuffix(name, "."), r.silent.err)}
	}
	if r.pace != nil {
		if err := r.pace.Wait(ctx); err != nil {
			return answer{err: fmt.Errorf("not asked: %w", context.Cause(ctx))}
		}
	}
	r.queries.Add(1)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(4096, false)
	exchange := r.exchange
	if exchange == nil {
		exchange = r.network
	}
	in, err := exchange(ctx, m)
	if err == nil && in.Id != m.Id {
		err = errors.New("answer to another question")
	}
	if err != nil {
		if r.silent != nil && simplify(err) == "timed out" {
			r.silent.n++
			r.silent.err = fmt.Errorf("%s timed out %d times in a row", r.server, r.silent.n)
		}
		return answer{err: fmt.Errorf("%s %s: no answer from %s: %s", dns.TypeToString[qtype], strings.TrimSuffix(name, "."), r.server, simplify(err))}
	}
	if r.silent != nil {
		r.silent.n = 0
	}
	rrs := in.Answer
	if len(rrs) > maxRRs {
		rrs = rrs[:maxRRs]
	}
	return answer{rcode: in.Rcode, rrs: rrs}
}

// network asks the server over UDP, and again over TCP when the answer
// is truncated (RFC 7766 §5).
func (r *Resolver) network(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Timeout: r.timeout}
	in, _, err := c.ExchangeContext(ctx, m, r.server)
	if err == nil && in.Truncated {
		tc := &dns.Client{Net: "tcp", Timeout: r.timeout}
		in, _, err = tc.ExchangeContext(ctx, m, r.server)
	}
	return in, err
}

// simplify shortens the network errors a check reports.
func simplify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case strings.Contains(err.Error(), "unpack") || strings.Contains(err.Error(), "overflow") || strings.Contains(err.Error(), "bad rdata"):
		return "malformed answer"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// hostAnswer is what a client learns resolving a host name: the CNAME
// chain and the addresses at its end.
type hostAnswer struct {
	chain  []string // each CNAME target followed, in order, lower case, fully qualified
	v4, v6 []netip.Addr
	loop   bool   // the chain came back to a name, or was longer than maxCNAMEs
	failed bool   // the server gave no usable answer
	err    string // no address: why
}

// end is the last name of the chain: the host whose addresses these are.
func (h hostAnswer) end(name string) string {
	if len(h.chain) > 0 {
		return h.chain[len(h.chain)-1]
	}
	return dns.Fqdn(strings.ToLower(name))
}

// lookupHost resolves name to its A and AAAA records, following CNAMEs the
// server did not expand itself. stop, when the chain reaches it, ends the
// lookup there: the addresses are then not needed.
func (r *Resolver) lookupHost(ctx context.Context, name, stop string) hostAnswer {
	var out hostAnswer
	start := dns.Fqdn(strings.ToLower(name))
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		cur := start
		seen := map[string]bool{cur: true}
		for hop := 0; ; hop++ {
			ans := r.query(ctx, cur, qtype)
			if p := ans.problem(); p != "" {
				if out.err == "" {
					out.err, out.failed = p, ans.failed()
				}
				break
			}
			next, addrs, loop := followChain(cur, ans.rrs, seen)
			if qtype == dns.TypeA {
				out.chain = appendChain(out.chain, cur, next, ans.rrs)
			}
			if loop || hop >= maxCNAMEs {
				out.loop = true
				break
			}
			if stop != "" && strings.EqualFold(next, stop) {
				return out
			}
			// Only the asked family: a server may put A records in the
			// answer to an AAAA question.
			addrs = slices.DeleteFunc(addrs, func(a netip.Addr) bool { return a.Is4() != (qtype == dns.TypeA) })
			if qtype == dns.TypeA {
				out.v4 = append(out.v4, addrs...)
			} else {
				out.v6 = append(out.v6, addrs...)
			}
			if len(addrs) > 0 || next == cur {
				break
			}
			cur = next
		}
		if out.loop {
			break
		}
	}
	if len(out.v4)+len(out.v6) == 0 && out.err == "" && !out.loop {
		out.err = "no A or AAAA record"
	}
	return out
}

// followChain walks the CNAMEs from name inside one answer and returns
// the last name reached and the addresses at it; loop is true when a name
// comes back (seen holds the names reached before, and gains these).
func followChain(name string, rrs []dns.RR, seen map[string]bool) (last string, addrs []netip.Addr, loop bool) {
	cur := name
	for range maxRRs {
		moved := false
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				cur, moved = dns.Fqdn(strings.ToLower(c.Target)), true
				break
			}
		}
		if !moved {
			break
		}
		if seen[cur] || len(seen) > maxCNAMEs {
			return cur, nil, true
		}
		seen[cur] = true
	}
	for _, rr := range rrs {
		if !strings.EqualFold(rr.Header().Name, cur) {
			continue
		}
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				addrs = append(addrs, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok && a.Is6() && !a.Is4In6() {
				addrs = append(addrs, a)
			}
		}
	}
	return cur, addrs, false
}

// appendChain adds the CNAME targets from cur to next in rrs to chain.
func appendChain(chain []string, cur, next string, rrs []dns.RR) []string {
	for cur != next && len(chain) <= maxCNAMEs {
		moved := false
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				cur, moved = dns.Fqdn(strings.ToLower(c.Target)), true
				chain = append(chain, cur)
				break
			}
		}
		if !moved {
			break
		}
	}
	return chain
}

// records returns the records of type R at name (no CNAME is followed:
// SRV and TXT owners are never aliases, RFC 2782), or why there are
// none; failed is true when the server gave no usable answer.
func records[R dns.RR](ctx context.Context, r *Resolver, name string, qtype uint16) (out []R, problem string, failed bool) {
	ans := r.query(ctx, name, qtype)
	if p := ans.problem(); p != "" {
		return nil, p, ans.failed()
	}
	for _, rr := range ans.rrs {
		if x, ok := rr.(R); ok && strings.EqualFold(rr.Header().Name, dns.Fqdn(name)) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, "no " + dns.TypeToString[qtype] + " record", false
	}
	return out, "", false
}

// txtAnswer is what a client learns asking name's TXT records: the CNAME
// chain followed and the TXT records at its end.
type txtAnswer struct {
	chain   []string // each CNAME target followed, in order, lower case, fully qualified
	txt     []*dns.TXT
	loop    bool   // the chain came back to a name, or was longer than maxCNAMEs
	failed  bool   // the server gave no usable answer
	problem string // no TXT record: why
}

// texts returns each TXT record's strings joined (RFC 7208 §3.3), cut
// at 512 bytes: an answer is hostile, and ours are short.
func (t txtAnswer) texts() []string {
	out := make([]string, 0, len(t.txt))
	for _, r := range t.txt {
		s := strings.Join(r.Txt, "")
		if len(s) > 512 {
			s = s[:512]
		}
		out = append(out, s)
	}
	return out
}

// lookupTXT asks name's TXT records, following a CNAME chain as a
// resolver does for any type (RFC 1034 §3.6.2): within an answer, and by
// asking the last name again when a server did not expand the chain (an
// authoritative server whose zone the target is not in). At most
// maxCNAMEs names are followed.
func (r *Resolver) lookupTXT(ctx context.Context, name string) txtAnswer {
	var out txtAnswer
	cur := dns.Fqdn(strings.ToLower(name))
	seen := map[string]bool{cur: true}
	for hop := 0; ; hop++ {
		ans := r.query(ctx, cur, dns.TypeTXT)
		if p := ans.problem(); p != "" {
			out.problem, out.failed = p, ans.failed()
			return out
		}
		next, _, loop := followChain(cur, ans.rrs, seen)
		out.chain = appendChain(out.chain, cur, next, ans.rrs)
		if loop || hop >= maxCNAMEs {
			out.loop = true
			return out
		}
		for _, rr := range ans.rrs {
			if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(rr.Header().Name, next) {
				out.txt = append(out.txt, t)
			}
		}
		if len(out.txt) > 0 || next == cur {
			if len(out.txt) == 0 {
				out.problem = "no TXT record"
			}
			return out
		}
		cur = next
	}
}

// Addresses resolves host (a name, or an address) with the pool's first
// resolver: the addresses of MAILAUTOCONF_PUBLIC_HOST, which count as
// ours.
func (p *Pool) Addresses(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if len(p.Resolvers) == 0 {
		return nil, errors.New("no resolver")
	}
	h := p.Resolvers[0].lookupHost(ctx, host, "")
	if len(h.v4)+len(h.v6) == 0 {
		return nil, fmt.Errorf("%s: %s", host, h.err)
	}
	return append(h.v4, h.v6...), nil
}
