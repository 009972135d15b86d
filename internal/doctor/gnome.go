package doctor

// GNOME Online Accounts' IMAP/SMTP discovery (docs/clients/gnome-online-accounts.md).

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// MailV1Path is the autoconfig URL GNOME Online Accounts and SnappyMail
// ask first; the autoconfig draft dropped it in 2024.
const MailV1Path = "/.well-known/mail-v1.xml"

// gnomeUsername is what GNOME makes of a <username>: the address, its
// local part or its domain when the value is exactly one of the three
// placeholders (in any letter case); nothing otherwise.
func gnomeUsername(raw string, id ident) string {
	switch {
	case strings.EqualFold(raw, "%EMAILADDRESS%"):
		return id.address
	case strings.EqualFold(raw, "%EMAILLOCALPART%"):
		return id.local
	case strings.EqualFold(raw, "%EMAILDOMAIN%"):
		return id.domain
	}
	return ""
}

// gnomeAutoconfig is goamailclient.c's mail_client_parse_autoconfig_xml
// and goaimapsmtpprovider.c's use of it: a root that is not clientConfig
// sends GNOME to the next URL; any other answer ends the lookup, even one
// without servers. The first server of type imap and the first of type
// smtp fill the dialog: the host name, the TLS mode (plain and unknown
// values show as SSL), and the username when it was a placeholder. The
// port is not used: GNOME connects to 993/143 and 465/587 by TLS mode.
func gnomeAutoconfig(body []byte, id ident) verdict {
	root, err := parseXML(body)
	if err != nil || root.qname() != "clientConfig" {
		return refuse("no clientConfig document", fixWellFormed)
	}
	v := verdict{ok: true}
	ep := root.child("emailProvider")
	for _, s := range append(ep.all("incomingServer"), ep.all("outgoingServer")...) {
		typ, ok := s.attrs["type"]
		if !ok {
			continue
		}
		typ = strings.ToLower(typ)
		if typ != "imap" && typ != "smtp" {
			continue
		}
		e := Endpoint{Protocol: typ, Host: textOf(s.child("hostname")), Socket: "SSL"}
		if strings.EqualFold(textOf(s.child("socketType")), "STARTTLS") {
			e.Socket = "STARTTLS"
		}
		e.Port = gnomePort(typ, e.Socket)
		raw := textOf(s.child("username"))
		e.Username = gnomeUsername(raw, id)
		if (typ == "imap" && v.incoming != nil) || (typ == "smtp" && v.outgoing != nil) {
			continue
		}
		v.candidates = append(v.candidates, e)
		if p := textOf(s.child("port")); p != "" && p != fmt.Sprint(e.Port) {
			v.warnings = append(v.warnings, fmt.Sprintf("%s: GNOME ignores the port %s and connects to %d", e, p, e.Port))
		}
		if e.Username == "" && raw != "" {
			v.warnings = append(v.warnings, fmt.Sprintf("%s login %q is not exactly a placeholder: GNOME drops it and its users must type their login name by hand", strings.ToUpper(typ), raw))
		}
		if typ == "imap" {
			v.incoming = &e
		} else {
			v.outgoing = &e
		}
	}
	switch {
	case v.incoming == nil:
		v.fails = append(v.fails, "the answer has no imap server: GNOME stops there and fills nothing in")
		v.fix = "list an IMAP server"
	case v.incoming.Host == "" || !isHostname(v.incoming.Host):
		v.fails = append(v.fails, fmt.Sprintf("IMAP host %q is not a host name", v.incoming.Host))
		v.fix = fixSection
	}
	if v.outgoing == nil {
		v.warnings = append(v.warnings, "no smtp server: GNOME users must type the SMTP server by hand")
	}
	return v
}

func gnomePort(protocol, socket string) int {
	switch {
	case protocol == "imap" && socket == "SSL":
		return 993
	case protocol == "imap":
		return 143
	case socket == "SSL":
		return 465
	}
	return 587
}

// gnome replays GNOME Online Accounts 3.51 to 3.58 (goa_mail_client_discover):
// mail-v1.xml with the address, config-v1.1.xml with it, the well-known
// URL and the plain-HTTP URL without it, the ISPDB (not replayed); then
// mail-v1.xml on the first MX host's domain and its base domain. Only a
// 200 counts.
func (r *run) gnome(ctx context.Context, c *ClientResult) {
	d := r.domain
	q := "?emailaddress=" + url.QueryEscape(r.id.address)
	urls := []string{
		"https://autoconfig." + d + MailV1Path + q,
		"https://autoconfig." + d + configPath + q,
		"https://" + d + wellKnownPath,
		"http://autoconfig." + d + configPath,
	}
	read := func(_ string, b []byte) verdict { return gnomeAutoconfig(b, r.id) }
	c.Notes = append(c.Notes, "GNOME asks the ISPDB (v1.ispdb.net) after these URLs; not checked here")
	v, src := r.autoconfig(ctx, c, urls, firstValid, true, gnomeUA, read)
	if !v.ok {
		for _, md := range r.gnomeMXDomains(ctx, c) {
			if v2, src2 := r.autoconfig(ctx, c, []string{"https://autoconfig." + md + MailV1Path + q}, firstValid, true, gnomeUA, read); v2.ok {
				v, src = v2, src2
				warn(c, "found through the MX domain "+md+" (GNOME asks only mail-v1.xml there)")
				break
			}
		}
	}
	c.Source = src
	if v.ok && strings.HasPrefix(src, "http://") {
		warn(c, "configured over plain HTTP: fix HTTPS for autoconfig."+d)
	}
	r.finish(ctx, c, v, false)
}

// gnomeUA is the User-Agent GNOME's discovery sends ("gnome-online-accounts/"
// PACKAGE_VERSION " ").
const gnomeUA = "gnome-online-accounts/3.58.1 "

// gnomeMXDomains are the domains GNOME's MX fallback asks: the most
// preferred MX host itself (not minus its first label, unlike
// Thunderbird), then its base domain when that differs.
func (r *run) gnomeMXDomains(ctx context.Context, c *ClientResult) []string {
	host, ok := r.bestMX(ctx, c)
	if !ok {
		return nil
	}
	if host == "" || host == r.domain {
		return nil
	}
	out := []string{host}
	if base, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil && base != host && base != r.domain {
		out = append(out, base)
	}
	return out
}
