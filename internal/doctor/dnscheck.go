package doctor

// The DNS records of `mailautoconf dns` against what is published, judged
// by internal/dnscheck: the rules of `dns --check` and of the watch in
// serve (docs/guide/dns.md#states), mapped to the doctor's findings.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// checkDNS compares the published records with those dnsrecords.Derive
// derives. For a domain of our catalog (Options.Expected) every record is
// judged by dnscheck. For any other domain only the host names clients
// need are judged, and only when Options.Target says where they should
// point; its SRV records are information, compared with the servers the
// domain's own configuration advertises. A name without a target to judge
// it by is checked for resolving at all.
func (r *run) checkDNS(ctx context.Context, rep *Report) []Finding {
	var out []Finding
	p, ours := r.opts.Expected, r.opts.Expected != nil
	if !ours {
		p = providerFromClients(rep, r.domain)
		detail := "the domain is not in this catalog: its SRV records are shown, not judged"
		if p != nil {
			detail += ", beside the servers its own autoconfig/Autodiscover answer advertises"
		}
		out = append(out, Finding{Name: "expected records", Status: Info, Detail: detail})
	}
	want := r.expected(p, ours)
	us := r.us(ctx)
	got := r.checker(us).Check(ctx, want)
	groups := groupRecords(got.Records)

	// The names clients need come first, whether or not there is a
	// record to judge them by.
	judged := make([]bool, len(groups))
	for _, label := range []string{"autoconfig", "autodiscover"} {
		name := label + "." + r.domain + "."
		if i := slices.IndexFunc(groups, func(g []dnscheck.Record) bool { return g[0].Name == name && isHostType(g[0].Type) }); i >= 0 {
			judged[i] = true
			out = append(out, r.judge(ctx, groups[i], us))
			continue
		}
		out = append(out, r.resolves(ctx, strings.TrimSuffix(name, ".")))
	}
	adName := "_autodiscover._tcp." + r.domain + "."
	if ours && !slices.ContainsFunc(got.Records, func(rec dnscheck.Record) bool { return rec.Name == adName }) {
		// No public host to compare with: only say whether it is there.
		out = append(out, r.srvInfo(ctx, adName, nil))
	}
	for i, g := range groups {
		if !judged[i] {
			out = append(out, r.judge(ctx, g, us))
		}
	}
	if !ours {
		out = append(out, r.srvInfos(ctx, p)...)
	}
	return append(out, r.checkMX(ctx))
}

// expected returns the records dnscheck judges: all of Derive's for a
// domain of ours; for another, only the autoconfig and autodiscover host
// names, which depend on Options.Target alone.
func (r *run) expected(p *provision.Provider, ours bool) dnsrecords.Domain {
	if p == nil {
		p = &provision.Provider{ID: r.domain, Domains: []string{r.domain}}
	}
	d := dnsrecords.Derive(p, r.domain, r.opts.Target)
	if !ours {
		d.Records = slices.DeleteFunc(d.Records, func(rec dnsrecords.Record) bool {
			return rec.Name != "autoconfig."+r.domain+"." && rec.Name != "autodiscover."+r.domain+"."
		})
	}
	return d
}

// checker is dnscheck's Checker on the doctor's resolver, its HTTP probe
// dialing as the clients do (through the port map).
func (r *run) checker(us dnscheck.Us) *dnscheck.Checker {
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p, _ := strconv.Atoi(port)
		return r.net.dial(ctx, host, p)
	}
	return &dnscheck.Checker{Pool: r.pool, Us: us, Probe: dnscheck.HTTPProbe(r.opts.Timeout, dial, dnscheck.Ours(r.expectedProvider))}
}

// expectedProvider is the provider the domain should have
// (Options.Expected), for dnscheck.Ours; an error when the domain is not
// in the catalog.
func (r *run) expectedProvider(string) (*provision.Provider, error) {
	if r.opts.Expected == nil {
		return nil, errors.New("the domain is not in the catalog")
	}
	return r.opts.Expected, nil
}

// us is what points at this service: the public host, its addresses, and
// the public addresses.
func (r *run) us(ctx context.Context) dnscheck.Us {
	t := r.opts.Target
	addrs := append(slices.Clone(t.IPv4), t.IPv6...)
	if t.Host != "" {
		if a, err := r.pool.Addresses(ctx, t.Host); err == nil {
			addrs = append(addrs, a...)
		}
	}
	return dnscheck.NewUs(t.Host, addrs...)
}

func isHostType(typ string) bool { return typ == "CNAME" || typ == "A" || typ == "AAAA" }

// groupRecords groups records by owner and kind (the host records of a
// name, its SRV set, its TXT records), in the order of their first record:
// one finding each.
func groupRecords(recs []dnscheck.Record) [][]dnscheck.Record {
	kind := func(typ string) string {
		if isHostType(typ) {
			return "host"
		}
		return typ
	}
	var out [][]dnscheck.Record
	for _, rec := range recs {
		i := slices.IndexFunc(out, func(g []dnscheck.Record) bool {
			return g[0].Name == rec.Name && kind(g[0].Type) == kind(rec.Type)
		})
		if i < 0 {
			out = append(out, []dnscheck.Record{rec})
			continue
		}
		out[i] = append(out[i], rec)
	}
	return out
}

// recordStatus maps a record's state to a finding's status: a required
// record (the autoconfig and autodiscover names) fails unless it is ok;
// an optional one warns when missing or drifting, and fails only when
// another service answers for it (a conflict). An absent PACC TXT record
// is thus a warning (PACC is opt-in, docs/pacc.md#pacc).
func recordStatus(rec dnscheck.Record) Status {
	switch {
	case rec.State == dnscheck.OK:
		return Pass
	case rec.State == dnscheck.Conflict || rec.Required:
		return Fail
	}
	return Warn
}

// judge makes one finding of a group of records. A required host name
// that is not ok fails, since clients reach another host or none, except
// when every address it resolves to is ours (one family missing, or a
// partial address set): clients then still reach this service, and it is
// a warning.
func (r *run) judge(ctx context.Context, g []dnscheck.Record, us dnscheck.Us) Finding {
	name := strings.TrimSuffix(g[0].Name, ".")
	host := isHostType(g[0].Type)
	f := Finding{Name: name, Status: Pass}
	if !host {
		f.Name = g[0].Type + " " + name
	}
	worst := dnscheck.OK
	for _, rec := range g {
		f.Status = worse(f.Status, recordStatus(rec))
		worst = max(worst, rec.State)
	}
	if f.Status == Pass {
		f.Detail = dataText(g)
		return f
	}
	var details []string
	for _, rec := range g {
		if rec.State == dnscheck.OK {
			continue
		}
		d := rec.Detail
		if rec.Found != "" && !strings.Contains(d, rec.Found) {
			d += " (published: " + rec.Found + ")"
		}
		if !slices.Contains(details, d) {
			details = append(details, d)
		}
	}
	f.Detail = strings.Join(details, "; ")
	if !g[0].Required && f.Status == Warn {
		f.Detail += " (optional)"
	}
	if host && f.Status == Fail && worst != dnscheck.Conflict && g[0].Required && r.reachesUs(ctx, name, us) {
		f.Status = Warn
		f.Detail += "; every address it resolves to is this service's, so clients reach it"
	}
	f.Fix = fixText(g, worst)
	f.conflict = worst == dnscheck.Conflict
	return f
}

// reachesUs reports whether name resolves, through the doctor's resolver,
// to addresses that are all ours.
func (r *run) reachesUs(ctx context.Context, name string, us dnscheck.Us) bool {
	ha := r.net.res.lookupHost(ctx, name)
	return len(ha.addrs) > 0 && !slices.ContainsFunc(ha.addrs, func(a netip.Addr) bool { return !slices.Contains(us.Addrs, a.Unmap()) })
}

// dataText is what a group publishes as it should: "CNAME host.", "A
// 192.0.2.1", the SRV data, the quoted TXT string.
func dataText(g []dnscheck.Record) string {
	var parts []string
	for _, rec := range g {
		if isHostType(rec.Type) {
			parts = append(parts, rec.Type+" "+rec.Data)
		} else {
			parts = append(parts, rec.Data) // the finding's name says the type
		}
	}
	return strings.Join(parts, ", ")
}

// fixText is the records to publish, as `mailautoconf dns` prints them
// ("publish it:" when nothing is there; SRV owners without the final dot,
// as before the doctor judged by dnscheck).
func fixText(g []dnscheck.Record, worst dnscheck.State) string {
	var parts []string
	for _, rec := range g {
		owner := rec.Name
		if rec.Type == "SRV" {
			owner = strings.TrimSuffix(owner, ".")
		}
		parts = append(parts, owner+" "+rec.Type+" "+rec.Data)
	}
	fix := "publish " + strings.Join(parts, "; ")
	switch {
	case worst == dnscheck.Missing && isHostType(g[0].Type):
		fix = "publish it: " + strings.Join(parts, "; ")
	case worst == dnscheck.Conflict && isHostType(g[0].Type):
		fix += ", in place of the records that lead elsewhere"
	}
	return fix
}

// resolves checks only that a name clients need resolves: there is no
// target (MAILAUTOCONF_PUBLIC_HOST, ...) to judge it by.
func (r *run) resolves(ctx context.Context, name string) Finding {
	f := Finding{Name: name}
	ha := r.net.res.lookupHost(ctx, name)
	if len(ha.addrs) == 0 {
		f.Status, f.Detail = Fail, "does not resolve: "+ha.err
		f.Fix = "publish it: " + name + " (a CNAME to the service's host name, or its A/AAAA records)"
		return f
	}
	f.Status, f.Detail = Pass, describeHost(ha)
	return f
}

func describeHost(ha hostAnswer) string {
	var parts []string
	for _, c := range ha.cnames {
		parts = append(parts, "CNAME "+c)
	}
	for _, a := range ha.addrs {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, " -> ")
}

// srvInfos reports the SRV records of a domain not in our catalog, beside
// those its own configuration advertises (p, nil when none was accepted).
func (r *run) srvInfos(ctx context.Context, p *provision.Provider) []Finding {
	names := []string{"_autodiscover._tcp." + r.domain + "."}
	for _, l := range []string{"_imaps", "_imap", "_pop3s", "_pop3", "_submissions", "_smtps", "_submission"} {
		names = append(names, l+"._tcp."+r.domain+".")
	}
	byName := map[string][]dnsrecords.Record{}
	if p != nil {
		for _, rec := range dnsrecords.Derive(p, r.domain, r.opts.Target).Records {
			if rec.SRV != nil {
				byName[rec.Name] = append(byName[rec.Name], rec)
			}
		}
	}
	var out []Finding
	for _, n := range names {
		out = append(out, r.srvInfo(ctx, n, byName[n]))
	}
	return out
}

// srvInfo reports the SRV records at name, and those advertised when they
// differ in target and port: information, not a judgement.
func (r *run) srvInfo(ctx context.Context, name string, advertised []dnsrecords.Record) Finding {
	f := Finding{Name: "SRV " + strings.TrimSuffix(name, "."), Status: Info}
	got, problem := r.net.res.lookupSRV(ctx, name)
	var gotTP, wantTP, wantText []string
	for _, s := range got {
		gotTP = append(gotTP, fmt.Sprintf("%s:%d", s.Target, s.Port))
	}
	for _, w := range advertised {
		wantTP = append(wantTP, fmt.Sprintf("%s:%d", strings.ToLower(w.SRV.Target), w.SRV.Port))
		wantText = append(wantText, w.Data)
	}
	slices.Sort(gotTP)
	slices.Sort(wantTP)
	if problem != "" {
		f.Detail = problem
	} else {
		parts := make([]string, len(got))
		for i, s := range got {
			parts[i] = s.String()
		}
		slices.Sort(parts)
		f.Detail = strings.Join(parts, ", ")
	}
	if len(advertised) > 0 && !slices.Equal(slices.Compact(gotTP), slices.Compact(wantTP)) {
		f.Detail += "; its configuration advertises " + strings.Join(wantText, ", ")
	}
	return f
}

// checkMX reports the domain's MX records: not a record of ours, but
// Thunderbird and K-9 follow it (docs/dns.md#mx-based-lookup).
func (r *run) checkMX(ctx context.Context) Finding {
	mx, problem := r.net.res.lookupMX(ctx, r.domain)
	if problem != "" {
		return Finding{Name: "MX " + r.domain, Status: Warn, Detail: problem + ": mail to the domain cannot be delivered, and Thunderbird's MX-based lookup has nothing to follow", Fix: "publish the domain's MX record"}
	}
	var parts []string
	for _, m := range mx {
		parts = append(parts, fmt.Sprintf("%d %s", m.Pref, m.Host))
	}
	return Finding{Name: "MX " + r.domain, Status: Pass, Detail: strings.Join(parts, ", ")}
}

// providerFromClients rebuilds the servers a domain advertises from the
// configuration Thunderbird (or else Outlook) accepted, so that the SRV
// records of a domain that is not in our catalog can be shown beside them.
func providerFromClients(rep *Report, domain string) *provision.Provider {
	for _, id := range []string{"thunderbird", "outlook"} {
		for _, c := range rep.Clients {
			if c.ID != id || c.Incoming == nil || c.Status == Fail && c.Source == "" {
				continue
			}
			p := &provision.Provider{ID: domain, Domains: []string{domain}}
			for _, s := range c.servers {
				sec := provision.None
				switch s.Socket {
				case "SSL":
					sec = provision.TLS
				case "STARTTLS":
					sec = provision.STARTTLS
				}
				srv := provision.Server{Protocol: provision.Protocol(s.Protocol), Host: s.Host, Port: s.Port, Security: sec}
				if s.Protocol == "smtp" {
					p.Outgoing = append(p.Outgoing, srv)
				} else if s.Protocol == "imap" || s.Protocol == "pop3" {
					p.Incoming = append(p.Incoming, srv)
				}
			}
			if len(p.AdvertisedIncoming()) > 0 {
				return p
			}
		}
	}
	return nil
}
