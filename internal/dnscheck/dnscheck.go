// Package dnscheck compares the DNS records a served domain should
// publish (internal/dnsrecords) with what DNS servers answer, and says of
// each record one of four states: ok, missing, drift or conflict
// (docs/guide/dns.md#states). `dns --check`, the watch in serve and the
// doctor all judge by these rules.
package dnscheck

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnsrecords"
)

// State is what a check found of one record, or of a domain.
type State uint8

// The states, from best to worst: a domain's state is its worst
// record's.
const (
	// OK: published as it should be; for a host name, it points at us.
	OK State = iota
	// Missing: not published, or no server would say.
	Missing
	// Drift: published, but pointing elsewhere or holding another value
	// (a stale PACC digest, other SRV targets, a CNAME loop).
	Drift
	// Conflict: another service answers for the name: Autodiscover
	// leading to Microsoft 365 or any host not ours, or another server
	// answering the autoconfig URL.
	Conflict
)

// States lists every state, best first.
var States = []State{OK, Missing, Drift, Conflict}

var stateNames = [...]string{"ok", "missing", "drift", "conflict"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// MarshalText writes the state's word, for JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's word.
func (s *State) UnmarshalText(b []byte) error {
	p, ok := ParseState(string(b))
	if !ok {
		return fmt.Errorf("state %q: want ok, missing, drift or conflict", b)
	}
	*s = p
	return nil
}

// ParseState reads a state's word.
func ParseState(w string) (State, bool) {
	i := slices.Index(stateNames[:], w)
	return State(max(i, 0)), i >= 0
}

// Us is what "points at us" means: a CNAME chain reaching Host
// (MAILAUTOCONF_PUBLIC_HOST), or an A/AAAA set equal to Addrs
// (MAILAUTOCONF_PUBLIC_IPV4/_IPV6, and those of the public host).
type Us struct {
	Host  string // fully qualified, lower case; "" when unset
	Addrs []netip.Addr
}

// NewUs builds Us from the public host and addresses.
func NewUs(host string, addrs ...netip.Addr) Us {
	u := Us{}
	if host != "" {
		u.Host = dns.Fqdn(strings.ToLower(host))
	}
	for _, a := range addrs {
		if a = a.Unmap(); !slices.Contains(u.Addrs, a) {
			u.Addrs = append(u.Addrs, a)
		}
	}
	return u
}

// sameSet reports whether found holds exactly our addresses of its
// family (is4), and at least one.
func (u Us) sameSet(found []netip.Addr, is4 bool) bool {
	if len(found) == 0 {
		return false
	}
	var ours []netip.Addr
	for _, a := range u.Addrs {
		if a.Is4() == is4 {
			ours = append(ours, a)
		}
	}
	for _, a := range found {
		if !slices.Contains(ours, a.Unmap()) {
			return false
		}
	}
	for _, a := range ours {
		if !slices.Contains(found, a) {
			return false
		}
	}
	return true
}

// Record is one record to publish and what the check found of it.
type Record struct {
	dnsrecords.Record
	State State `json:"state"`
	// Found is what is published instead, when the state is not ok.
	Found string `json:"found,omitempty"`
	// Detail says why the state is what it is, when it is not ok.
	Detail string `json:"detail,omitempty"`
}

// Domain is the check of one domain's records.
type Domain struct {
	Domain string `json:"domain"`
	// State is the worst state of the records, where an optional record
	// that is missing counts as ok.
	State   State    `json:"state"`
	Records []Record `json:"records"`
	// Notes are dnsrecords' notes: records that could not be derived.
	Notes []string `json:"notes,omitempty"`
}

// Counts reports whether a record of state s counts in the domain's state:
// an optional record may be missing.
func Counts(r dnsrecords.Record, s State) bool { return s != Missing || r.Required }

// PointsAtUs reports whether the check saw host name name (autoconfig.<d>,
// autodiscover.<d>, ua-auto-config.<d>; any letter case, with or without
// the final dot) point at us, and whether it checked the name at all.
func (d Domain) PointsAtUs(name string) (ok, checked bool) {
	name = dns.Fqdn(strings.ToLower(name))
	ok = true
	for _, r := range d.Records {
		if r.Name != name || !isHostRecord(r.Type) {
			continue
		}
		checked = true
		ok = ok && r.State == OK
	}
	return ok && checked, checked
}

// RequiredOK reports whether every required record is ok.
func (d Domain) RequiredOK() bool {
	for _, r := range d.Records {
		if r.Required && r.State != OK {
			return false
		}
	}
	return true
}

func isHostRecord(typ string) bool { return typ == "CNAME" || typ == "A" || typ == "AAAA" }

// Probe asks the autoconfig URL of a host name that does not point at us
// (https://autoconfig.<d>/mail/config-v1.1.xml) and says whether another
// service answers it with a configuration document, and what it answered.
type Probe func(ctx context.Context, domain, host string) (foreign bool, what string)

// Checker checks domains' records against what its resolvers answer.
type Checker struct {
	Pool *Pool
	Us   Us
	// Probe, when set, tells drift from conflict for autoconfig names
	// that lead elsewhere; nil: they are drift.
	Probe Probe
}

// Check checks every record of want (dnsrecords.Derive's records of one
// domain) with every resolver of the pool: a record is ok only when each
// resolver's answer is; otherwise it takes the worst state any gave.
// It returns when ctx ends, with what it could not ask missing.
func (c *Checker) Check(ctx context.Context, want dnsrecords.Domain) Domain {
	out := Domain{Domain: want.Domain, Records: make([]Record, len(want.Records)), Notes: want.Notes}
	for i, r := range want.Records {
		out.Records[i].Record = r
	}
	for i, res := range c.Pool.Resolvers {
		got := c.checkWith(ctx, res.forCheck(), want)
		for j := range got {
			r := &out.Records[j]
			switch {
			case i == 0:
				r.State, r.Found, r.Detail = got[j].state, got[j].found, got[j].detail
			case got[j].state != r.State:
				if !strings.HasPrefix(r.Detail, "resolvers disagree") {
					r.Detail = fmt.Sprintf("resolvers disagree: %s says %s%s", c.Pool.Resolvers[0].server, r.State, parenthesize(r.Detail))
				}
				r.Detail += fmt.Sprintf("; %s says %s%s", res.server, got[j].state, parenthesize(got[j].detail))
				if got[j].state > r.State {
					r.State, r.Found = got[j].state, got[j].found
				}
			}
		}
	}
	for _, r := range out.Records {
		if Counts(r.Record, r.State) && r.State > out.State {
			out.State = r.State
		}
	}
	return out
}

func parenthesize(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// verdict is one resolver's judgement of one record.
type verdict struct {
	state         State
	found, detail string
}

// checkWith judges each record of want by what res answers, asking each
// name and type once.
func (c *Checker) checkWith(ctx context.Context, res *Resolver, want dnsrecords.Domain) []verdict {
	out := make([]verdict, len(want.Records))
	done := make([]bool, len(want.Records))
	for i, w := range want.Records {
		if done[i] {
			continue
		}
		// The records sharing this one's owner and kind are judged
		// together: the host records of a name, the SRV set of a name.
		var group []int
		for j := i; j < len(want.Records); j++ {
			o := want.Records[j]
			if !done[j] && o.Name == w.Name && (o.Type == w.Type || isHostRecord(o.Type) && isHostRecord(w.Type)) {
				group = append(group, j)
				done[j] = true
			}
		}
		recs := make([]dnsrecords.Record, len(group))
		for k, j := range group {
			recs[k] = want.Records[j]
		}
		var vs []verdict
		switch {
		case w.Type == "CNAME" && strings.HasPrefix(w.Name, "_"):
			// Not a host name: _ua-auto-config.<d> leading to the
			// provider's one PACC TXT record (pacc_txt).
			vs = c.alias(ctx, res, w.Name, recs)
		case isHostRecord(w.Type):
			vs = c.hostName(ctx, res, want.Domain, w.Name, recs)
		case w.Type == "SRV":
			vs = c.srvSet(ctx, res, want.Domain, w.Name, recs)
		case w.Type == "TXT":
			vs = c.txt(ctx, res, w.Name, recs)
		default:
			vs = make([]verdict, len(recs))
			for k := range vs {
				vs[k] = verdict{state: Missing, detail: "not checked: record type " + w.Type}
			}
		}
		for k, j := range group {
			out[j] = vs[k]
		}
	}
	return out
}

// hostName judges the records of one host name: a CNAME to the public
// host, or A/AAAA records of our addresses.
func (c *Checker) hostName(ctx context.Context, res *Resolver, domain, name string, want []dnsrecords.Record) []verdict {
	h := res.lookupHost(ctx, name, c.Us.Host)
	viaHost := c.Us.Host != "" && slices.Contains(h.chain, c.Us.Host)
	out := make([]verdict, len(want))
	for i, w := range want {
		var ok bool
		switch w.Type {
		case "CNAME":
			ok = viaHost || len(h.v4)+len(h.v6) > 0 &&
				(len(h.v4) == 0 || c.Us.sameSet(h.v4, true)) && (len(h.v6) == 0 || c.Us.sameSet(h.v6, false))
		case "A":
			ok = viaHost || c.Us.sameSet(h.v4, true)
		case "AAAA":
			ok = viaHost || c.Us.sameSet(h.v6, false)
		}
		if ok {
			out[i] = verdict{state: OK}
			continue
		}
		out[i] = c.elsewhere(ctx, domain, name, w, h)
	}
	return out
}

// elsewhere judges a host name record that does not point at us.
func (c *Checker) elsewhere(ctx context.Context, domain, name string, w dnsrecords.Record, h hostAnswer) verdict {
	found := describe(h)
	switch {
	case h.loop:
		return verdict{state: Drift, found: found, detail: "the CNAME chain loops or is longer than 8 names: clients find no address"}
	case len(h.chain) == 0 && len(h.v4)+len(h.v6) == 0:
		detail := "not published: " + h.err
		if h.failed {
			detail = "could not be resolved: " + h.err
		}
		return verdict{state: Missing, detail: detail}
	case (w.Type == "A" && len(h.v4) == 0 || w.Type == "AAAA" && len(h.v6) == 0) && len(h.chain) == 0:
		// The other family is there; this one is not.
		return verdict{state: Missing, found: found, detail: "no " + w.Type + " record"}
	}
	end := strings.TrimSuffix(h.end(name), ".")
	lead := "leads to " + end
	if len(h.chain) == 0 {
		lead = "leads to " + addrList(h)
	}
	if who := operator(h); who != "" {
		lead += " (" + who + ")"
	}
	if strings.HasPrefix(name, "autodiscover.") {
		return verdict{state: Conflict, found: found, detail: lead + ": another Autodiscover service answers Outlook and Thunderbird for this domain"}
	}
	if c.Probe != nil {
		if foreign, what := c.Probe(ctx, domain, strings.TrimSuffix(name, ".")); foreign {
			return verdict{state: Conflict, found: found, detail: lead + ": another service answers: " + what}
		}
	}
	return verdict{state: Drift, found: found, detail: lead + ", not to this service"}
}

// operator names a well-known service a chain leads to: a stale
// Microsoft 365 (Exchange Online) Autodiscover is the commonest conflict.
func operator(h hostAnswer) string {
	for _, n := range h.chain {
		n = strings.TrimSuffix(n, ".")
		for _, s := range []string{"outlook.com", "office365.com", "office.com", "microsoft.com", "exchangelabs.com", "microsoftonline.com"} {
			if n == s || strings.HasSuffix(n, "."+s) {
				return "Microsoft 365"
			}
		}
	}
	return ""
}

func describe(h hostAnswer) string {
	var parts []string
	for _, c := range h.chain {
		parts = append(parts, "CNAME "+strings.TrimSuffix(c, "."))
	}
	if a := addrList(h); a != "" {
		parts = append(parts, a)
	}
	return strings.Join(parts, " -> ")
}

func addrList(h hostAnswer) string {
	var s []string
	for _, a := range append(slices.Clone(h.v4), h.v6...) {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

// srvSet judges the SRV records of one owner. An SRV record is there when
// one with its target and port is published; "." (not offered) only when
// it is the whole set (RFC 2782).
func (c *Checker) srvSet(ctx context.Context, res *Resolver, domain, name string, want []dnsrecords.Record) []verdict {
	got, problem, failed := records[*dns.SRV](ctx, res, name, dns.TypeSRV)
	out := make([]verdict, len(want))
	var gotText []string
	for _, s := range got {
		gotText = append(gotText, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, strings.ToLower(s.Target)))
	}
	found := strings.Join(gotText, ", ")
	autodiscover := strings.HasPrefix(name, "_autodiscover._tcp.")
	for i, w := range want {
		switch {
		case len(got) == 0 && failed:
			out[i] = verdict{state: Missing, detail: "could not be resolved: " + problem}
		case len(got) == 0:
			out[i] = verdict{state: Missing, detail: "not published: " + problem}
		case w.SRV.Target == ".":
			if len(got) == 1 && got[0].Target == "." {
				out[i] = verdict{state: OK}
			} else {
				out[i] = verdict{state: Drift, found: found, detail: "published, but the catalog offers no such service (\".\")"}
			}
		case slices.ContainsFunc(got, func(s *dns.SRV) bool {
			return strings.EqualFold(s.Target, w.SRV.Target) && int(s.Port) == w.SRV.Port
		}):
			out[i] = verdict{state: OK}
		case autodiscover:
			out[i] = verdict{state: Conflict, found: found, detail: "leads to " + strings.TrimSuffix(strings.ToLower(got[0].Target), ".") + operatorOf(got[0].Target) + ": another Autodiscover service, which Outlook offers the user"}
		default:
			out[i] = verdict{state: Drift, found: found, detail: "published with other targets"}
		}
	}
	return out
}

func operatorOf(host string) string {
	if who := operator(hostAnswer{chain: []string{strings.ToLower(host)}}); who != "" {
		return " (" + who + ")"
	}
	return ""
}

// alias judges a CNAME at a name that is not a host name: ok when the
// CNAME chain from name reaches the record's target and, when the record
// names the TXT data at the end of the chain (Text: the PACC digest), the
// TXT records there hold it, as they are judged at the name itself.
func (c *Checker) alias(ctx context.Context, res *Resolver, name string, want []dnsrecords.Record) []verdict {
	t := res.lookupTXT(ctx, name)
	out := make([]verdict, len(want))
	for i, w := range want {
		target := dns.Fqdn(strings.ToLower(w.Target))
		found := strings.Join(append(prefixed("CNAME ", t.chain), t.texts()...), " -> ")
		switch {
		case t.loop:
			out[i] = verdict{state: Drift, found: found, detail: "the CNAME chain loops or is longer than 8 names"}
		case slices.Contains(t.chain, target):
			out[i] = verdict{state: OK}
			if w.Text != "" {
				v := judgeTXT(w, t)
				if v.state != OK {
					v.detail = "leads to " + strings.TrimSuffix(target, ".") + ", whose TXT record is " + v.state.String() + ": " + v.detail
				}
				out[i] = v
			}
		case t.failed:
			out[i] = verdict{state: Missing, detail: "could not be resolved: " + t.problem}
		case len(t.chain) == 0 && len(t.txt) == 0:
			out[i] = verdict{state: Missing, detail: "not published: " + cmp.Or(t.problem, "no CNAME or TXT record")}
		case len(t.chain) == 0:
			out[i] = verdict{state: Drift, found: found, detail: "a TXT record of its own, not a CNAME to " + strings.TrimSuffix(target, ".") + ": it does not follow the provider's digest"}
		default:
			out[i] = verdict{state: Drift, found: found, detail: "leads to " + strings.TrimSuffix(t.chain[len(t.chain)-1], ".") + ", not to " + strings.TrimSuffix(target, ".")}
		}
	}
	return out
}

func prefixed(p string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + strings.TrimSuffix(n, ".")
	}
	return out
}

// txt judges TXT records: the PACC digest at _ua-auto-config.<d>
// (compared on its v=UAAC1 string) and the DAV context path (its path=
// string). A CNAME at the name is followed, as resolvers do for a TXT
// query (RFC 1034 §3.6.2), at most maxCNAMEs names: what a client reads
// is the TXT record at the end of the chain.
func (c *Checker) txt(ctx context.Context, res *Resolver, name string, want []dnsrecords.Record) []verdict {
	t := res.lookupTXT(ctx, name)
	out := make([]verdict, len(want))
	for i, w := range want {
		out[i] = judgeTXT(w, t)
	}
	return out
}

// judgeTXT judges one wanted TXT record (its Text) by what a TXT lookup
// found.
func judgeTXT(w dnsrecords.Record, t txtAnswer) verdict {
	if t.loop {
		return verdict{state: Drift, found: strings.Join(prefixed("CNAME ", t.chain), " -> "), detail: "the CNAME chain loops or is longer than 8 names"}
	}
	prefix, _, _ := strings.Cut(w.Text, "=")
	prefix += "="
	if strings.HasPrefix(w.Text, "v=UAAC1") {
		prefix = "v=UAAC1" // the PACC record's version tag (docs/pacc.md#pacc)
	}
	var same []string
	match := false
	for _, s := range t.texts() {
		if !strings.HasPrefix(strings.ToLower(s), strings.ToLower(prefix)) {
			continue
		}
		same = append(same, s)
		match = match || s == w.Text
	}
	switch {
	case match && len(same) == 1:
		return verdict{state: OK}
	case match:
		return verdict{state: Drift, found: strings.Join(same, " | "), detail: "published beside another " + prefix + " record: clients may take either"}
	case len(same) > 0:
		return verdict{state: Drift, found: strings.Join(same, " | "), detail: "published with another value" + txtHint(w)}
	case t.failed:
		return verdict{state: Missing, detail: "could not be resolved: " + t.problem}
	case t.problem != "":
		return verdict{state: Missing, detail: "not published: " + t.problem}
	default:
		return verdict{state: Missing, detail: "no " + prefix + " TXT record"}
	}
}

func txtHint(w dnsrecords.Record) string {
	if strings.HasPrefix(w.Name, "_ua-auto-config.") {
		return ": a stale PACC digest, which PACC clients reject the document for"
	}
	return ""
}
