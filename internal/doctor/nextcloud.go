package doctor

// Nextcloud Mail's account setup (docs/clients/nextcloud-mail.md): the
// Nextcloud server, not the user's device, asks.

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// phpInt is PHP's (int) cast of a string: leading white space, then the
// leading digits; 0 when there are none.
func phpInt(s string) int {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 1<<20; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// nextcloudAutoconfig is IspDb::queryUrl (lib/Service/AutoConfig/IspDb.php):
// a document with an emailProvider; the first incomingServer of type
// exactly imap and the first outgoingServer of type exactly smtp; ssl
// (any case) is implicit TLS, starttls or tls STARTTLS, anything else
// none; placeholders are replaced anywhere in the username. A document
// with neither server sends it to the next URL; one with either is used.
func nextcloudAutoconfig(body []byte, id ident) verdict {
	ep, refused := emailProvider(body)
	if ep == nil {
		return refused
	}
	var v verdict
	pick := func(kind, typ string) *Endpoint {
		for _, s := range ep.all(kind) {
			if s.attrs["type"] != typ {
				continue
			}
			e := Endpoint{Protocol: typ, Host: textOf(s.child("hostname")), Port: phpInt(textOf(s.child("port"))), Username: id.expand(textOf(s.child("username")))}
			switch strings.ToLower(textOf(s.child("socketType"))) {
			case "ssl":
				e.Socket = "SSL"
			case "starttls", "tls":
				e.Socket = "STARTTLS"
			default:
				e.Socket = "plain"
			}
			return &e
		}
		return nil
	}
	v.incoming, v.outgoing = pick("incomingServer", "imap"), pick("outgoingServer", "smtp")
	switch {
	case v.incoming == nil && v.outgoing == nil:
		return refuse("no imap or smtp server", "list an IMAP and an SMTP server")
	case v.incoming == nil:
		v.fails = append(v.fails, "no imap server: Nextcloud Mail reads IMAP only")
		v.fix = "list an IMAP server"
	case v.outgoing == nil:
		v.warnings = append(v.warnings, "no smtp server: Nextcloud Mail users must type the SMTP server")
	}
	for _, e := range []*Endpoint{v.incoming, v.outgoing} {
		if e != nil && (e.Host == "" || e.Port < 1 || e.Port > 65535) {
			v.fails = append(v.fails, fmt.Sprintf("%s: no usable host and port", e))
			v.fix = fixSection
		}
	}
	v.ok = true
	return v
}

// nextcloud replays Nextcloud Mail's IspDb::query (nextcloud/mail
// e5734fe2): https autoconfig and well-known, both with the address as
// typed, the ISPDB (not replayed), then both over plain HTTP, 7 s each;
// then the same for the first MX host and for its parent domain.
func (r *run) nextcloud(ctx context.Context, c *ClientResult) {
	c.Notes = append(c.Notes, "the Nextcloud server asks, not the user's device: its DNS and its network must reach these names; Nextcloud refuses local and private addresses unless allow_local_remote_servers is set")
	read := func(_ string, b []byte) verdict { return nextcloudAutoconfig(b, r.id) }
	urls := func(d string) []string {
		q := "?emailaddress=" + r.id.address
		return []string{
			"https://autoconfig." + d + configPath + q,
			"https://" + d + wellKnownPath + q,
			"http://autoconfig." + d + configPath + q,
			"http://" + d + wellKnownPath + q,
		}
	}
	v, src := r.autoconfig(ctx, c, urls(r.domain), firstValid, false, "", read)
	if !v.ok {
		for _, md := range r.nextcloudMXDomains(ctx, c) {
			if v2, src2 := r.autoconfig(ctx, c, urls(md), firstValid, false, "", read); v2.ok {
				v, src = v2, src2
				warn(c, "found through the MX host's domain "+md)
				break
			}
		}
	}
	c.Source = src
	if v.ok && strings.HasPrefix(src, "http://") {
		warn(c, "configured over plain HTTP: fix HTTPS for autoconfig."+r.domain)
	}
	r.finish(ctx, c, v, false)
}

// nextcloudMXDomains: the target of the first MX record as the resolver
// lists it (not the most preferred), then that name minus its first
// label unless that is a public suffix.
func (r *run) nextcloudMXDomains(ctx context.Context, c *ClientResult) []string {
	mx, problem := r.net.res.lookupMX(ctx, r.domain)
	if problem != "" {
		c.Notes = append(c.Notes, "MX lookup: "+problem)
		return nil
	}
	host := strings.TrimSuffix(mx[0].Host, ".")
	if host == "" {
		return nil
	}
	out := []string{host}
	// Only a registrable domain or deeper (Resolver::isSuffix).
	if _, parent, ok := strings.Cut(host, "."); ok && parent != "" {
		if ps, _ := publicsuffix.PublicSuffix(parent); ps == parent {
			return out
		}
		out = append(out, parent)
	}
	return out
}
