package doctor

// Network probing: DNS over miekg/dns, dialing with the port map, HTTP
// requests as each client sends them. Nothing here judges; rules.go and
// the client files do.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxBody bounds every response body the doctor reads; configuration
// documents are a few kilobytes.
const maxBody = 1 << 20

// memo computes each key's value once, even when asked concurrently.
type memo[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*memoEntry[V]
}

type memoEntry[V any] struct {
	once sync.Once
	v    V
}

func (m *memo[K, V]) get(k K, f func() V) V {
	m.mu.Lock()
	if m.m == nil {
		m.m = map[K]*memoEntry[V]{}
	}
	e, ok := m.m[k]
	if !ok {
		e = &memoEntry[V]{}
		m.m[k] = e
	}
	m.mu.Unlock()
	e.once.Do(func() { e.v = f() })
	return e.v
}

// resolver asks one DNS server, over UDP with a TCP retry on truncation.
type resolver struct {
	server  string // host:port
	timeout time.Duration
	cache   memo[dnsKey, dnsAnswer]
}

type dnsKey struct {
	name  string
	qtype uint16
}

// dnsAnswer is the answer section of one query, or the reason there is
// none.
type dnsAnswer struct {
	rcode int
	rrs   []dns.RR
	err   error
}

func (a dnsAnswer) problem() string {
	switch {
	case a.err != nil:
		return a.err.Error()
	case a.rcode == dns.RcodeNameError:
		return "no such name (NXDOMAIN)"
	case a.rcode != dns.RcodeSuccess:
		return dns.RcodeToString[a.rcode]
	}
	return ""
}

func newResolver(server string, timeout time.Duration) (*resolver, error) {
	if server == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return nil, fmt.Errorf("no DNS server: /etc/resolv.conf unreadable and no --resolver given")
		}
		server = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		return nil, fmt.Errorf("--resolver %q: want HOST:PORT", server)
	}
	return &resolver{server: server, timeout: timeout}, nil
}

func (r *resolver) query(ctx context.Context, name string, qtype uint16) dnsAnswer {
	name = dns.Fqdn(strings.ToLower(name))
	return r.cache.get(dnsKey{name, qtype}, func() dnsAnswer {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(4096, false)
		c := &dns.Client{Timeout: r.timeout}
		var in *dns.Msg
		var err error
		for try := 0; try < 2; try++ {
			in, _, err = c.ExchangeContext(ctx, m, r.server)
			if err == nil && in.Truncated {
				tc := &dns.Client{Net: "tcp", Timeout: r.timeout}
				in, _, err = tc.ExchangeContext(ctx, m, r.server)
			}
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return dnsAnswer{err: fmt.Errorf("DNS query %s %s to %s: %v", dns.TypeToString[qtype], name, r.server, err)}
		}
		return dnsAnswer{rcode: in.Rcode, rrs: in.Answer}
	})
}

// queryFollow is query for a type other than an address: when the
// answer holds a CNAME chain from name and no record of qtype at its end
// (an authoritative server whose zone the target is not in), the end is
// asked again, as a resolver would (RFC 1034 §3.6.2), at most 8 names.
// The records returned are those of qtype at the chain's end: a PACC
// client reading _ua-auto-config through a hoster's CNAME
// (docs/pacc.md#one-digest-per-provider) reads the TXT record there.
func (r *resolver) queryFollow(ctx context.Context, name string, qtype uint16) dnsAnswer {
	cur := dns.Fqdn(strings.ToLower(name))
	seen := map[string]bool{cur: true}
	for range 8 {
		ans := r.query(ctx, cur, qtype)
		if ans.problem() != "" {
			return ans
		}
		end := cur
		for moved := true; moved; {
			moved = false
			for _, rr := range ans.rrs {
				if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, end) {
					end, moved = dns.Fqdn(strings.ToLower(c.Target)), true
					if seen[end] {
						return dnsAnswer{err: fmt.Errorf("%s %s: the CNAME chain loops", dns.TypeToString[qtype], name)}
					}
					seen[end] = true
					break
				}
			}
		}
		var at []dns.RR
		for _, rr := range ans.rrs {
			if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, end) {
				at = append(at, rr)
			}
		}
		if len(at) > 0 || end == cur {
			return dnsAnswer{rcode: ans.rcode, rrs: at}
		}
		cur = end
	}
	return dnsAnswer{err: fmt.Errorf("%s %s: a CNAME chain longer than 8 names", dns.TypeToString[qtype], name)}
}

// hostAnswer is what a client learns resolving a host name: the CNAME
// chain and the addresses at its end.
type hostAnswer struct {
	cnames []string // each CNAME target followed, in order
	addrs  []netip.Addr
	err    string // no address: why
}

// maxCNAMEs bounds a CNAME chain, as resolvers do.
const maxCNAMEs = 8

// lookupHost resolves name to addresses (A then AAAA), following CNAMEs
// the server did not expand itself.
func (r *resolver) lookupHost(ctx context.Context, name string) hostAnswer {
	var out hostAnswer
	if a, err := netip.ParseAddr(name); err == nil {
		out.addrs = []netip.Addr{a}
		return out
	}
	var problems []string
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		cur := dns.Fqdn(strings.ToLower(name))
		for hop := 0; hop <= maxCNAMEs; hop++ {
			ans := r.query(ctx, cur, qtype)
			if p := ans.problem(); p != "" {
				problems = append(problems, p)
				break
			}
			next, addrs := followChain(cur, ans.rrs, qtype)
			out.addrs = append(out.addrs, addrs...)
			if qtype == dns.TypeA {
				out.cnames = appendNew(out.cnames, chainTargets(cur, ans.rrs)...)
			}
			if len(addrs) > 0 || next == cur {
				break
			}
			cur = next
		}
	}
	if len(out.addrs) == 0 {
		out.err = "no A or AAAA record"
		if len(problems) > 0 {
			out.err = problems[0]
		}
	}
	return out
}

// followChain walks the CNAMEs from name inside one answer and returns
// the last name reached and the addresses of type qtype at it.
func followChain(name string, rrs []dns.RR, qtype uint16) (string, []netip.Addr) {
	cur := name
	for range maxCNAMEs {
		moved := false
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				cur, moved = strings.ToLower(c.Target), true
				break
			}
		}
		if !moved {
			break
		}
	}
	var addrs []netip.Addr
	for _, rr := range rrs {
		if !strings.EqualFold(rr.Header().Name, cur) {
			continue
		}
		switch v := rr.(type) {
		case *dns.A:
			if qtype == dns.TypeA {
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					addrs = append(addrs, a)
				}
			}
		case *dns.AAAA:
			if qtype == dns.TypeAAAA {
				if a, ok := netip.AddrFromSlice(v.AAAA); ok {
					addrs = append(addrs, a)
				}
			}
		}
	}
	return cur, addrs
}

func chainTargets(name string, rrs []dns.RR) []string {
	var out []string
	cur := name
	for range maxCNAMEs {
		moved := false
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				cur, moved = strings.ToLower(c.Target), true
				out = append(out, cur)
				break
			}
		}
		if !moved {
			break
		}
	}
	return out
}

func appendNew(list []string, vs ...string) []string {
	for _, v := range vs {
		found := false
		for _, l := range list {
			if l == v {
				found = true
			}
		}
		if !found {
			list = append(list, v)
		}
	}
	return list
}

// srvRecord is one published SRV record.
type srvRecord struct {
	Priority, Weight, Port int
	Target                 string
}

func (s srvRecord) String() string {
	return fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target)
}

func (r *resolver) lookupSRV(ctx context.Context, name string) ([]srvRecord, string) {
	return lookup(ctx, r, name, dns.TypeSRV, func(s *dns.SRV) srvRecord {
		return srvRecord{int(s.Priority), int(s.Weight), int(s.Port), strings.ToLower(s.Target)}
	})
}

type mxRecord struct {
	Pref int
	Host string
}

func (r *resolver) lookupMX(ctx context.Context, domain string) ([]mxRecord, string) {
	return lookup(ctx, r, domain, dns.TypeMX, func(m *dns.MX) mxRecord {
		return mxRecord{int(m.Preference), strings.ToLower(m.Mx)}
	})
}

// lookup queries name for qtype and returns its records of type R, as
// conv reads them, or why there are none ("no SRV record" when the
// answer holds none).
func lookup[R dns.RR, T any](ctx context.Context, r *resolver, name string, qtype uint16, conv func(R) T) ([]T, string) {
	ans := r.query(ctx, name, qtype)
	if p := ans.problem(); p != "" {
		return nil, p
	}
	var out []T
	for _, rr := range ans.rrs {
		if x, ok := rr.(R); ok {
			out = append(out, conv(x))
		}
	}
	if len(out) == 0 {
		return nil, "no " + dns.TypeToString[qtype] + " record"
	}
	return out, ""
}

// network is one doctor run's view of the internet: its resolver, its
// trusted roots, its port map and its time limits.
type network struct {
	res     *resolver
	roots   *x509.CertPool
	ports   map[int]int
	timeout time.Duration
	now     func() time.Time
}

// dial connects to host:port the way a client would, after the port
// map: every address of host in turn until one answers.
func (n *network) dial(ctx context.Context, host string, port int) (net.Conn, error) {
	if p, ok := n.ports[port]; ok {
		port = p
	}
	ha := n.res.lookupHost(ctx, host)
	if len(ha.addrs) == 0 {
		return nil, fmt.Errorf("%s: %s", host, ha.err)
	}
	d := net.Dialer{Timeout: n.timeout}
	var firstErr error
	for _, a := range ha.addrs {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(port)))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, simplifyNetErr(firstErr)
}

// simplifyNetErr shortens "dial tcp 127.0.0.1:1: connect: connection
// refused" to its cause.
func simplifyNetErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		msg := oe.Err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		if oe.Timeout() {
			msg = "timed out"
		}
		return errors.New(msg)
	}
	return err
}

// fetch is one HTTP exchange as the doctor saw it.
type fetch struct {
	Method      string        `json:"method"`
	URL         string        `json:"url"`
	Status      int           `json:"status,omitempty"`
	ContentType string        `json:"content_type,omitempty"`
	Location    string        `json:"location,omitempty"`
	Redirects   []string      `json:"redirects,omitempty"` // URLs followed, in order
	Duration    time.Duration `json:"-"`
	// Millis is Duration in milliseconds, rounded up (millis).
	Millis int64  `json:"ms"`
	Err    string `json:"error,omitempty"`
	body   []byte
}

// timed sets f's time from start to now.
func (f *fetch) timed(start time.Time) {
	f.Duration = time.Since(start)
	f.Millis = millis(f.Duration)
}

// millis is d in whole milliseconds, rounded up: a step that asked the
// network reports at least 1 ms, so a 0 in a report is never a step's real
// time.
func millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// request describes one HTTP request a client sends.
type request struct {
	method      string
	url         string
	body        []byte
	contentType string
	accept      string
	userAgent   string // "": the doctor's own
	// maxRedirects is how many redirects the client follows itself;
	// 0 returns the redirect response as is.
	maxRedirects int
}

// do sends r and reads at most maxBody bytes of the answer. Transport
// errors end up in Err, never as a Go error: a failed fetch is a finding.
// The result is named so that the deferred timing lands in what is
// returned, not in a copy.
func (n *network) do(ctx context.Context, r request) (f fetch) {
	f = fetch{Method: r.method, URL: r.url}
	defer f.timed(time.Now())
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			p, _ := strconv.Atoi(port)
			return n.dial(ctx, host, p)
		},
		TLSClientConfig:       &tls.Config{RootCAs: n.roots, Time: n.now},
		TLSHandshakeTimeout:   n.timeout,
		ResponseHeaderTimeout: n.timeout,
		DisableKeepAlives:     true,
		Proxy:                 nil,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   n.timeout * 2,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > r.maxRedirects {
				return http.ErrUseLastResponse
			}
			f.Redirects = append(f.Redirects, req.URL.String())
			return nil
		},
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		f.Err = err.Error()
		return f
	}
	req.Header.Set("User-Agent", cmp.Or(r.userAgent, "mailautoconf-doctor"))
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	resp, err := client.Do(req)
	if err != nil {
		f.Err = describeHTTPErr(err)
		return f
	}
	defer resp.Body.Close()
	f.Status = resp.StatusCode
	f.ContentType = resp.Header.Get("Content-Type")
	f.Location = resp.Header.Get("Location")
	f.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		f.Err = "reading the body: " + describeHTTPErr(err)
	} else if len(f.body) > maxBody {
		f.Err = fmt.Sprintf("body larger than %d bytes", maxBody)
		f.body = nil
	}
	return f
}

// describeHTTPErr turns a client error into the short cause an admin
// acts on.
func describeHTTPErr(err error) string {
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return "TLS: " + certProblem(certErr.Err)
	}
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &hostErr) || errors.As(err, &invalid) || errors.As(err, &unknown) {
		return "TLS: " + certProblem(err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timed out"
		}
		err = ue.Err
	}
	return simplifyNetErr(err).Error()
}

// certProblem names a certificate verification failure.
func certProblem(err error) string {
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &hostErr):
		return "certificate is not valid for " + hostErr.Host
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "certificate expired or not yet valid"
	case errors.As(err, &unknown):
		return "certificate signed by an unknown authority"
	}
	return err.Error()
}
