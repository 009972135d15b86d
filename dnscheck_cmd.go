package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// checkWorkers bounds the domains `dns --check` checks at once; the pace
// (--qps) is what bounds the load on the resolvers, this only the
// goroutines and the answers held out of order.
const checkWorkers = 16

// checkOptions are `dns --check`'s flags.
type checkOptions struct {
	check     bool
	resolvers []string
	qps       float64
	timeout   time.Duration
}

// addCheckFlags declares --check, --resolver (repeatable), --qps and
// --timeout on fs.
func addCheckFlags(fs *flag.FlagSet) *checkOptions {
	o := &checkOptions{}
	fs.BoolVar(&o.check, "check", false, "check what DNS publishes against the records each domain needs (states: docs/guide/dns.md#states); exit status 1 when a required record is not ok")
	fs.Func("resolver", "DNS server to ask, HOST:PORT; repeat it to ask several (a record is ok only when every one agrees); default: the first nameserver of /etc/resolv.conf", func(s string) error {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			return fmt.Errorf("%q: want HOST:PORT, e.g. 192.0.2.53:53 or [2001:db8::53]:53", s)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%q: port %q is not 1 to 65535", s, port)
		}
		o.resolvers = append(o.resolvers, s)
		return nil
	})
	fs.Float64Var(&o.qps, "qps", 50, "queries a second to all resolvers together, with --check (0: unpaced)")
	fs.DurationVar(&o.timeout, "timeout", dnscheck.DefaultTimeout, "limit for each DNS query and each autoconfig probe, with --check")
	return o
}

// validate says what is wrong with the check's flags; set holds the
// flags given on the command line.
func (o *checkOptions) validate(set map[string]bool) error {
	if !o.check {
		for _, f := range []string{"resolver", "qps", "timeout"} {
			if set[f] {
				return fmt.Errorf("--%s needs --check", f)
			}
		}
		return nil
	}
	if o.qps < 0 || math.IsNaN(o.qps) || math.IsInf(o.qps, 0) {
		return fmt.Errorf("--qps %v: want 0 (unpaced) or more queries a second", o.qps)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout %v: want a positive duration, e.g. 3s", o.timeout)
	}
	return nil
}

// checkSummary counts records and domains by state, for the summary
// line and --json's "summary".
type checkSummary struct {
	Records map[string]int `json:"records"`
	Domains map[string]int `json:"domains"`
	Queries int64          `json:"queries"`
}

func newCheckSummary() checkSummary {
	s := checkSummary{Records: map[string]int{}, Domains: map[string]int{}}
	for _, st := range dnscheck.States {
		s.Records[st.String()], s.Domains[st.String()] = 0, 0
	}
	return s
}

func (s *checkSummary) add(d dnscheck.Domain) {
	for _, r := range d.Records {
		s.Records[r.State.String()]++
	}
	s.Domains[d.State.String()]++
}

func countsLine(m map[string]int) string {
	parts := make([]string, len(dnscheck.States))
	for i, st := range dnscheck.States {
		parts[i] = fmt.Sprintf("%s %d", st, m[st.String()])
	}
	return strings.Join(parts, ", ")
}

// runCheck checks want's records (the domains' in order) with o's
// resolvers and writes the result to stdout, as text or JSON, in the
// domains' order. It returns an error when a required record of any
// domain is not ok (issue 25): the exit status; an optional record
// published wrong (a stale PACC digest) shows in its domain's state and
// the summary, not in the exit status.
func runCheck(ctx context.Context, cat *provision.Catalog, want []dnsrecords.Domain, t dnsrecords.Target, o *checkOptions, asJSON bool, stdout, stderr io.Writer) error {
	if t.Host == "" && len(t.IPv4)+len(t.IPv6) == 0 {
		return fmt.Errorf("--check needs the service's public host or addresses to compare with: set %s_PUBLIC_HOST (or --public-host), or --ipv4/--ipv6", envPrefix)
	}
	pool, err := dnscheck.NewPool(o.resolvers, o.qps, o.timeout)
	if err != nil {
		return err
	}
	addrs := append(slices.Clone(t.IPv4), t.IPv6...)
	if t.Host != "" {
		a, err := pool.Addresses(ctx, t.Host)
		if err != nil {
			fmt.Fprintf(stderr, "mailautoconf dns: public host %s: %v; only CNAMEs to it (or --ipv4/--ipv6) count as pointing at us\n", t.Host, err)
		}
		addrs = append(addrs, a...)
	}
	checker := &dnscheck.Checker{
		Pool:  pool,
		Us:    dnscheck.NewUs(t.Host, addrs...),
		Probe: dnscheck.HTTPProbe(o.timeout, poolDial(pool, o.timeout), ourDocument(cat)),
	}

	start := time.Now()
	out := newCheckOutput(stdout, asJSON)
	sum := newCheckSummary()
	failing := 0
	err = checkInOrder(ctx, checker, want, func(d dnscheck.Domain) error {
		sum.add(d)
		if !d.RequiredOK() {
			failing++
		}
		return out.domain(d)
	})
	if err != nil {
		return err
	}
	sum.Queries = pool.Queries()
	if err := out.summary(sum); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "mailautoconf dns: checked %s with %s in %v, %s\n", plural(len(want), "domain"),
		plural(len(pool.Resolvers), "resolver"), time.Since(start).Round(time.Millisecond), plural(int(sum.Queries), "query"))
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check interrupted: %w", err)
	}
	if failing > 0 {
		return fmt.Errorf("%d of %s: a required record not ok (docs/guide/dns.md#states)", failing, plural(len(want), "domain"))
	}
	return nil
}

// checkInOrder checks the domains with checkWorkers goroutines and hands
// each result to emit in the domains' order, as soon as the ones before
// it are done; emit is called from one goroutine at a time. An error of
// emit (stdout closed) stops the check.
func checkInOrder(ctx context.Context, c *dnscheck.Checker, want []dnsrecords.Domain, emit func(dnscheck.Domain) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var (
		mu      sync.Mutex
		pending = map[int]dnscheck.Domain{}
		next    int
		emitErr error
		wg      sync.WaitGroup
	)
	for range min(checkWorkers, len(want)) {
		wg.Go(func() {
			for i := range jobs {
				d := c.Check(ctx, want[i])
				mu.Lock()
				pending[i] = d
				for emitErr == nil {
					d, ok := pending[next]
					if !ok {
						break
					}
					delete(pending, next)
					next++
					if emitErr = emit(d); emitErr != nil {
						cancel()
					}
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range want {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return emitErr
}

// poolDial is the probe's dialer: it resolves the host with the check's
// own resolvers, so that the probe reaches what those resolvers say the
// name leads to, not what the local resolver says.
func poolDial(pool *dnscheck.Pool, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := pool.Addresses(ctx, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

// ourDocument tells our own autoconfig document, served through a proxy
// or another name, from another service's: it is ours when it names the
// same incoming and outgoing servers (host and port) as the catalog's
// provider of the domain.
func ourDocument(cat *provision.Catalog) func(domain string, doc *etree.Document) bool {
	return func(domain string, doc *etree.Document) bool {
		p, err := cat.Lookup(domain)
		if err != nil {
			return false
		}
		var want, got []string
		for _, s := range append(p.AdvertisedIncoming(), p.AdvertisedOutgoing()...) {
			want = append(want, serverKey(s.Host, strconv.Itoa(s.Port)))
		}
		for _, e := range doc.FindElements("/clientConfig/emailProvider/*") {
			if e.Tag != "incomingServer" && e.Tag != "outgoingServer" {
				continue
			}
			got = append(got, serverKey(textOf(e, "hostname"), textOf(e, "port")))
		}
		slices.Sort(want)
		slices.Sort(got)
		return len(got) > 0 && slices.Equal(slices.Compact(want), slices.Compact(got))
	}
}

func serverKey(host, port string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".") + ":" + strings.TrimSpace(port)
}

func textOf(e *etree.Element, tag string) string {
	if c := e.SelectElement(tag); c != nil {
		return c.Text()
	}
	return ""
}

// checkOutput writes the check's results, as text or as JSON:
// {"domains":[dnscheck.Domain...],"summary":{...}}, streamed so that a
// check of many domains holds none it has written.
type checkOutput struct {
	w      io.Writer
	asJSON bool
	n      int
}

func newCheckOutput(w io.Writer, asJSON bool) *checkOutput { return &checkOutput{w: w, asJSON: asJSON} }

func (o *checkOutput) domain(d dnscheck.Domain) error {
	defer func() { o.n++ }()
	if o.asJSON {
		return o.jsonDomain(d)
	}
	return o.textDomain(d)
}

func (o *checkOutput) jsonDomain(d dnscheck.Domain) error {
	b, err := json.MarshalIndent(d, "    ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n    "
	if o.n == 0 {
		sep = "{\n  \"domains\": [\n    "
	}
	_, err = io.WriteString(o.w, sep+string(b))
	return err
}

// textDomain writes a line for the domain and one per record: the state
// (with "optional" for an optional record's), the type and name, and for
// a record that is not ok what is published instead, why, and the record
// to publish.
func (o *checkOutput) textDomain(d dnscheck.Domain) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", d.Domain, d.State)
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, r := range d.Records {
		state := r.State.String()
		if !r.Required && r.State != dnscheck.OK {
			state += " (optional)"
		}
		fmt.Fprintf(&b, "  %-19s %-5s %s", state, r.Type, r.Name)
		if r.State != dnscheck.OK {
			if r.Found != "" {
				fmt.Fprintf(&b, " | found: %s", oneLine(r.Found))
			}
			if r.Detail != "" {
				fmt.Fprintf(&b, " | %s", oneLine(r.Detail))
			}
			fmt.Fprintf(&b, " | fix: %s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(o.w, b.String())
	return err
}

// oneLine keeps what DNS answered on one line of the output: an answer
// is hostile text, and a newline in it would forge a line of its own.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func (o *checkOutput) summary(s checkSummary) error {
	if o.asJSON {
		b, err := json.MarshalIndent(s, "  ", "  ")
		if err != nil {
			return err
		}
		head := "\n  ],\n"
		if o.n == 0 {
			head = "{\n  \"domains\": [],\n"
		}
		_, err = io.WriteString(o.w, head+"  \"summary\": "+string(b)+"\n}\n")
		return err
	}
	_, err := fmt.Fprintf(o.w, "records: %s\ndomains: %s\n", countsLine(s.Records), countsLine(s.Domains))
	return err
}

// plural is "1 domain", "2 domains"; "query" becomes "queries".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	}
	return fmt.Sprintf("%d %ss", n, word)
}
