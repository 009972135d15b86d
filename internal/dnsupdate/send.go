package dnsupdate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ErrForeign is the error of a plan that would replace records this
// service did not write, without force.
var ErrForeign = errors.New("held by records this service did not write")

// Message builds the plan's one update message (RFC 2136 §2): the zone,
// prerequisites that the names hold exactly what was read (§2.4.2, and
// §2.4.5 for a name that held nothing), so that a change made by someone
// else since then makes the server refuse the whole message; then, for
// each change, the RRset deleted whole (§2.5.2) and the new one added
// (§2.5.1). It is not signed: Apply signs it.
func (p *Plan) Message() *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(p.Zone.Name)
	if len(p.read) > 0 {
		rrs := make([]dns.RR, len(p.read))
		for i, rr := range p.read {
			rrs[i] = dns.Copy(rr) // Used sets class and TTL in place
		}
		m.Used(rrs)
	}
	for _, name := range p.absent {
		m.NameNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name}}})
	}
	// Every deletion before any addition: a server ignores a CNAME added
	// to a name that still holds other data (RFC 2136 §3.4.2.2), and
	// the updates are applied in order (§3.4.2).
	for _, c := range p.Changes {
		switch {
		case c.Type == "ANY":
			m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: c.Name}}})
		case len(c.Old) > 0:
			m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: c.Name, Rrtype: dns.StringToType[c.Type]}}})
		}
	}
	for _, c := range p.Changes {
		if len(c.New) > 0 {
			rrs := make([]dns.RR, len(c.New))
			for i, rr := range c.New {
				rrs[i] = dns.Copy(rr)
			}
			m.Insert(rrs)
		}
	}
	return m
}

// Apply sends the plan's update, signed with the zone's key, over TCP,
// and returns once the server has answered. An empty plan sends nothing.
// A plan with foreign names is ErrForeign, and sends nothing. Every
// error names the domain, the zone, the server and the key (never its
// secret), and says what to do.
func (u *Updater) Apply(ctx context.Context, p *Plan) error {
	if len(p.Foreign) > 0 {
		return fmt.Errorf("%s: %w: %s; nothing changed in %s (--force replaces them)", p.Domain, ErrForeign, strings.Join(p.Foreign, "; "), p.Domain)
	}
	if p.Empty() {
		return nil
	}
	z := p.Zone
	m := p.Message()
	m.SetTsig(z.Key.Name, z.Key.Algorithm, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: u.timeout(), TsigSecret: map[string]string{z.Key.Name: z.Key.secret}}
	ctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	if u.Sent != nil {
		u.Sent()
	}
	in, _, err := c.ExchangeContext(ctx, m, z.Server)
	where := fmt.Sprintf("update of zone %s at %s with key %s", strings.TrimSuffix(z.Name, "."), z.Server, z.Key)
	// A server that does not accept the key answers NOTAUTH with a TSIG
	// error (RFC 8945 §5.2) and an unsigned MAC, which the client then
	// fails to verify: the server's word comes first.
	if in != nil {
		if t := in.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
			return fmt.Errorf("%s: %s: the server did not accept the key (TSIG %s): check the key's name, algorithm and secret against the server's; nothing changed", p.Domain, where, dns.RcodeToString[int(t.Error)])
		}
	}
	if err != nil {
		authErr := errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrTime)
		switch {
		case authErr && in != nil && in.Rcode != dns.RcodeSuccess:
			// An error answer the server did not sign (BIND's NOTAUTH
			// for a zone it does not serve): nothing was applied, and
			// the rcode says why.
		case authErr:
			return fmt.Errorf("%s: %s: the answer's TSIG signature does not verify (%v): is the secret the server's? The server said the update succeeded; run --apply again to see what it holds", p.Domain, where, err)
		default:
			return fmt.Errorf("%s: %s: server unreachable or silent: %v", p.Domain, where, simplify(err))
		}
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeRefused:
		return fmt.Errorf("%s: %s: REFUSED: the server's update-policy (BIND), acl (Knot) or TSIG-ALLOW-DNSUPDATE (PowerDNS) does not let this key change the zone; nothing changed", p.Domain, where)
	case dns.RcodeNotAuth:
		return fmt.Errorf("%s: %s: NOTAUTH: the server is not the primary of this zone, or did not accept the key; nothing changed", p.Domain, where)
	case dns.RcodeNXRrset, dns.RcodeYXRrset, dns.RcodeYXDomain, dns.RcodeNameError:
		return fmt.Errorf("%s: %s: %s: the records changed since they were read (a prerequisite failed); nothing changed: run again", p.Domain, where, dns.RcodeToString[in.Rcode])
	}
	return fmt.Errorf("%s: %s: the server answered %s; nothing changed", p.Domain, where, dns.RcodeToString[in.Rcode])
}

// simplify shortens a network error.
func simplify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out")
	}
	return err
}
