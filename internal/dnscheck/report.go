package dnscheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// workers bounds the domains CheckAll checks at once; the pace (QPS) is
// what bounds the load on the resolvers, this only the goroutines and the
// answers held out of order.
const workers = 16

// Options are a check of many domains' resolvers, pace and limits
// (`dns --check`'s flags).
type Options struct {
	Resolvers []string // HOST:PORT each; none: the first nameserver of /etc/resolv.conf
	QPS       float64  // queries a second to all resolvers together; 0: unpaced
	Timeout   time.Duration
	JSON      bool // write the report as JSON, not text
	// Lookup is the provider serving a domain (the catalog's Lookup):
	// the autoconfig probe tells our own document behind a proxy by its
	// servers (SameServers).
	Lookup func(domain string) (*provision.Provider, error)
}

// CheckAll checks want's records (the domains' in order) with o's
// resolvers against t, the service's public host and addresses, and
// writes the report to stdout, as text or JSON, in the domains' order;
// the time taken goes to stderr. It returns an error when a required
// record of any domain is not ok (issue 25): the exit status; an optional
// record published wrong (a stale PACC digest) shows in its domain's
// state and the summary, not in the exit status.
func CheckAll(ctx context.Context, want []dnsrecords.Domain, t dnsrecords.Target, o Options, stdout, stderr io.Writer) error {
	pool, err := NewPool(o.Resolvers, o.QPS, o.Timeout)
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
	checker := &Checker{
		Pool:  pool,
		Us:    NewUs(t.Host, addrs...),
		Probe: HTTPProbe(o.Timeout, PoolDialer(pool, o.Timeout), Ours(o.Lookup)),
	}

	start := time.Now()
	rep := NewReport(stdout, o.JSON)
	err = checkInOrder(ctx, checker, want, rep.Domain)
	if err != nil {
		return err
	}
	if err := rep.Finish(pool.Queries()); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "mailautoconf dns: checked %s with %s in %v, %s\n", plural(len(want), "domain"),
		plural(len(pool.Resolvers), "resolver"), time.Since(start).Round(time.Millisecond), plural(int(rep.Summary.Queries), "query"))
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check interrupted: %w", err)
	}
	if rep.Failing > 0 {
		return fmt.Errorf("%d of %s: a required record not ok (docs/guide/dns.md#states)", rep.Failing, plural(len(want), "domain"))
	}
	return nil
}

// checkInOrder checks the domains with workers goroutines and hands each
// result to emit in the domains' order, as soon as the ones before it
// are done; emit is called from one goroutine at a time. An error of
// emit (stdout closed) stops the check.
func checkInOrder(ctx context.Context, c *Checker, want []dnsrecords.Domain, emit func(Domain) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var (
		mu      sync.Mutex
		pending = map[int]Domain{}
		next    int
		emitErr error
		wg      sync.WaitGroup
	)
	for range min(workers, len(want)) {
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

// PoolDialer is a dialer for HTTPProbe that resolves the host with the
// pool's own resolvers, so that the probe reaches what those resolvers
// say the name leads to, not what the local resolver says.
func PoolDialer(pool *Pool, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
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

// Summary counts records and domains by state, for the text report's
// last lines and the JSON report's "summary".
type Summary struct {
	Records map[string]int `json:"records"`
	Domains map[string]int `json:"domains"`
	Queries int64          `json:"queries"`
}

// newSummary is a Summary with every state at 0, so that each shows.
func newSummary() Summary {
	s := Summary{Records: map[string]int{}, Domains: map[string]int{}}
	for _, st := range States {
		s.Records[st.String()], s.Domains[st.String()] = 0, 0
	}
	return s
}

func (s *Summary) add(d Domain) {
	for _, r := range d.Records {
		s.Records[r.State.String()]++
	}
	s.Domains[d.State.String()]++
}

func countsLine(m map[string]int) string {
	parts := make([]string, len(States))
	for i, st := range States {
		parts[i] = fmt.Sprintf("%s %d", st, m[st.String()])
	}
	return strings.Join(parts, ", ")
}

// Report writes a check's results, as text or as JSON:
// {"domains":[Domain...],"summary":Summary}, streamed so that a check of
// many domains holds none it has written. Domain writes each domain,
// Finish the summary.
type Report struct {
	Summary Summary
	// Failing counts the domains with a required record not ok.
	Failing int
	w       io.Writer
	asJSON  bool
	n       int
}

// NewReport is a report to w, as JSON when asJSON.
func NewReport(w io.Writer, asJSON bool) *Report {
	return &Report{Summary: newSummary(), w: w, asJSON: asJSON}
}

// Domain counts d and writes it.
func (r *Report) Domain(d Domain) error {
	r.Summary.add(d)
	if !d.RequiredOK() {
		r.Failing++
	}
	defer func() { r.n++ }()
	if r.asJSON {
		return r.writeJSON(d)
	}
	return WriteText(r.w, d)
}

func (r *Report) writeJSON(d Domain) error {
	b, err := json.MarshalIndent(d, "    ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n    "
	if r.n == 0 {
		sep = "{\n  \"domains\": [\n    "
	}
	_, err = io.WriteString(r.w, sep+string(b))
	return err
}

// WriteText writes a line for the domain and one per record: the state
// (with "optional" for an optional record's), the type and name, and for
// a record that is not ok what is published instead, why, and the record
// to publish.
func WriteText(w io.Writer, d Domain) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", d.Domain, d.State)
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, r := range d.Records {
		state := r.State.String()
		if !r.Required && r.State != OK {
			state += " (optional)"
		}
		fmt.Fprintf(&b, "  %-19s %-5s %s", state, r.Type, r.Name)
		if r.State != OK {
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
	_, err := io.WriteString(w, b.String())
	return err
}

// Finish writes the summary, with queries, the queries the check sent:
// as text, the records' and the domains' counts by state; as JSON, the
// summary and the document's end.
func (r *Report) Finish(queries int64) error {
	r.Summary.Queries = queries
	if r.asJSON {
		b, err := json.MarshalIndent(r.Summary, "  ", "  ")
		if err != nil {
			return err
		}
		head := "\n  ],\n"
		if r.n == 0 {
			head = "{\n  \"domains\": [],\n"
		}
		_, err = io.WriteString(r.w, head+"  \"summary\": "+string(b)+"\n}\n")
		return err
	}
	_, err := fmt.Fprintf(r.w, "records: %s\ndomains: %s\n", countsLine(r.Summary.Records), countsLine(r.Summary.Domains))
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
