package provision

import (
	"fmt"
	"slices"
	"strings"
)

// iOSAuth are the authentication values Thunderbird for iOS's decoder
// knows (docs/clients/thunderbird-ios.md); any other fails its decoding
// of the whole autoconfig document.
var iOSAuth = []string{"password-cleartext", "password-encrypted", "OAuth2", "client-IP-address", "smtp-after-pop"}

// ClientWarnings returns the warnings `check` prints for a provider whose
// answers break, or half-configure, a client we have read (docs/clients/),
// each naming the client and what to change. The catalog stays valid: the
// provider's order and choices are its own. None for the demo.
func ClientWarnings(p *Provider) []string {
	var out []string
	add := func(format string, args ...any) {
		out = append(out, fmt.Sprintf("%s: provider %s: ", p.Source, p.ID)+fmt.Sprintf(format, args...))
	}
	in, outgoing := p.AdvertisedIncoming(), p.AdvertisedOutgoing()
	firstIMAP := slices.IndexFunc(in, func(s Server) bool { return s.Protocol == IMAP })
	switch {
	case firstIMAP < 0:
		add("no IMAP server: Geary, GNOME Online Accounts, aerc, Nextcloud Mail and Thunderbird for iOS set up IMAP accounts only")
	case firstIMAP > 0:
		add("%s is listed before IMAP: Geary reads only the first incomingServer and gives up on the document (\"Unsupported protocol\"), and FairEmail wants IMAP first; list IMAP first to have them configure it (docs/clients/geary.md)", strings.ToUpper(string(in[0].Protocol)))
	}
	if p.LoginDirectory != "" && p.NeedsLogin() {
		add("logins come from a directory (%%LOGIN%%): GNOME Online Accounts drops a username that is not exactly a placeholder and Geary reads none, so their users must type their login name by hand (docs/clients/gnome-online-accounts.md)")
	}
	hasSMTP := len(outgoing) > 0
	if hasSMTP && !slices.ContainsFunc(outgoing, func(s Server) bool { return s.Security == STARTTLS }) {
		add("SMTP with implicit TLS only: Claws Mail asks only _submission._tcp and finds no server, so its users type it; aerc needs the _smtps._tcp record `mailautoconf dns` prints (docs/clients/claws-mail.md, docs/clients/aerc.md)")
	}
	for _, s := range gnomePicks(in, outgoing) {
		if want := gnomePort(s); s.Port != want {
			add("%s %s:%d: GNOME Online Accounts ignores the port and connects to %d (docs/clients/gnome-online-accounts.md)", strings.ToUpper(string(s.Protocol)), s.Host, s.Port, want)
		}
	}
	for _, s := range append(slices.Clone(in), outgoing...) {
		for _, a := range s.Auth {
			if !slices.Contains(iOSAuth, a) {
				add("%s %s:%d authentication %s: Thunderbird for iOS's decoder knows no such value and discards the whole autoconfig document (docs/clients/thunderbird-ios.md)", strings.ToUpper(string(s.Protocol)), s.Host, s.Port, a)
			}
		}
	}
	var types []string
	for _, x := range []struct{ typ, url string }{{"jmap", p.JMAP}, {"ews", p.EWS}, {"owa", p.OWA}} {
		if x.url != "" {
			types = append(types, x.typ)
		}
	}
	if len(types) > 0 {
		add("%s: Thunderbird for iOS's decoder knows the server types imap, pop3 and smtp only and discards the whole autoconfig document on an incomingServer of type %s (docs/clients/thunderbird-ios.md)", strings.Join(types, ", "), strings.Join(types, " or "))
	}
	return out
}

// gnomePicks are the servers GNOME Online Accounts fills in: the first
// IMAP and the first SMTP server.
func gnomePicks(in, out []Server) []Server {
	var picks []Server
	for _, list := range [][]Server{in, out} {
		for _, s := range list {
			if s.Protocol == IMAP || s.Protocol == SMTP {
				picks = append(picks, s)
				break
			}
		}
	}
	return picks
}

// gnomePort is the port GNOME Online Accounts connects to: the standard
// one for the protocol and TLS mode (goaimapsmtpprovider.c).
func gnomePort(s Server) int {
	switch {
	case s.Protocol == IMAP && s.Security == TLS:
		return 993
	case s.Protocol == IMAP:
		return 143
	case s.Security == TLS:
		return 465
	}
	return 587
}
