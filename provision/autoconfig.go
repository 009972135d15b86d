package provision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// socketType maps our security names to autoconfig's. "plain" is never
// produced: servers without TLS are not advertised (K-9 drops a whole file
// that holds one, docs/autoconfig.md#thunderbird-for-android-k-9).
func socketType(s Security) string {
	if s == TLS {
		return "SSL"
	}
	return "STARTTLS"
}

// Autoconfig renders the config-v1.1.xml document (docs/autoconfig.md) of
// provider p for the e-mail domain domain (render.go). With a nil addr the
// username placeholders are left for the client to fill in; with an
// address they are filled. It lists only the requested domain, so that one
// customer's lookup does not reveal a hoster's other customers, and the
// servers opts.Servers chooses.
//
// The output follows the generation rules of docs/autoconfig.md#what-we-generate: no
// "plain" socketType, every section with hostname, port, socketType,
// username and a password method, no white space inside values.
func (c *Catalog) Autoconfig(dst []byte, p *Provider, domain string, addr *Address, opts Options) ([]byte, error) {
	if err := checkRender(p, addr, false); err != nil {
		return dst, err
	}
	addr = withLogin(addr)
	if out := c.autoconfigTemplate(p, addr, opts.Servers).Append(dst, c.addressFill(p, domain, addr, "")); out != nil {
		return out, nil
	}
	return append(dst, autoconfigDoc(p, domain, addr, opts.Servers)...), nil
}

// Servers says which of a provider's advertised servers a config-v1.1.xml
// lists.
type Servers uint8

const (
	// AllServers lists every advertised server in catalog order, which is
	// the order of preference: Thunderbird, Thunderbird for Android/K-9,
	// KMail and Delta Chat take the first of each type or try them in
	// order.
	AllServers Servers = iota
	// OnePerType lists only the first advertised server of each protocol
	// (IMAP, POP3, SMTP): the one a first-wins client configures. It is
	// for clients that keep the last server of each type, Evolution
	// among them (docs/clients/evolution.md). One server per type rather
	// than the list reversed: a reversed list would make every first-wins
	// client take the least preferred server if it ever got that answer,
	// and Evolution keeps values a later section of a type lacks from an
	// earlier one, so a single section per type is the only layout whose
	// reading does not depend on the parser.
	OnePerType
)

// autoconfigDoc builds the config-v1.1.xml document with etree: the
// reference renderer, also run once per provider to pre-render it
// (prerender.go).
func autoconfigDoc(p *Provider, domain string, addr *Address, which Servers) []byte {
	incoming, outgoing := p.AdvertisedIncoming(), p.AdvertisedOutgoing()
	if which == OnePerType {
		incoming, outgoing = firstPerProtocol(incoming), firstPerProtocol(outgoing)
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("clientConfig")
	root.CreateAttr("version", "1.1")

	ep := root.CreateElement("emailProvider")
	ep.CreateAttr("id", p.ID)
	ep.CreateElement("domain").SetText(domain)
	ep.CreateElement("displayName").SetText(p.DisplayName)
	ep.CreateElement("displayShortName").SetText(p.ShortName)
	for _, s := range incoming {
		el := ep.CreateElement("incomingServer")
		el.CreateAttr("type", string(s.Protocol))
		autoconfigServer(el, s, addr)
		if s.POP3 != nil {
			pop3Options(el.CreateElement("pop3"), s.POP3)
		}
	}
	// A JMAP server (autoconfig 1.2, draft-ietf-mailmaint-autoconfig-06)
	// comes after the IMAP and POP3 servers: FairEmail stops at the first
	// incomingServer of any type, Thunderbird 153 and K-9 skip the type
	// (docs/pacc.md#autoconfig-12-what-clients-accept). Evolution's
	// one-per-type answer leaves it out: what it makes of the type was
	// not read.
	user := expandUsername(incoming[0].Username, addr)
	if p.JMAP != "" && which == AllServers {
		el := ep.CreateElement("incomingServer")
		el.CreateAttr("type", "jmap")
		el.CreateElement("url").SetText(p.JMAP)
		el.CreateElement("username").SetText(user)
		a := el.CreateElement("authentication")
		a.CreateAttr("system", "http")
		a.SetText("Basic")
	}
	if which == AllServers {
		exchangeServers(ep, p, user, incoming[0].Auth)
	}
	for _, s := range outgoing {
		el := ep.CreateElement("outgoingServer")
		el.CreateAttr("type", "smtp")
		autoconfigServer(el, s, addr)
	}

	// v1.1 spells these addressBook/calendar with serverURL (docs/autoconfig.md#contacts-and-calendars);
	// no client reads them for account setup yet, but they tell a
	// human reader and future clients where contacts and calendars live.
	if p.CardDAV != "" {
		davSection(root.CreateElement("addressBook"), "carddav", p.CardDAV, user)
	}
	if p.CalDAV != "" {
		davSection(root.CreateElement("calendar"), "caldav", p.CalDAV, user)
	}
	if p.Webmail != "" {
		root.CreateElement("webMail").CreateElement("loginPage").CreateAttr("url", p.Webmail)
	}
	if o := p.OAuth2; o != nil {
		el := root.CreateElement("oAuth2")
		el.CreateElement("issuer").SetText(o.Issuer)
		el.CreateElement("scope").SetText(o.Scope)
		el.CreateElement("authURL").SetText(o.AuthURL)
		el.CreateElement("tokenURL").SetText(o.TokenURL)
	}

	return writeDoc(doc)
}

// LastWinsWarning returns a warning for a provider that advertises several
// IMAP or several SMTP servers, or "". FairEmail before 1.2269 keeps the
// last server of each type and sends nothing that tells it apart, so it
// gets AllServers and configures the least preferred one
// (docs/clients/fairemail.md); Evolution is told apart and answered with
// OnePerType.
func LastWinsWarning(p *Provider) string {
	var picks []string
	for _, servers := range [][]Server{p.AdvertisedIncoming(), p.AdvertisedOutgoing()} {
		proto := IMAP
		if len(servers) > 0 && servers[0].Protocol == SMTP {
			proto = SMTP
		}
		var of []Server
		for _, s := range servers {
			if s.Protocol == proto {
				of = append(of, s)
			}
		}
		if len(of) > 1 {
			last := of[len(of)-1]
			picks = append(picks, fmt.Sprintf("%s %s:%d rather than %s:%d", strings.ToUpper(string(proto)), last.Host, last.Port, of[0].Host, of[0].Port))
		}
	}
	if len(picks) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: provider %s lists several servers of a type: FairEmail before 1.2269, which cannot be told apart from other clients, configures the last (%s); list the preferred server alone to avoid it",
		p.Source, p.ID, strings.Join(picks, ", "))
}

// firstPerProtocol returns the first server of each protocol in servers,
// in their order.
func firstPerProtocol(servers []Server) []Server {
	out := make([]Server, 0, 2)
	for _, s := range servers {
		if !slices.ContainsFunc(out, func(o Server) bool { return o.Protocol == s.Protocol }) {
			out = append(out, s)
		}
	}
	return out
}

func autoconfigServer(el *etree.Element, s Server, addr *Address) {
	el.CreateElement("hostname").SetText(s.Host)
	el.CreateElement("port").SetText(strconv.Itoa(s.Port))
	el.CreateElement("socketType").SetText(socketType(s.Security))
	el.CreateElement("username").SetText(expandUsername(s.Username, addr))
	for _, a := range s.Auth {
		el.CreateElement("authentication").SetText(a)
	}
}

func pop3Options(el *etree.Element, o *POP3Options) {
	if o.LeaveOnServer != nil {
		el.CreateElement("leaveMessagesOnServer").SetText(strconv.FormatBool(*o.LeaveOnServer))
	}
	if o.DaysOnServer != nil {
		el.CreateElement("daysToLeaveMessagesOnServer").SetText(strconv.Itoa(*o.DaysOnServer))
	}
	if o.DownloadOnCheck != nil {
		el.CreateElement("downloadOnBiff").SetText(strconv.FormatBool(*o.DownloadOnCheck))
	}
	if o.CheckInterval != nil {
		el.CreateElement("checkInterval").CreateAttr("minutes", strconv.Itoa(*o.CheckInterval))
	}
}

func davSection(el *etree.Element, typ, url, user string) {
	el.CreateAttr("type", typ)
	el.CreateElement("username").SetText(user)
	el.CreateElement("authentication").SetText("http-basic")
	el.CreateElement("serverURL").SetText(url)
}
