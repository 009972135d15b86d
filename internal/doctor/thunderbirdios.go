package doctor

// Thunderbird for iOS's Autoconfiguration library
// (docs/clients/thunderbird-ios.md): a strict decoder, so one section it
// cannot decode loses the whole document.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Values the library's enumerations decode (Server.swift); any other
// value fails the whole document.
var (
	tbiosServerTypes = []string{"imap", "pop3", "smtp"}
	tbiosSockets     = []string{"STARTTLS", "SSL"}
	tbiosAuth        = []string{"client-IP-address", "OAuth2", "password-cleartext", "password-encrypted", "smtp-after-pop"}
)

// tbiosAutoconfig is the library's XMLToJSONParser and Decodable types:
// text trimmed and placeholders replaced everywhere; a clientConfig whose
// emailProvider has a displayName, a displayShortName, a domain and
// servers each with a type among imap, pop3 and smtp, a hostname, an
// integer port, a socketType of exactly STARTTLS or SSL, a username and
// only authentication values it knows; a root oAuth2 element, when
// present, needs authURL, tokenURL, issuer and scope. Which servers the
// app then takes is not in the library: the replay takes the first imap
// and the first smtp [UNCONFIRMED].
func tbiosAutoconfig(body []byte, id ident) verdict {
	root, err := parseXML(body)
	if err != nil {
		return refuse("not well-formed XML: "+err.Error(), fixWellFormed)
	}
	if root.qname() != "clientConfig" {
		return refuse("no clientConfig", fixWellFormed)
	}
	text := func(n *node) string { return id.expand(strings.TrimSpace(textOf(n))) }
	fix := "give every server type imap, pop3 or smtp, a hostname, a port, socketType SSL or STARTTLS, a username and password-cleartext or password-encrypted (docs/clients/thunderbird-ios.md)"
	var v verdict
	if o := root.child("oAuth2"); o != nil {
		for _, k := range []string{"authURL", "tokenURL", "issuer", "scope"} {
			if text(o.child(k)) == "" {
				return refuse("oAuth2 without "+k+": the whole document fails to decode", "give the oAuth2 element authURL, tokenURL, issuer and scope, or leave it out")
			}
		}
		v.notes = append(v.notes, "reads the root oAuth2 element (authURL "+text(o.child("authURL"))+")")
	}
	ep := root.child("emailProvider")
	if ep == nil {
		return refuse("no emailProvider", fixWellFormed)
	}
	for _, k := range []string{"displayName", "displayShortName", "domain"} {
		if text(ep.child(k)) == "" {
			return refuse("no "+k+": the whole document fails to decode", "give emailProvider a displayName, a displayShortName and a domain")
		}
	}
	for _, s := range ep.kids {
		if s.qname() != "incomingServer" && s.qname() != "outgoingServer" {
			continue
		}
		typ := s.attrs["type"]
		if !slices.Contains(tbiosServerTypes, typ) {
			return refuse(fmt.Sprintf("a server of type %q: the whole document fails to decode", typ), "list no server types but imap, pop3 and smtp (docs/clients/thunderbird-ios.md)")
		}
		e := Endpoint{Protocol: typ, Host: text(s.child("hostname")), Socket: text(s.child("socketType"))}
		port, err := strconv.Atoi(text(s.child("port")))
		switch {
		case e.Host == "":
			return refuse(typ+" server without hostname: the whole document fails to decode", fix)
		case err != nil:
			return refuse(fmt.Sprintf("%s server port %q is not an integer: the whole document fails to decode", typ, text(s.child("port"))), fix)
		case !slices.Contains(tbiosSockets, e.Socket):
			return refuse(fmt.Sprintf("%s server socketType %q is not STARTTLS or SSL: the whole document fails to decode", typ, e.Socket), fix)
		case s.child("username") == nil || text(s.child("username")) == "":
			return refuse(typ+" server without username: the whole document fails to decode", fix)
		}
		for _, a := range s.all("authentication") {
			if t := text(a); t != "" && !slices.Contains(tbiosAuth, t) {
				return refuse(fmt.Sprintf("%s server authentication %q is not one it knows: the whole document fails to decode", typ, t), fix)
			}
		}
		e.Port = port
		e.Username = text(s.child("username"))
		v.candidates = append(v.candidates, e)
	}
	for i := range v.candidates {
		e := &v.candidates[i]
		if e.Protocol == "imap" && v.incoming == nil {
			v.incoming = e
		}
		if e.Protocol == "smtp" && v.outgoing == nil {
			v.outgoing = e
		}
	}
	switch {
	case v.incoming == nil:
		return refuse("no imap server", "list an IMAP server")
	case v.outgoing == nil:
		return refuse("no smtp server", "list an SMTP server")
	}
	in, out := *v.incoming, *v.outgoing
	v.incoming, v.outgoing = &in, &out
	v.ok = true
	return v
}

// thunderbirdIOS replays URLSession.autoconfig: the provider URL with the
// address (URLQueryItem leaves "@" and "+" as they are), the well-known URL without it, the ISPDB (not replayed), each
// accepted only with a 200 and a document that decodes; then the
// registrable domain of the first MX host, asked the same way without
// the address.
func (r *run) thunderbirdIOS(ctx context.Context, c *ClientResult) {
	read := func(_ string, b []byte) verdict { return tbiosAutoconfig(b, r.id) }
	urls := func(d, q string) []string {
		return []string{"https://autoconfig." + d + configPath + q, "https://" + d + wellKnownPath}
	}
	c.Notes = append(c.Notes, "Thunderbird for iOS asks the ISPDB after these URLs; not checked here")
	v, src := r.autoconfig(ctx, c, urls(r.domain, "?emailaddress="+r.id.address), firstValid, true, "", read)
	if !v.ok {
		if mx, problem := r.net.res.lookupMX(ctx, r.domain); problem == "" {
			host := strings.TrimSuffix(mx[0].Host, ".")
			if base, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil && base != r.domain {
				if v2, src2 := r.autoconfig(ctx, c, urls(base, ""), firstValid, true, "", read); v2.ok {
					v, src = v2, src2
					warn(c, "found through the MX host's domain "+base)
				}
			}
		}
	}
	c.Source = src
	r.finish(ctx, c, v, false)
}
