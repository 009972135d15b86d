// Package doctor replays, for one e-mail address, what each mail client
// does to configure itself (docs/clients.md) against live DNS and HTTP(S),
// and says client by client whether it would succeed, and why not.
//
// The client rules are pure functions (rules.go, autodiscover.go,
// apple.go); the network probing lives in net.go and probe.go; the
// lookup sequences of each client in clients.go, and of the clients read
// since, rules and sequence together, one file each (geary.go, gnome.go,
// aerc.go, claws.go, nextcloud.go, thunderbirdios.go; docs/clients/). The DNS records are
// judged by internal/dnscheck, as `dns --check` judges them (dnscheck.go). It works for any domain,
// not only those of our catalog. It never logs in anywhere.
package doctor

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// Status is a client's or a check's outcome.
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn" // works, with a prompt, a fallback or a risk
	Fail Status = "fail" // the client will not configure itself
	Info Status = "info" // a fact, neither good nor bad
)

func worse(a, b Status) Status {
	rank := map[Status]int{Info: 0, Pass: 1, Warn: 2, Fail: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Options configure one run.
type Options struct {
	// Resolver is the DNS server (host:port) to ask; empty uses the
	// first nameserver of /etc/resolv.conf.
	Resolver string
	// Roots are the trusted roots; nil uses the system's.
	Roots *x509.CertPool
	// PortMap replaces a standard port wherever a client would use it
	// (443 -> 18443 for tests and private setups).
	PortMap map[int]int
	// Timeout bounds each connection, handshake and response header
	// (Thunderbird waits 5 s); default 5 s.
	Timeout time.Duration
	// Expected is the provider the domain should advertise, from our
	// catalog: every record `mailautoconf dns` prints is then judged by
	// dnscheck's rules. nil: only autoconfig.<d> and autodiscover.<d> are
	// judged (by Target), and the SRV records are shown beside the
	// configuration the domain itself serves.
	Expected *provision.Provider
	// Target is where autoconfig.<d> and autodiscover.<d> should point
	// (MAILAUTOCONF_PUBLIC_HOST, ...); zero checks only that they resolve.
	Target dnsrecords.Target
	// Now is the clock for certificate checks; nil is time.Now.
	Now func() time.Time
}

// Report is the outcome of one run.
type Report struct {
	Address      string           `json:"address"`
	Domain       string           `json:"domain"`
	Clients      []*ClientResult  `json:"clients"`
	DNS          []Finding        `json:"dns"`
	Certificates []CertInfo       `json:"certificates"`
	Endpoints    []EndpointResult `json:"endpoints"`
}

// Failed reports whether any client fails, or another service answers
// for one of the domain's names (a dnscheck conflict, such as a stale
// Microsoft 365 Autodiscover): real clients then take that service's
// answer, whatever the replay found through other names.
func (rep *Report) Failed() bool {
	return slices.ContainsFunc(rep.Clients, func(c *ClientResult) bool { return c.Status == Fail }) ||
		slices.ContainsFunc(rep.DNS, func(f Finding) bool { return f.conflict })
}

// ClientResult is one client's replayed lookup.
type ClientResult struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
	Fix    string `json:"fix,omitempty"`
	// Source is the URL whose answer the client would use.
	Source   string    `json:"source,omitempty"`
	Incoming *Endpoint `json:"incoming,omitempty"`
	Outgoing *Endpoint `json:"outgoing,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
	Steps    []Step    `json:"steps"`
	// servers are every server the accepted answer advertised.
	servers []Endpoint
	// warnings say why a working client is a warning.
	warnings []string
}

// Step is one request or lookup a client makes, and what it made of it.
type Step struct {
	fetch
	Result string `json:"result"`
}

// Finding is one DNS, certificate or endpoint observation.
type Finding struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	// conflict: another service answers for the name (Failed).
	conflict bool
}

// run is the state of one doctor run, shared by the client goroutines.
type run struct {
	net *network
	// pool is dnscheck's resolver on the same server: the DNS findings
	// are judged by dnscheck's rules (dnscheck.go).
	pool   *dnscheck.Pool
	id     ident
	domain string
	opts   Options

	endpoints memo[endpointKey, EndpointResult]
	certs     memo[string, CertInfo]
	mu        sync.Mutex
	httpsSeen []string
}

// Run replays every client's lookup for address. It returns an error
// only for unusable input or options; every network problem is a
// finding in the report.
func Run(ctx context.Context, address string, opts Options) (*Report, error) {
	addr, err := provision.ParseAddress(address)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	roots := opts.Roots
	if roots == nil {
		if roots, err = x509.SystemCertPool(); err != nil {
			return nil, fmt.Errorf("system roots: %w", err)
		}
	}
	res, err := newResolver(opts.Resolver, opts.Timeout)
	if err != nil {
		return nil, err
	}
	var servers []string
	if opts.Resolver != "" {
		servers = []string{opts.Resolver}
	}
	pool, err := dnscheck.NewPool(servers, 0, opts.Timeout)
	if err != nil {
		return nil, err
	}
	r := &run{
		net:    &network{res: res, roots: roots, ports: opts.PortMap, timeout: opts.Timeout, now: opts.Now},
		pool:   pool,
		id:     newIdent(addr.Local, addr.Domain),
		domain: addr.Domain,
		opts:   opts,
	}
	rep := &Report{Address: addr.String(), Domain: addr.Domain}
	clients := r.clients()
	rep.Clients = make([]*ClientResult, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &ClientResult{ID: c.id, Name: c.name}
			c.run(ctx, res)
			rep.Clients[i] = res
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.DNS = r.checkDNS(ctx, rep)
	rep.Certificates = r.certList()
	rep.Endpoints = r.endpointList()
	return rep, nil
}

// get fetches for a client and records the step.
func (r *run) get(ctx context.Context, c *ClientResult, req request) (*Step, fetch) {
	f := r.net.do(ctx, req)
	for _, u := range append([]string{req.url}, f.Redirects...) {
		if h, ok := httpsHost(u); ok {
			r.noteHTTPS(ctx, h)
		}
	}
	c.Steps = append(c.Steps, Step{fetch: f})
	return &c.Steps[len(c.Steps)-1], f
}

func httpsHost(u string) (string, bool) {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		return "", false
	}
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, "?")
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.ToLower(host), host != ""
}

// noteHTTPS checks the certificate of an HTTPS name once per run.
func (r *run) noteHTTPS(ctx context.Context, host string) {
	r.mu.Lock()
	seen := slices.Contains(r.httpsSeen, host)
	if !seen {
		r.httpsSeen = append(r.httpsSeen, host)
	}
	r.mu.Unlock()
	if !seen {
		r.certs.get(host, func() CertInfo { return r.net.probeCert(ctx, host, 443) })
	}
}

func (r *run) certList() []CertInfo {
	r.mu.Lock()
	hosts := slices.Clone(r.httpsSeen)
	r.mu.Unlock()
	slices.Sort(hosts)
	var out []CertInfo
	for _, h := range hosts {
		out = append(out, r.certs.get(h, nil))
	}
	return out
}

func (r *run) probe(ctx context.Context, e Endpoint) EndpointResult {
	return r.endpoints.get(e.key(), func() EndpointResult { return r.net.probeEndpoint(ctx, e) })
}

func (r *run) endpointList() []EndpointResult {
	r.endpoints.mu.Lock()
	keys := make([]endpointKey, 0, len(r.endpoints.m))
	for k := range r.endpoints.m {
		keys = append(keys, k)
	}
	r.endpoints.mu.Unlock()
	slices.SortFunc(keys, func(a, b endpointKey) int {
		return strings.Compare(fmt.Sprintf("%s %s %05d %s", a.protocol, a.host, a.port, a.socket), fmt.Sprintf("%s %s %05d %s", b.protocol, b.host, b.port, b.socket))
	})
	var out []EndpointResult
	for _, k := range keys {
		out = append(out, r.endpoints.get(k, nil))
	}
	return out
}
