package doctor

// The DNS records of `mailautoconf dns` against what is published.

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// checkDNS compares the published records with those dnsrecords.Derive
// derives: from our catalog when the domain is ours, else from the
// servers the domain's own configuration advertises. A missing or
// different optional record is a warning; a name clients need that does
// not resolve is a failure.
func (r *run) checkDNS(ctx context.Context, rep *Report) []Finding {
	var out []Finding
	p := r.opts.Expected
	derived := false
	if p == nil {
		p = providerFromClients(rep, r.domain)
		derived = p != nil
	}
	var expected []dnsrecords.Record
	if p != nil {
		expected = dnsrecords.Derive(p, r.domain, r.opts.Target).Records
	}
	if derived {
		out = append(out, Finding{Name: "expected records", Status: Info, Detail: "derived from the servers the domain's own autoconfig/Autodiscover answer advertises (the domain is not in this catalog)"})
	}

	// The names clients need, whether or not we could derive the rest.
	for _, label := range []string{"autoconfig", "autodiscover"} {
		name := label + "." + r.domain
		var want []dnsrecords.Record
		for _, e := range expected {
			if strings.EqualFold(e.Name, name+".") {
				want = append(want, e)
			}
		}
		out = append(out, r.checkHostName(ctx, name, want))
	}

	byName := map[string][]dnsrecords.Record{}
	var names []string
	for _, e := range expected {
		if e.SRV == nil {
			continue
		}
		if _, ok := byName[e.Name]; !ok {
			names = append(names, e.Name)
		}
		byName[e.Name] = append(byName[e.Name], e)
	}
	if p == nil {
		names = []string{"_autodiscover._tcp." + r.domain + "."}
		for _, l := range []string{"_imaps", "_imap", "_pop3s", "_pop3", "_submissions", "_submission"} {
			names = append(names, l+"._tcp."+r.domain+".")
		}
	}
	adName := "_autodiscover._tcp." + r.domain + "."
	if p != nil && len(byName[adName]) == 0 {
		// No public host to compare with: only say whether it is there.
		names = append([]string{adName}, names...)
	}
	for _, n := range names {
		out = append(out, r.checkSRV(ctx, n, byName[n], p != nil && len(byName[n]) > 0))
	}

	mx, problem := r.net.res.lookupMX(ctx, r.domain)
	if problem != "" {
		out = append(out, Finding{Name: "MX " + r.domain, Status: Warn, Detail: problem + ": mail to the domain cannot be delivered, and Thunderbird's MX-based lookup has nothing to follow", Fix: "publish the domain's MX record"})
	} else {
		var parts []string
		for _, m := range mx {
			parts = append(parts, fmt.Sprintf("%d %s", m.Pref, m.Host))
		}
		out = append(out, Finding{Name: "MX " + r.domain, Status: Pass, Detail: strings.Join(parts, ", ")})
	}
	return out
}

// checkHostName checks that name resolves, and how, against the records
// expected there (a CNAME to the public host, or A/AAAA).
func (r *run) checkHostName(ctx context.Context, name string, want []dnsrecords.Record) Finding {
	f := Finding{Name: name}
	ha := r.net.res.lookupHost(ctx, name)
	if len(ha.addrs) == 0 {
		f.Status, f.Detail = Fail, "does not resolve: "+ha.err
		f.Fix = "publish it: " + recordsText(want, name)
		return f
	}
	got := describeHost(ha)
	f.Status, f.Detail = Pass, got
	for _, w := range want {
		switch w.Type {
		case "CNAME":
			switch {
			case len(ha.cnames) == 0:
				f.Status = Warn
				f.Detail = fmt.Sprintf("%s; expected a CNAME to %s (the addresses work, but will not follow the service if it moves)", got, w.Target)
				f.Fix = "publish " + recordsText(want, name)
			case !strings.EqualFold(ha.cnames[0], w.Target):
				f.Status = Warn
				f.Detail = fmt.Sprintf("%s; expected a CNAME to %s", got, w.Target)
				f.Fix = "publish " + recordsText(want, name)
			}
		case "A", "AAAA":
			a, err := netip.ParseAddr(w.Data)
			if err == nil && !slices.Contains(ha.addrs, a) {
				f.Status = Warn
				f.Detail = fmt.Sprintf("%s; expected %s %s", got, w.Type, w.Data)
				f.Fix = "publish " + recordsText(want, name)
			}
		}
	}
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

func recordsText(rs []dnsrecords.Record, name string) string {
	if len(rs) == 0 {
		return name + " (a CNAME to the service's host name, or its A/AAAA records)"
	}
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %s %s", r.Name, r.Type, r.Data))
	}
	return strings.Join(parts, "; ")
}

// checkSRV compares one SRV record set. SRV records are optional: every
// difference is a warning.
func (r *run) checkSRV(ctx context.Context, name string, want []dnsrecords.Record, known bool) Finding {
	f := Finding{Name: "SRV " + strings.TrimSuffix(name, ".")}
	got, problem := r.net.res.lookupSRV(ctx, name)
	wantText := make([]string, len(want))
	for i, w := range want {
		wantText[i] = w.Data
	}
	if problem != "" {
		switch {
		case !known && strings.HasPrefix(name, "_autodiscover."):
			f.Status, f.Detail = Warn, problem+" (optional: Outlook's last resort)"
			f.Fix = "publish " + strings.TrimSuffix(name, ".") + " SRV 0 0 443 <the service's host name>"
		case !known:
			f.Status, f.Detail = Info, problem
		default:
			f.Status, f.Detail = Warn, problem+" (optional)"
			f.Fix = "publish " + strings.Join(prefixAll(wantText, strings.TrimSuffix(name, ".")+" SRV "), "; ")
		}
		return f
	}
	gotText := make([]string, len(got))
	for i, s := range got {
		gotText[i] = s.String()
	}
	slices.Sort(gotText)
	f.Status, f.Detail = Pass, strings.Join(gotText, ", ")
	if !known {
		f.Status = Info
		return f
	}
	sortedWant := slices.Clone(wantText)
	slices.Sort(sortedWant)
	if !srvSame(got, want) {
		f.Status = Warn
		f.Detail = fmt.Sprintf("published %s; the catalog says %s", strings.Join(gotText, ", "), strings.Join(sortedWant, ", "))
		f.Fix = "publish " + strings.Join(prefixAll(wantText, strings.TrimSuffix(name, ".")+" SRV "), "; ")
	}
	return f
}

// srvSame compares SRV sets on target, port and relative priority order;
// weights and the exact priority numbers are the admin's to choose.
func srvSame(got []srvRecord, want []dnsrecords.Record) bool {
	type tp struct {
		target string
		port   int
	}
	order := func(list []tp, prio []int) []tp {
		idx := make([]int, len(list))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return prio[a] - prio[b] })
		out := make([]tp, len(list))
		for i, j := range idx {
			out[i] = list[j]
		}
		return out
	}
	var g, w []tp
	var gp, wp []int
	for _, s := range got {
		g = append(g, tp{strings.ToLower(s.Target), s.Port})
		gp = append(gp, s.Priority)
	}
	for _, s := range want {
		if s.SRV.Target == "." {
			w = append(w, tp{".", 0})
		} else {
			w = append(w, tp{strings.ToLower(s.SRV.Target), s.SRV.Port})
		}
		wp = append(wp, s.SRV.Priority)
	}
	if len(g) == 1 && g[0].target == "." {
		g[0].port = 0
	}
	return slices.Equal(order(g, gp), order(w, wp))
}

func prefixAll(list []string, prefix string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = prefix + s
	}
	return out
}

// providerFromClients rebuilds the servers a domain advertises from the
// configuration Thunderbird (or else Outlook) accepted, so that the SRV
// records can be checked for a domain that is not in our catalog.
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
