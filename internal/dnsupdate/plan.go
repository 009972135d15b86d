package dnsupdate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// DefaultTimeout bounds one exchange with an update server.
const DefaultTimeout = 5 * time.Second

// Zone is one updatable zone: where its updates go and the key that
// signs them.
type Zone struct {
	Name   string // fully qualified, lower case
	Server string // host:port
	Key    Key
}

// Zones are the catalog's dns_updates entries with their keys read.
type Zones struct {
	byName map[string]Zone
}

// NewZones reads the key of each dns_updates entry from the environment.
// An entry whose key is missing or malformed is left out, and the error
// names it (its file:line) and the variable, never the value; the zones
// of the other entries are returned all the same.
func NewZones(updates []provision.DNSUpdate, getenv func(string) string) (*Zones, error) {
	z := &Zones{byName: map[string]Zone{}}
	var errs []error
	for _, u := range updates {
		key, err := KeyFromEnv(u.TSIGKeyEnv, getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: dns_updates: %w", u.Source, err))
			continue
		}
		for _, name := range u.Zones {
			fq := dns.Fqdn(name)
			z.byName[fq] = Zone{Name: fq, Server: u.Server, Key: key}
		}
	}
	return z, errors.Join(errs...)
}

// Len is the number of updatable zones.
func (z *Zones) Len() int { return len(z.byName) }

// Of returns the updatable zone holding name: the longest listed zone
// that is name or one of its ancestors.
func (z *Zones) Of(name string) (Zone, bool) {
	n := dns.Fqdn(strings.ToLower(name))
	for {
		if zone, ok := z.byName[n]; ok {
			return zone, true
		}
		_, rest, ok := strings.Cut(n, ".")
		if !ok || rest == "" {
			return Zone{}, false
		}
		n = rest
	}
}

// kind is what a name this service owns holds, which says which of the
// records found there this service may have written.
type kind uint8

const (
	hostName  kind = iota // autoconfig.<d> and the like: CNAME, or A/AAAA
	paccName              // _ua-auto-config.<d>: TXT v=UAAC1, or CNAME to a _ua-auto-config name
	srvName               // SRV records; at _caldavs/_carddavs also TXT path=
	sharedTXT             // a provider's pacc_txt: TXT v=UAAC1
)

// ownedNames lists every name this service owns for domain, with its
// kind: the names Derive may give records to, whether or not it gives
// them now (a name it no longer gives records to holds stale ones).
func ownedNames(domain string) map[string]kind {
	d := dns.Fqdn(domain)
	out := map[string]kind{
		"autoconfig." + d:         hostName,
		"autodiscover." + d:       hostName,
		"ua-auto-config." + d:     hostName,
		"_ua-auto-config." + d:    paccName,
		"_autodiscover._tcp." + d: srvName,
		"_caldavs._tcp." + d:      srvName,
		"_carddavs._tcp." + d:     srvName,
	}
	for _, l := range []string{"_imaps", "_imap", "_pop3s", "_pop3", "_submissions", "_smtps", "_submission"} {
		out[l+"._tcp."+d] = srvName
	}
	return out
}

// managed are the types this service writes at a name of each kind: the
// RRsets it replaces whole, and deletes when stale.
var managed = map[kind][]uint16{
	hostName:  {dns.TypeCNAME, dns.TypeA, dns.TypeAAAA},
	paccName:  {dns.TypeCNAME, dns.TypeTXT},
	srvName:   {dns.TypeCNAME, dns.TypeSRV, dns.TypeTXT},
	sharedTXT: {dns.TypeTXT},
}

// Change is what an update does to one RRset.
type Change struct {
	Name, Type string
	Old, New   []dns.RR // what the server holds now; what it will hold
}

// Plan is the update of one domain's names (or of one provider's shared
// PACC record): what to change, and what stops it.
type Plan struct {
	Domain string
	Zone   Zone
	// Changes are the RRsets the update replaces, in a fixed order.
	Changes []Change
	// Foreign says, for each name held by records this service did not
	// write, what holds it. Without force, a plan with any is not sent.
	Foreign []string
	// read is every record found at the names the plan changes, for the
	// prerequisites; empty names are listed in absent.
	read   []dns.RR
	absent []string
	force  bool
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Updater plans and sends the updates.
type Updater struct {
	Zones   *Zones
	Timeout time.Duration // 0: DefaultTimeout
	// Sent counts the update messages sent (for tests and metrics).
	Sent func()
}

func (u *Updater) timeout() time.Duration {
	if u.Timeout > 0 {
		return u.Timeout
	}
	return DefaultTimeout
}

// ErrNotUpdatable is the error of a domain in no dns_updates zone.
var ErrNotUpdatable = errors.New("not in a dns_updates zone")

// Plan reads, from the zone's own server, every name want's domain owns,
// and says what an update must change for them to hold exactly want's
// records. want is dnsrecords.Derive's records of a domain, or
// dnsrecords.Shared's of a provider. With force, names held by records
// this service did not write are replaced too.
func (u *Updater) Plan(ctx context.Context, want dnsrecords.Domain, force bool) (*Plan, error) {
	zone, ok := u.Zones.Of(want.Domain)
	if !ok {
		return nil, fmt.Errorf("%s: %w (dns_updates lists no zone holding it)", want.Domain, ErrNotUpdatable)
	}
	names := ownedNames(want.Domain)
	if want.Provider != "" {
		names = map[string]kind{dns.Fqdn(want.Domain): sharedTXT}
	}
	wanted := map[string][]dns.RR{} // by name
	for _, r := range want.Records {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data))
		if err != nil || rr == nil {
			return nil, fmt.Errorf("%s: record %s %s: %v", want.Domain, r.Name, r.Type, err)
		}
		name := strings.ToLower(r.Name)
		if _, ok := names[name]; !ok {
			return nil, fmt.Errorf("%s: %s is not a name this service owns", want.Domain, r.Name)
		}
		wanted[name] = append(wanted[name], rr)
	}
	us := ourHost(want.Domain, wanted)

	p := &Plan{Domain: want.Domain, Zone: zone, force: force}
	// One TCP connection for the domain's dozen reads.
	ctx, cancel := context.WithTimeout(ctx, u.timeout())
	defer cancel()
	c := &dns.Client{Net: "tcp", Timeout: u.timeout()}
	conn, err := c.DialContext(ctx, zone.Server)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the zone %s from %s: server unreachable: %w", want.Domain, strings.TrimSuffix(zone.Name, "."), zone.Server, simplify(err))
	}
	defer conn.Close()
	order := slices.Sorted(maps.Keys(names))
	for _, name := range order {
		k := names[name]
		found, err := read(ctx, c, conn, zone, name)
		if err != nil {
			return nil, fmt.Errorf("%s: reading %s from %s: %w", want.Domain, strings.TrimSuffix(name, "."), zone.Server, err)
		}
		why := foreign(k, name, found, us)
		if why == "" && slices.ContainsFunc(wanted[name], isCNAME) {
			why = besideCNAME(k, found)
		}
		if why != "" {
			if _, in := wanted[name]; !in {
				continue // not ours, and we want nothing there: not our business
			}
			if !force {
				p.Foreign = append(p.Foreign, strings.TrimSuffix(name, ".")+" holds "+why)
				continue
			}
		}
		changes := diff(name, k, found, wanted[name], force)
		if len(changes) == 0 {
			continue
		}
		p.Changes = append(p.Changes, changes...)
		if len(found) == 0 {
			p.absent = append(p.absent, name)
		}
		p.read = append(p.read, found...)
	}
	return p, nil
}

// hostTarget is what "this service" looks like at a host name: the CNAME
// target, or the A and AAAA records, that Derive gives autoconfig.<d>.
type hostTarget struct {
	cname string
	addrs []string // rdata of A and AAAA records
}

func ourHost(domain string, wanted map[string][]dns.RR) hostTarget {
	var t hostTarget
	for _, rr := range wanted[dns.Fqdn("autoconfig."+domain)] {
		switch v := rr.(type) {
		case *dns.CNAME:
			t.cname = strings.ToLower(v.Target)
		case *dns.A, *dns.AAAA:
			t.addrs = append(t.addrs, rdata(rr))
		}
	}
	return t
}

// foreign says what, of the records found at name, this service did not
// write, or "" when it may have written all of them. The rule is by
// content, since no registry is kept (docs/guide/dns-updates.md#ownership):
//
//   - a host name is ours when it leads to us: a CNAME to the public
//     host, or A/AAAA records among our addresses;
//   - _ua-auto-config.<d> when its TXT records are all v=UAAC1 digests or
//     its CNAME leads to a _ua-auto-config name (a provider's pacc_txt);
//   - an SRV name when it holds no CNAME, and its TXT records are all
//     path= (RFC 6764 §4); _autodiscover._tcp only when its SRV target is
//     ours (another Autodiscover service is a deliberate choice);
//   - a shared pacc_txt name when its TXT records are all v=UAAC1.
//
// Records of other types at a name are never touched, but they hold a
// name where a CNAME is wanted (RFC 1034 §3.6.2 allows nothing beside a
// CNAME).
func foreign(k kind, name string, found []dns.RR, us hostTarget) string {
	var bad []string
	for _, rr := range found {
		ok := true
		switch v := rr.(type) {
		case *dns.CNAME:
			switch k {
			case hostName:
				ok = us.cname != "" && strings.EqualFold(v.Target, us.cname)
			case paccName:
				ok = strings.HasPrefix(strings.ToLower(v.Target), "_ua-auto-config.")
			default:
				ok = false
			}
		case *dns.A, *dns.AAAA:
			ok = k == hostName && slices.Contains(us.addrs, rdata(rr))
		case *dns.TXT:
			text := strings.ToLower(strings.Join(v.Txt, ""))
			switch k {
			case paccName, sharedTXT:
				ok = strings.HasPrefix(text, "v=uaac1")
			case srvName:
				ok = strings.HasPrefix(text, "path=")
			default:
				ok = true // not a managed type: untouched
			}
		case *dns.SRV:
			ok = k == srvName
			if ok && strings.HasPrefix(name, "_autodiscover._tcp.") {
				t := strings.ToLower(v.Target)
				ok = t == us.cname || t == "autodiscover."+strings.TrimPrefix(name, "_autodiscover._tcp.")
			}
		default:
			ok = true // not a managed type: untouched
		}
		if !ok {
			bad = append(bad, describe(rr))
		}
	}
	return strings.Join(bad, ", ")
}

func isCNAME(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeCNAME }

// besideCNAME describes the records at a name where a CNAME is wanted
// that are not of the kind's managed types: a server silently ignores a
// CNAME added beside them (RFC 2136 §3.4.2.2), so they hold the name.
func besideCNAME(k kind, found []dns.RR) string {
	var bad []string
	for _, rr := range found {
		if !slices.Contains(managed[k], rr.Header().Rrtype) {
			bad = append(bad, describe(rr))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return strings.Join(bad, ", ") + ", beside which a CNAME cannot be"
}

// diff returns the changes that make name hold exactly want among the
// managed types of its kind. With force, a CNAME wanted at a name holding
// other data replaces the whole name (the Change of type "ANY").
func diff(name string, k kind, found, want []dns.RR, force bool) []Change {
	var out []Change
	wantCNAME := slices.ContainsFunc(want, isCNAME)
	if wantCNAME && force {
		others := slices.DeleteFunc(slices.Clone(found), func(rr dns.RR) bool {
			return slices.Contains(managed[k], rr.Header().Rrtype)
		})
		if len(others) > 0 {
			out = append(out, Change{Name: name, Type: "ANY", Old: others})
		}
	}
	for _, t := range managed[k] {
		old := ofType(found, t)
		nw := ofType(want, t)
		if sameSet(old, nw) {
			continue
		}
		out = append(out, Change{Name: name, Type: dns.TypeToString[t], Old: old, New: nw})
	}
	return out
}

func ofType(rrs []dns.RR, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			out = append(out, rr)
		}
	}
	return out
}

// sameSet compares two RRsets by owner, TTL and data, in any order.
func sameSet(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(rrs []dns.RR) []string {
		out := make([]string, len(rrs))
		for i, rr := range rrs {
			out[i] = fmt.Sprintf("%s %d %s", strings.ToLower(rr.Header().Name), rr.Header().Ttl, strings.ToLower(rdata(rr)))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

func rdata(rr dns.RR) string { return strings.TrimPrefix(rr.String(), rr.Header().String()) }

func describe(rr dns.RR) string {
	s := dns.TypeToString[rr.Header().Rrtype] + " " + rdata(rr)
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return oneLine(s)
}

// oneLine keeps what a server answered on one line of our output: an
// answer is hostile text.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// maxRead bounds the records read at one name: ours are a handful.
const maxRead = 64

// read asks the zone's server, over conn (TCP), for every record at name (an
// ANY query, which an authoritative server answers from its zone in full
// over TCP; RFC 8482 §4.1 lets it answer less over UDP). DNSSEC records
// are left out: the server signs, not us.
func read(ctx context.Context, c *dns.Client, conn *dns.Conn, zone Zone, name string) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeANY)
	in, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		return nil, fmt.Errorf("no answer: %w", simplify(err))
	}
	if in.Id != m.Id {
		return nil, errors.New("answer to another question")
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, fmt.Errorf("the server answered %s", dns.RcodeToString[in.Rcode])
	}
	if !in.Authoritative {
		return nil, fmt.Errorf("the server is not authoritative for %s: dns_updates must name the zone's primary server", strings.TrimSuffix(zone.Name, "."))
	}
	var out []dns.RR
	for _, rr := range in.Answer {
		h := rr.Header()
		if !strings.EqualFold(h.Name, name) || h.Class != dns.ClassINET {
			continue
		}
		switch h.Rrtype {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeHINFO:
			continue // signatures, and RFC 8482's minimal answer
		}
		h.Name = strings.ToLower(h.Name)
		out = append(out, rr)
		if len(out) > maxRead {
			return nil, fmt.Errorf("more than %d records at %s: not ours to replace", maxRead, name)
		}
	}
	return out, nil
}
