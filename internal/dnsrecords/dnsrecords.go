// Package dnsrecords derives the DNS records a mail domain of the catalog
// should publish (docs/dns.md): the names clients look the service up by,
// the mail and DAV SRV records, the PACC digest; and writes them as a zone
// file or JSON, for the `dns` command and the doctor. It does no lookups.
package dnsrecords

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"mailautoconf/provision"
)

// DefaultTTL is the TTL of Derive's records when the caller sets none.
const DefaultTTL = 3600

// Target says how clients reach the service itself: by a host name (the
// CNAME target of autoconfig.<d> and autodiscover.<d>), or by addresses
// (A/AAAA records at those names), or both (then the addresses are the
// records of the host name, and autoconfig.<d> is a CNAME to it).
type Target struct {
	Host string // MAILAUTOCONF_PUBLIC_HOST, A-label; "" when unset
	IPv4 []netip.Addr
	IPv6 []netip.Addr
	TTL  int // seconds; 0 means DefaultTTL
}

// Record is one DNS record a mail domain should publish, with the clients
// that use it.
type Record struct {
	Name string `json:"name"` // owner, fully qualified with a trailing dot
	TTL  int    `json:"ttl"`
	Type string `json:"type"` // CNAME, A, AAAA, SRV or TXT
	// Data is the record data in zone-file syntax.
	Data string `json:"data"`
	// Target is the CNAME or SRV target, fully qualified; "." is an SRV
	// record saying the service is not offered (RFC 2782).
	Target string `json:"target,omitempty"`
	SRV    *SRV   `json:"srv,omitempty"`
	// Text is a TXT record's one string, unquoted; for the CNAME
	// _ua-auto-config.<d> to the provider's pacc_txt, the digest the TXT
	// record there must hold.
	Text string `json:"text,omitempty"`
	// Clients is the one-line comment: which clients use the record.
	Clients string `json:"clients"`
	// Required records are those without which some client fails to
	// configure itself; the others are optional (a missing one is a
	// warning in the doctor).
	Required bool `json:"required"`
}

// SRV holds the fields of an SRV record.
type SRV struct {
	Priority int    `json:"priority"`
	Weight   int    `json:"weight"`
	Port     int    `json:"port"`
	Target   string `json:"target"`
}

// Domain are the records of one mail domain, in a fixed order:
// autoconfig, autodiscover, ua-auto-config and its _ua-auto-config TXT,
// _autodiscover._tcp, the mail SRV records, then the DAV SRV and TXT
// records.
type Domain struct {
	Domain string `json:"domain"`
	// Provider is set on Shared's records, which belong to a provider
	// rather than to one domain: then Domain is the pacc_txt name.
	Provider string   `json:"provider,omitempty"`
	Records  []Record `json:"records"`
	// Notes say what could not be derived, and why.
	Notes []string `json:"notes,omitempty"`
}

// Who uses each record (docs/dns.md#who-reads-which-record). One line each: they become
// zone-file comments.
const (
	clientsAutoconfig   = "autoconfig: Thunderbird, Thunderbird for Android/K-9, Evolution, KMail, Delta Chat"
	clientsAutodiscover = "Autodiscover: Outlook, new Outlook and Outlook mobile (via Microsoft's cloud), Thunderbird, Delta Chat, Apple Exchange setup"
	clientsAutodiscSRV  = "Autodiscover SRV: Outlook's last resort (asks the user), Thunderbird (asks the user when the target is another domain)"
	clientsPACC         = "PACC (draft-ietf-mailmaint-pacc): no shipping client yet; Apple co-authors the draft"
	clientsPACCDigest   = "PACC digest of the served document: publish it again whenever the provider changes"
	clientsPACCShared   = "PACC digest: the provider's one TXT record (pacc_txt), which resolvers follow this CNAME to"
	clientsPACCOne      = "PACC digest of the served document, for every domain of provider %s (its _ua-auto-config CNAMEs lead here): publish it again whenever the provider changes"
	clientsMailSRV      = "%s (RFC 6186/8314): %s; Thunderbird, K-9, KMail and Delta Chat do not look"
	clientsDAVSRV       = "%s (RFC 6764): DAVx5, Apple's account setup, Evolution%s"
)

// srvService is one RFC 6186 / RFC 8314 service name, or aerc's _smtps.
type srvService struct {
	label    string
	protocol provision.Protocol
	security provision.Security
	what     string
	readers  string
	// onlyOffered: no "." record when the provider does not offer the
	// service. Set for _smtps, a label outside RFC 6186/8314 that only
	// aerc reads: "not offered" there tells no client anything.
	onlyOffered bool
	// comment replaces clientsMailSRV for a label outside the RFCs.
	comment string
}

// mailServices lists the SRV services in output order: implicit TLS before
// its STARTTLS twin (RFC 8314 prefers implicit TLS).
//
// The readers, each from the client's source: Evolution offers every
// target as a choice (docs/clients/evolution.md); FairEmail scores SRV
// above autoconfig and asks _imaps then _imap, _submission then
// _submissions, taking the first record of the answer (EmailProvider.java,
// fromDNS); aerc asks SRV beside autoconfig and takes SRV's answer first,
// for _imap (preferred) and _imaps, _submission (preferred) and _smtps,
// never _submissions (docs/clients/aerc.md); Claws Mail asks _imaps then
// _imap, or _pop3s then _pop3, and only _submission for SMTP
// (docs/clients/claws-mail.md). None of them reads POP3 but Evolution and
// Claws Mail.
//
// _smtps._tcp is outside RFC 6186/8314, but aerc reads it when
// _submission gives nothing, and no other client looks: with it, aerc
// users of a provider that submits on 465 only get their SMTP server.
// _submission is never pointed at 465: RFC 6186/8314 clients would speak
// STARTTLS to an implicit-TLS port.
var mailServices = []srvService{
	{label: "_imaps", protocol: provision.IMAP, security: provision.TLS, what: "IMAP over TLS", readers: "Evolution, FairEmail, aerc (without _imap), Claws Mail"},
	{label: "_imap", protocol: provision.IMAP, security: provision.STARTTLS, what: "IMAP with STARTTLS", readers: "Evolution, FairEmail (without _imaps), aerc (before _imaps), Claws Mail (without _imaps)"},
	{label: "_pop3s", protocol: provision.POP3, security: provision.TLS, what: "POP3 over TLS", readers: "Evolution, Claws Mail"},
	{label: "_pop3", protocol: provision.POP3, security: provision.STARTTLS, what: "POP3 with STARTTLS", readers: "Evolution, Claws Mail (without _pop3s)"},
	{label: "_submissions", protocol: provision.SMTP, security: provision.TLS, what: "submission over TLS", readers: "Evolution, FairEmail (without _submission); aerc asks _smtps instead, Claws Mail only _submission"},
	{label: "_smtps", protocol: provision.SMTP, security: provision.TLS, onlyOffered: true,
		comment: "submission over TLS under aerc's label (outside RFC 6186/8314; no other client reads it): aerc, when _submission gives nothing"},
	{label: "_submission", protocol: provision.SMTP, security: provision.STARTTLS, what: "submission with STARTTLS", readers: "Evolution, FairEmail, aerc, Claws Mail (its only SMTP label)"},
}

// srvPriorityStep separates the priorities of successive servers, leaving
// room for an admin's own records in between.
const srvPriorityStep = 10

// Derive derives the records domain (a lower-case A-label served by p)
// needs so that every client finds the service and the mail servers:
//
//   - autoconfig.<d> and autodiscover.<d>: a CNAME to t.Host, or A/AAAA
//     records when t has addresses and no host;
//   - ua-auto-config.<d> like autoconfig.<d>, and the _ua-auto-config.<d>
//     TXT "v=UAAC1; a=sha256; d=..." with the digest of p's PACC document
//     (PACCDigest), when p has one (docs/pacc.md#pacc);
//   - _autodiscover._tcp.<d>: SRV to t.Host (or to autodiscover.<d> when
//     only addresses are known), port 443;
//   - _imaps, _imap, _pop3s, _pop3, _submissions, _submission (RFC 6186,
//     RFC 8314 §5.1): one record per advertised catalog server, with the
//     target "." for a service the provider does not offer;
//   - _smtps, aerc's label for implicit-TLS submission, beside
//     _submissions and only when the provider offers it (mailServices);
//   - _caldavs._tcp.<d> and _carddavs._tcp.<d> (RFC 6764 §3): SRV to the
//     host of the provider's https CalDAV/CardDAV URL, and a TXT record
//     "path=<the URL's path>" at the same name (RFC 6764 §4).
//
// SRV priorities follow the catalog: protocols rank in the order the
// catalog first lists them, implicit TLS before STARTTLS within a
// protocol, then catalog order. A target with neither host nor addresses
// gives no autoconfig/autodiscover records, only a note. Derive does no
// lookups.
func Derive(p *provision.Provider, domain string, t Target) Domain {
	ttl := t.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	out := Domain{Domain: domain}
	add := func(rr dns.RR, clients string, required bool) {
		h := rr.Header()
		h.Class, h.Ttl = dns.ClassINET, uint32(ttl)
		r := Record{
			Name:     h.Name,
			TTL:      ttl,
			Type:     dns.TypeToString[h.Rrtype],
			Data:     strings.TrimPrefix(rr.String(), h.String()),
			Clients:  clients,
			Required: required,
		}
		switch v := rr.(type) {
		case *dns.CNAME:
			r.Target = v.Target
		case *dns.SRV:
			r.Target = v.Target
			r.SRV = &SRV{Priority: int(v.Priority), Weight: int(v.Weight), Port: int(v.Port), Target: v.Target}
		case *dns.TXT:
			r.Text = strings.Join(v.Txt, "")
		}
		out.Records = append(out.Records, r)
	}

	host := ""
	if t.Host != "" {
		host = dns.Fqdn(t.Host)
	}
	digest := provision.PACCDigest(p)
	names := []struct {
		label, clients string
		required       bool
	}{
		{"autoconfig", clientsAutoconfig, true},
		{"autodiscover", clientsAutodiscover, true},
	}
	if digest != "" {
		names = append(names, struct {
			label, clients string
			required       bool
		}{"ua-auto-config", clientsPACC, false})
	}
	for _, n := range names {
		name := dns.Fqdn(n.label + "." + domain)
		switch {
		case host != "" && !strings.EqualFold(host, name):
			add(&dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: host}, n.clients, n.required)
		case len(t.IPv4)+len(t.IPv6) > 0:
			for _, a := range t.IPv4 {
				add(&dns.A{Hdr: hdr(name, dns.TypeA), A: a.AsSlice()}, n.clients, n.required)
			}
			for _, a := range t.IPv6 {
				add(&dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: a.AsSlice()}, n.clients, n.required)
			}
		case host != "":
			out.Notes = append(out.Notes, fmt.Sprintf("%s is the public host itself: give it A/AAAA records (MAILAUTOCONF_PUBLIC_IPV4, MAILAUTOCONF_PUBLIC_IPV6)", name))
		default:
			out.Notes = append(out.Notes, fmt.Sprintf("%s (%s): set MAILAUTOCONF_PUBLIC_HOST for a CNAME, or MAILAUTOCONF_PUBLIC_IPV4/MAILAUTOCONF_PUBLIC_IPV6 for A/AAAA records", name, n.clients))
		}
	}
	if digest != "" {
		owner := "_ua-auto-config." + domain + "."
		if shared := dns.Fqdn(p.PACCTXT); p.PACCTXT != "" && shared != owner {
			add(&dns.CNAME{Hdr: hdr(owner, dns.TypeCNAME), Target: shared}, clientsPACCShared, false)
			// What the TXT record at the end must hold: the check follows
			// the CNAME and compares (internal/dnscheck).
			out.Records[len(out.Records)-1].Text = digest
		} else {
			add(&dns.TXT{Hdr: hdr(owner, dns.TypeTXT), Txt: []string{digest}}, clientsPACCDigest, false)
		}
	}
	// An SRV target must not be an alias (RFC 2782): the public host, or
	// autodiscover.<d> when that carries the addresses itself.
	switch adTarget := dns.Fqdn("autodiscover." + domain); {
	case host != "":
		add(&dns.SRV{Hdr: hdr("_autodiscover._tcp."+domain+".", dns.TypeSRV), Port: 443, Target: host}, clientsAutodiscSRV, false)
	case len(t.IPv4)+len(t.IPv6) > 0:
		add(&dns.SRV{Hdr: hdr("_autodiscover._tcp."+domain+".", dns.TypeSRV), Port: 443, Target: adTarget}, clientsAutodiscSRV, false)
	}

	for _, svc := range mailServices {
		owner := svc.label + "._tcp." + domain + "."
		clients := svc.comment
		if clients == "" {
			clients = fmt.Sprintf(clientsMailSRV, svc.what, svc.readers)
		}
		found := false
		for _, s := range srvOrder(p, svc.protocol) {
			if s.server.Security != svc.security {
				continue
			}
			found = true
			add(&dns.SRV{
				Hdr:      hdr(owner, dns.TypeSRV),
				Priority: uint16(s.rank * srvPriorityStep),
				Weight:   1,
				Port:     uint16(s.server.Port),
				Target:   dns.Fqdn(s.server.Host),
			}, clients, false)
		}
		if !found && !svc.onlyOffered {
			add(&dns.SRV{Hdr: hdr(owner, dns.TypeSRV), Target: "."}, clients+"; \".\": not offered", false)
		}
	}

	for _, dav := range []struct{ label, url, what, extra string }{
		{"_caldavs", p.CalDAV, "CalDAV over TLS", ""},
		{"_carddavs", p.CardDAV, "CardDAV over TLS", ", Thunderbird (CardDAV)"},
	} {
		host, port, path, ok := davSRVTarget(dav.url)
		if !ok {
			continue
		}
		owner := dav.label + "._tcp." + domain + "."
		clients := fmt.Sprintf(clientsDAVSRV, dav.what, dav.extra)
		add(&dns.SRV{Hdr: hdr(owner, dns.TypeSRV), Weight: 1, Port: uint16(port), Target: dns.Fqdn(host)}, clients, false)
		add(&dns.TXT{Hdr: hdr(owner, dns.TypeTXT), Txt: []string{"path=" + path}}, clients+": the context path", false)
	}
	return out
}

// Shared derives the records that belong to provider p rather than to
// one of its domains: with pacc_txt set (docs/pacc.md#one-digest-per-provider),
// the one TXT record at that name holding the digest of p's PACC
// document, which every domain's _ua-auto-config CNAME leads to. It is
// nil when p has no pacc_txt or no PACC document, and when pacc_txt is
// the _ua-auto-config name of one of p's domains (Derive writes the TXT
// record there).
func Shared(p *provision.Provider, ttl int) *Domain {
	digest := provision.PACCDigest(p)
	if p.PACCTXT == "" || digest == "" {
		return nil
	}
	for _, d := range p.Domains {
		if p.PACCTXT == "_ua-auto-config."+d {
			return nil
		}
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	name := dns.Fqdn(p.PACCTXT)
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(ttl)}, Txt: []string{digest}}
	return &Domain{Domain: p.PACCTXT, Provider: p.ID, Records: []Record{{
		Name:    name,
		TTL:     ttl,
		Type:    "TXT",
		Data:    strings.TrimPrefix(rr.String(), rr.Hdr.String()),
		Text:    digest,
		Clients: fmt.Sprintf(clientsPACCOne, p.ID),
	}}}
}

// SharedOf returns Shared's records of each distinct provider of ps, in
// the order they first appear: the blocks `dns` prints after the
// domains'.
func SharedOf(ps []*provision.Provider, ttl int) []Domain {
	var out []Domain
	seen := map[*provision.Provider]bool{}
	for _, p := range ps {
		if seen[p] {
			continue
		}
		seen[p] = true
		if s := Shared(p, ttl); s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// davSRVTarget splits an https DAV URL into the SRV target, port and the
// context path of RFC 6764 §4; ok is false for "" and for a URL without
// TLS (RFC 6764's _caldav/_carddav would say plain HTTP: never
// advertised).
func davSRVTarget(u string) (host string, port int, path string, ok bool) {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "https" || pu.Hostname() == "" {
		return "", 0, "", false
	}
	port = 443
	if ps := pu.Port(); ps != "" {
		if port, err = strconv.Atoi(ps); err != nil {
			return "", 0, "", false
		}
	}
	path = pu.EscapedPath()
	if path == "" {
		path = "/"
	}
	return strings.ToLower(pu.Hostname()), port, path, true
}

func hdr(name string, typ uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET}
}

type rankedServer struct {
	server provision.Server
	rank   int
}

// srvOrder returns the advertised servers that SRV records describe for
// protocol's family (IMAP and POP3 share one ranking, RFC 6186 §3.4; SMTP
// has its own), each with its rank: protocols in catalog order, implicit
// TLS first within a protocol, then catalog order. Duplicates collapse.
func srvOrder(p *provision.Provider, protocol provision.Protocol) []rankedServer {
	servers := p.AdvertisedIncoming()
	if protocol == provision.SMTP {
		servers = p.AdvertisedOutgoing()
	}
	var protoRank []provision.Protocol
	for _, s := range servers {
		if !slices.Contains(protoRank, s.Protocol) {
			protoRank = append(protoRank, s.Protocol)
		}
	}
	sorted := slices.Clone(servers)
	slices.SortStableFunc(sorted, func(a, b provision.Server) int {
		if d := slices.Index(protoRank, a.Protocol) - slices.Index(protoRank, b.Protocol); d != 0 {
			return d
		}
		return secRank(a.Security) - secRank(b.Security)
	})
	var out []rankedServer
	type key struct {
		proto provision.Protocol
		sec   provision.Security
		host  string
		port  int
	}
	seen := map[key]bool{}
	for _, s := range sorted {
		k := key{s.Protocol, s.Security, s.Host, s.Port}
		if seen[k] {
			continue
		}
		seen[k] = true
		if s.Protocol == protocol {
			out = append(out, rankedServer{s, len(seen) - 1})
		}
	}
	return out
}

func secRank(s provision.Security) int {
	if s == provision.TLS {
		return 0
	}
	return 1
}

// Zone writes the records of each domain in zone-file syntax, ready to
// paste into a BIND zone: fully qualified owners, a comment line above
// each record naming the clients that use it, notes as comments.
func Zone(domains []Domain) []byte {
	var b bytes.Buffer
	for i, d := range domains {
		if i > 0 {
			b.WriteByte('\n')
		}
		if d.Provider != "" {
			fmt.Fprintf(&b, "; PACC digest shared by the domains of provider %s\n", d.Provider)
		} else {
			fmt.Fprintf(&b, "; Mail client auto-configuration records for %s\n", d.Domain)
		}
		for _, n := range d.Notes {
			fmt.Fprintf(&b, "; NOT GIVEN: %s\n", n)
		}
		width := 0
		for _, r := range d.Records {
			width = max(width, len(r.Name))
		}
		for _, r := range d.Records {
			fmt.Fprintf(&b, "; %s\n", r.Clients)
			fmt.Fprintf(&b, "%-*s %d IN %-5s %s\n", width, r.Name, r.TTL, r.Type, r.Data)
		}
	}
	return b.Bytes()
}

// ZoneJSON is Zone for machines: {"domains": [Domain...]}.
func ZoneJSON(domains []Domain) []byte {
	if domains == nil {
		domains = []Domain{}
	}
	b, err := json.MarshalIndent(struct {
		Domains []Domain `json:"domains"`
	}{domains}, "", "  ")
	if err != nil {
		panic("json: encoding records failed: " + err.Error())
	}
	return append(b, '\n')
}
