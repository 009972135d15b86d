package provision

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"howett.net/plist"

	"mailautoconf/internal/i18n"
)

// Apple configuration profiles (docs/apple-profiles.md). The schema of every key
// written here is Apple's own YAML (apple/device-management mdm/profiles, release b6202ca2; docs/apple-profiles.md), which the test reads from ../shared/reference/apple-device-management;
// mobileconfig_schema_test.go checks our output against it.

// MobileconfigContentType is the media type Safari and iOS install a profile
// from; under any other type (application/xml, text/plain) Safari shows the
// text instead (docs/apple-profiles.md#delivery).
const MobileconfigContentType = "application/x-apple-aspen-config"

// ProfileOptions are the choices a person makes for a profile.
type ProfileOptions struct {
	// Protocol asks for the IMAP or the POP3 server. Empty, or a protocol
	// the provider does not offer, gives the provider's preference: IMAP
	// where it has IMAP.
	Protocol Protocol
	// Name fills EmailAccountName, the sender name of sent mail. Empty
	// leaves the key out, and the device asks. CheckAccountName validates
	// it.
	Name string
	// Language is the language of the profile's visible strings (display
	// names, descriptions, organisation); the zero value is English. It
	// changes no identifier or UUID (ProfileID): the same address's
	// profile in another language replaces the first on the device.
	Language i18n.Lang
}

// MailAccount is the one account a profile or the setup page describes:
// the incoming and outgoing server chosen for an address, with the login
// names filled in.
type MailAccount struct {
	Address          Address
	Incoming         Server
	IncomingUsername string
	Outgoing         Server
	OutgoingUsername string
	// Protocols lists the incoming protocols the provider offers, IMAP
	// first: a choice to offer when it has two.
	Protocols []Protocol
}

// ChooseAccount picks the servers a profile configures for addr: the
// provider's preferred advertised server of the wanted incoming protocol
// (IMAP unless want is POP3 and the provider has POP3, or the provider has
// only POP3) and its preferred SMTP server. Within a protocol the first
// server with implicit TLS wins, then the first with STARTTLS: the profile
// has one UseSSL flag and no STARTTLS key, so implicit TLS is the only
// mode whose meaning is certain (docs/apple-profiles.md#the-tls-flag).
func ChooseAccount(p *Provider, addr Address, want Protocol) (MailAccount, error) {
	switch want {
	case "", IMAP, POP3:
	default:
		return MailAccount{}, fmt.Errorf("%w: protocol is not imap or pop3", ErrBadRequest)
	}
	in := p.AdvertisedIncoming()
	a := MailAccount{Address: addr}
	for _, proto := range []Protocol{IMAP, POP3} {
		if _, ok := preferredServer(in, proto); ok {
			a.Protocols = append(a.Protocols, proto)
		}
	}
	if len(a.Protocols) == 0 {
		return MailAccount{}, fmt.Errorf("provider %s has no advertised IMAP or POP3 server", p.ID)
	}
	proto := a.Protocols[0]
	if want == POP3 && len(a.Protocols) == 2 {
		proto = POP3
	}
	a.Incoming, _ = preferredServer(in, proto)
	out, ok := preferredServer(p.AdvertisedOutgoing(), SMTP)
	if !ok {
		return MailAccount{}, fmt.Errorf("provider %s has no advertised SMTP server", p.ID)
	}
	a.Outgoing = out
	a.IncomingUsername = ExpandUsername(a.Incoming.Username, &addr)
	a.OutgoingUsername = ExpandUsername(a.Outgoing.Username, &addr)
	return a, nil
}

// preferredServer returns the first server of proto with implicit TLS, else
// the first of proto at all. servers holds only advertised ones.
func preferredServer(servers []Server, proto Protocol) (Server, bool) {
	var fallback *Server
	for i, s := range servers {
		if s.Protocol != proto {
			continue
		}
		if s.Security == TLS {
			return s, true
		}
		if fallback == nil {
			fallback = &servers[i]
		}
	}
	if fallback == nil {
		return Server{}, false
	}
	return *fallback, true
}

// ParseProtocolChoice reads a person's choice of incoming protocol: "imap"
// or "pop3" in any letter case, or empty for the provider's preference.
func ParseProtocolChoice(s string) (Protocol, error) {
	switch p := Protocol(strings.ToLower(s)); p {
	case "", IMAP, POP3:
		return p, nil
	}
	return "", fmt.Errorf("%w: protocol is not imap or pop3", ErrBadRequest) // named, not quoted: it reaches 400 bodies
}

// maxAccountName bounds EmailAccountName, a person's name.
const maxAccountName = 100

// CheckAccountName validates a sender name for EmailAccountName: at most
// 100 characters of printable UTF-8 on one line. It refuses control and
// format characters (bidi overrides among them): the encoder escapes
// markup, but a name is shown in every sent message and should read as
// typed.
func CheckAccountName(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: name is not UTF-8", ErrBadRequest)
	}
	if utf8.RuneCountInString(s) > maxAccountName {
		return fmt.Errorf("%w: name longer than %d characters", ErrBadRequest, maxAccountName)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: character %q not allowed in name", ErrBadRequest, r)
		}
	}
	return nil
}

// SecurityLabel names a server's security the way mail clients' settings
// screens do.
func SecurityLabel(s Security) string {
	switch s {
	case TLS:
		return "SSL/TLS"
	case STARTTLS:
		return "STARTTLS"
	}
	return "none"
}

// profileNamespace is the namespace of every UUID in our profiles (RFC 9562
// name-based, SHA-1): fixed, so that a UUID depends only on what it names.
var profileNamespace = uuid.MustParse("6c0b9a43-2f5e-4d51-9a8e-3b7f1c2d4e60")

// ProfileID returns the PayloadIdentifier and PayloadUUID of addr's
// profile. Both depend on the domain and the address and nothing else, so a
// second download replaces the first profile on the device (the system
// matches on both, docs/apple-profiles.md#identifiers), while two addresses, even ones that
// differ only in letter case, never share one.
func ProfileID(addr Address) (identifier, profileUUID string) {
	u := payloadUUID(addr, "profile")
	return reverseDNS(addr.Domain) + ".mailautoconf." + strings.ToLower(u), u
}

// payloadUUID derives the UUID of one payload of addr's profile. The parts
// are joined with NUL, which neither a domain nor a parsed local part holds.
func payloadUUID(addr Address, role string) string {
	name := "mobileconfig\x00" + addr.Domain + "\x00" + addr.String() + "\x00" + role
	return strings.ToUpper(uuid.NewSHA1(profileNamespace, []byte(name)).String())
}

func reverseDNS(domain string) string {
	labels := strings.Split(domain, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".")
}

// The plist shapes. The encoder sorts dictionary keys, so field order does
// not matter; omitempty leaves out optional strings we have no value for.
// Booleans are always written: a reader need not know Apple's defaults.
// Each payload repeats the keys of CommonPayloadKeys.yaml (the encoder
// skips the fields of an embedded unexported struct).

type profilePlist struct {
	PayloadContent      []any  `plist:"PayloadContent"`
	PayloadDescription  string `plist:"PayloadDescription,omitempty"`
	PayloadDisplayName  string `plist:"PayloadDisplayName"`
	PayloadIdentifier   string `plist:"PayloadIdentifier"`
	PayloadOrganization string `plist:"PayloadOrganization,omitempty"`
	PayloadType         string `plist:"PayloadType"`
	PayloadUUID         string `plist:"PayloadUUID"`
	PayloadVersion      int    `plist:"PayloadVersion"`
}

type mailPayload struct {
	PayloadDisplayName                     string `plist:"PayloadDisplayName"`
	PayloadIdentifier                      string `plist:"PayloadIdentifier"`
	PayloadOrganization                    string `plist:"PayloadOrganization,omitempty"`
	PayloadType                            string `plist:"PayloadType"`
	PayloadUUID                            string `plist:"PayloadUUID"`
	PayloadVersion                         int    `plist:"PayloadVersion"`
	EmailAccountDescription                string `plist:"EmailAccountDescription"`
	EmailAccountName                       string `plist:"EmailAccountName,omitempty"`
	EmailAccountType                       string `plist:"EmailAccountType"`
	EmailAddress                           string `plist:"EmailAddress"`
	IncomingMailServerAuthentication       string `plist:"IncomingMailServerAuthentication"`
	IncomingMailServerHostName             string `plist:"IncomingMailServerHostName"`
	IncomingMailServerPortNumber           int    `plist:"IncomingMailServerPortNumber"`
	IncomingMailServerUseSSL               bool   `plist:"IncomingMailServerUseSSL"`
	IncomingMailServerUsername             string `plist:"IncomingMailServerUsername"`
	OutgoingMailServerAuthentication       string `plist:"OutgoingMailServerAuthentication"`
	OutgoingMailServerHostName             string `plist:"OutgoingMailServerHostName"`
	OutgoingMailServerPortNumber           int    `plist:"OutgoingMailServerPortNumber"`
	OutgoingMailServerUseSSL               bool   `plist:"OutgoingMailServerUseSSL"`
	OutgoingMailServerUsername             string `plist:"OutgoingMailServerUsername"`
	OutgoingPasswordSameAsIncomingPassword bool   `plist:"OutgoingPasswordSameAsIncomingPassword"`
}

// caldavPayload is a com.apple.caldav.account payload, carddavPayload a
// com.apple.carddav.account one: the same keys, prefixed CalDAV or
// CardDAV (docs/apple-profiles.md#caldav-and-carddav). The two types
// differ only in their tags, so davPayload builds both (Go converts
// between struct types that differ only in tags).
type caldavPayload struct {
	PayloadDisplayName  string `plist:"PayloadDisplayName"`
	PayloadIdentifier   string `plist:"PayloadIdentifier"`
	PayloadOrganization string `plist:"PayloadOrganization,omitempty"`
	PayloadType         string `plist:"PayloadType"`
	PayloadUUID         string `plist:"PayloadUUID"`
	PayloadVersion      int    `plist:"PayloadVersion"`
	AccountDescription  string `plist:"CalDAVAccountDescription"`
	HostName            string `plist:"CalDAVHostName"`
	Port                int    `plist:"CalDAVPort"`
	PrincipalURL        string `plist:"CalDAVPrincipalURL,omitempty"`
	UseSSL              bool   `plist:"CalDAVUseSSL"`
	Username            string `plist:"CalDAVUsername"`
}

type carddavPayload struct {
	PayloadDisplayName  string `plist:"PayloadDisplayName"`
	PayloadIdentifier   string `plist:"PayloadIdentifier"`
	PayloadOrganization string `plist:"PayloadOrganization,omitempty"`
	PayloadType         string `plist:"PayloadType"`
	PayloadUUID         string `plist:"PayloadUUID"`
	PayloadVersion      int    `plist:"PayloadVersion"`
	AccountDescription  string `plist:"CardDAVAccountDescription"`
	HostName            string `plist:"CardDAVHostName"`
	Port                int    `plist:"CardDAVPort"`
	PrincipalURL        string `plist:"CardDAVPrincipalURL,omitempty"`
	UseSSL              bool   `plist:"CardDAVUseSSL"`
	Username            string `plist:"CardDAVUsername"`
}

// davPayload is the payload of the catalog's CalDAV (kind "caldav") or
// CardDAV ("carddav") URL for addr, identified under the profile's
// identifier: display names "Calendar (addr)" or "Contacts (addr)" in
// language l, logging in as user.
func davPayload(kind, rawURL string, addr Address, identifier, org, shortName, user string, l i18n.Lang) any {
	d := davEndpoint(rawURL)
	// Message ids spelt whole: a constant costs nothing to look up.
	payloadType, name, desc := "com.apple.caldav.account", "profile.caldav.display-name", "profile.caldav.description"
	if kind == "carddav" {
		payloadType, name, desc = "com.apple.carddav.account", "profile.carddav.display-name", "profile.carddav.description"
	}
	pl := caldavPayload{
		PayloadDisplayName:  l.T(name, addr.String()),
		PayloadIdentifier:   identifier + "." + kind,
		PayloadOrganization: org,
		PayloadType:         payloadType,
		PayloadUUID:         payloadUUID(addr, kind),
		PayloadVersion:      1,
		AccountDescription:  l.T(desc, shortName),
		HostName:            d.host,
		Port:                d.port,
		PrincipalURL:        d.principal,
		UseSSL:              d.tls,
		Username:            user,
	}
	if kind == "carddav" {
		return carddavPayload(pl)
	}
	return pl
}

// Mobileconfig renders the unsigned configuration profile (an XML property
// list) that sets up addr, with the choices in opts.Profile, in Apple Mail
// on iPhone, iPad and Mac: one
// com.apple.mail.managed payload for the account ChooseAccount picks, and a
// com.apple.caldav.account and a com.apple.carddav.account payload when the
// provider has CalDAV and CardDAV URLs.
//
// It never writes a password (Apple allows them only in encrypted
// profiles, docs/apple-profiles.md#delivery): the device asks once, for both servers
// (OutgoingPasswordSameAsIncomingPassword). The output is a function of
// its arguments alone: identifiers and UUIDs come from ProfileID, so the
// same address gets the same bytes on every download. Every string,
// the account name included, goes through the plist encoder, which
// escapes it; nothing is pre-rendered.
func (c *Catalog) Mobileconfig(dst []byte, p *Provider, _ string, addr *Address, opts Options) ([]byte, error) {
	if err := checkRender(p, addr, true); err != nil {
		return dst, err
	}
	b, err := mobileconfigDoc(p, *addr, opts.Profile)
	switch {
	case err != nil:
		return dst, err
	case dst == nil:
		return b, nil // the encoder's own slice: no copy
	}
	return append(dst, b...), nil
}

// mobileconfigDoc builds Mobileconfig's profile with the plist encoder.
func mobileconfigDoc(p *Provider, addr Address, opts ProfileOptions) ([]byte, error) {
	if err := CheckAccountName(opts.Name); err != nil {
		return nil, err
	}
	acct, err := ChooseAccount(p, addr, opts.Protocol)
	if err != nil {
		return nil, err
	}
	identifier, profileUUID := ProfileID(addr)
	// The texts come from the message catalog (internal/i18n); what they
	// hold of the address and the provider's names goes in unchanged.
	l := opts.Language
	org := p.profileOrganization(l)
	id := func(role string) string { return identifier + "." + role }

	accountType := "EmailTypeIMAP"
	if acct.Incoming.Protocol == POP3 {
		accountType = "EmailTypePOP"
	}
	content := []any{mailPayload{
		PayloadDisplayName:                     l.T("profile.mail.display-name", addr.String()),
		PayloadIdentifier:                      id("mail"),
		PayloadOrganization:                    org,
		PayloadType:                            "com.apple.mail.managed",
		PayloadUUID:                            payloadUUID(addr, "mail"),
		PayloadVersion:                         1,
		EmailAccountDescription:                l.T("profile.mail.description", addr.String()),
		EmailAccountName:                       strings.TrimSpace(opts.Name),
		EmailAccountType:                       accountType,
		EmailAddress:                           addr.String(),
		IncomingMailServerAuthentication:       appleAuth(acct.Incoming),
		IncomingMailServerHostName:             acct.Incoming.Host,
		IncomingMailServerPortNumber:           acct.Incoming.Port,
		IncomingMailServerUseSSL:               useSSL(acct.Incoming),
		IncomingMailServerUsername:             acct.IncomingUsername,
		OutgoingMailServerAuthentication:       appleAuth(acct.Outgoing),
		OutgoingMailServerHostName:             acct.Outgoing.Host,
		OutgoingMailServerPortNumber:           acct.Outgoing.Port,
		OutgoingMailServerUseSSL:               useSSL(acct.Outgoing),
		OutgoingMailServerUsername:             acct.OutgoingUsername,
		OutgoingPasswordSameAsIncomingPassword: true,
	}}

	// Calendars and contacts log in with the provider's main login, as in
	// the autoconfig document (autoconfig.go), not with the POP3 login a
	// person may have chosen.
	davUser := ExpandUsername(p.AdvertisedIncoming()[0].Username, &addr)
	if p.CalDAV != "" {
		content = append(content, davPayload("caldav", p.CalDAV, addr, identifier, org, p.ShortName, davUser, l))
	}
	if p.CardDAV != "" {
		content = append(content, davPayload("carddav", p.CardDAV, addr, identifier, org, p.ShortName, davUser, l))
	}
	description := "profile.description.mail"
	switch {
	case p.CalDAV != "" && p.CardDAV != "":
		description = "profile.description.all"
	case p.CalDAV != "":
		description = "profile.description.calendar"
	case p.CardDAV != "":
		description = "profile.description.contacts"
	}

	doc := profilePlist{
		PayloadContent:      content,
		PayloadDescription:  l.T(description, addr.String(), p.DisplayName),
		PayloadDisplayName:  l.T("profile.display-name", p.DisplayName, addr.String()),
		PayloadIdentifier:   identifier,
		PayloadOrganization: org,
		PayloadType:         "Configuration",
		PayloadUUID:         profileUUID,
		PayloadVersion:      1,
	}
	// Compact, without indentation: the PropertyList-1.0 DTD declares
	// element content only, so whitespace between elements means nothing
	// to a reader (XML 1.0 section 2.10), and the demo's profile then fits,
	// with its headers, the 4 KiB net/http writes a connection's answers
	// through (one write(2) instead of two; bench/README.md).
	return plist.Marshal(doc, plist.XMLFormat)
}

// useSSL is the profile's single TLS flag (docs/apple-profiles.md#the-tls-flag). Implicit
// TLS is true. A STARTTLS-only server is also true, as mailcow does: with
// false a device talks in clear when a man in the middle strips STARTTLS,
// and sends the password; with true the worst case is a connection that
// fails, which the person sees. ChooseAccount prefers implicit TLS, so
// this only matters for providers that have nothing else.
func useSSL(s Server) bool { return s.Security.Advertised() }

// appleAuth maps a server's Thunderbird authentication list to Apple's
// value set: a plain password where the server takes one, else Apple's
// challenge-response scheme for servers that want "password-encrypted"
// only. The loader guarantees one of the two.
func appleAuth(s Server) string {
	for _, a := range s.Auth {
		if a == "password-cleartext" {
			return "EmailAuthPassword"
		}
	}
	return "EmailAuthCRAMMD5"
}

type davTarget struct {
	host      string
	port      int
	tls       bool
	principal string
}

// davEndpoint splits a catalog CalDAV or CardDAV URL into the profile's
// keys: a bare host name (whether *HostName may be a URL is unclear,
// docs/apple-profiles.md#caldav-and-carddav), an explicit port, and the URL itself as principal
// URL when it has a path beyond "/", since the device then has no other
// way to learn it (at "/" it finds the account through /.well-known).
// The loader has checked the URL.
func davEndpoint(raw string) davTarget {
	u, err := url.Parse(raw)
	if err != nil {
		return davTarget{host: raw}
	}
	t := davTarget{host: strings.ToLower(u.Hostname()), tls: u.Scheme == "https", port: 80}
	if t.tls {
		t.port = 443
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			t.port = n
		}
	}
	if h, err := NormalizeHost(t.host); err == nil {
		t.host = h
	} else if ip := net.ParseIP(t.host); ip != nil {
		t.host = ip.String()
	}
	if u.Path != "" && u.Path != "/" {
		t.principal = raw
	}
	return t
}

// ProfileFileName is the download name of addr's profile: the domain and
// ".mobileconfig", in letters, digits, dots and hyphens only (the domain
// is in A-label form; anything else is dropped, so that the name needs no
// escaping in a Content-Disposition header).
func ProfileFileName(addr Address) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return -1
	}, strings.ToLower(addr.Domain))
	return strings.Trim(safe, ".") + ".mobileconfig"
}
