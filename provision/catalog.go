// Package provision is the pure core of mailautoconf: the catalog of mail
// domains and their servers, address parsing, and one renderer per format.
// It knows nothing about HTTP. What builds on the catalog from outside is
// in packages of its own: the importer of config-v1.1.xml files
// (internal/importxml), the signing of profiles (internal/profilesign),
// the DNS records a domain publishes (internal/dnsrecords); so are the
// strict reading of YAML nodes (internal/yamlcheck), the file reader
// (internal/regularfile) and the directory query checks
// (internal/dirquery) that the loader uses.
package provision

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"mailautoconf/internal/i18n"
	"mailautoconf/internal/parsecache"
)

// Error kinds. Callers wrap them once with context and match them with
// errors.Is; the HTTP layer maps each kind to one status code.
var (
	// ErrUnknownDomain: the domain is well-formed but not in the catalog.
	ErrUnknownDomain = errors.New("domain not served")
	// ErrBadAddress: the e-mail address or domain does not parse.
	ErrBadAddress = errors.New("malformed address")
	// ErrBadRequest: the request is malformed in some other way.
	ErrBadRequest = errors.New("bad request")
)

// Protocol names a mail access or submission protocol.
type Protocol string

const (
	IMAP Protocol = "imap"
	POP3 Protocol = "pop3"
	SMTP Protocol = "smtp"
)

// Security is how a connection to a server is protected.
type Security string

const (
	// TLS is implicit TLS from the first byte (autoconfig "SSL").
	TLS Security = "tls"
	// STARTTLS is a plain connection upgraded before authentication.
	STARTTLS Security = "starttls"
	// None is no transport security. Such servers stay in the catalog but
	// are never advertised (docs/autoconfig.md#thunderbird-for-android-k-9: K-9 rejects "plain").
	None Security = "none"
)

// Advertised reports whether clients may be told about a server with this
// security.
func (s Security) Advertised() bool { return s == TLS || s == STARTTLS }

// The username template placeholders (docs/autoconfig.md#placeholders).
const (
	PlaceholderAddress = "%EMAILADDRESS%"
	PlaceholderLocal   = "%EMAILLOCALPART%"
	PlaceholderDomain  = "%EMAILDOMAIN%"
	// PlaceholderLogin is the login name a directory holds for the
	// address (Address.Login), which only this service knows: no client
	// fills it, so a document without an address writes
	// %EMAILADDRESS% in its place (docs/guide/directories.md).
	PlaceholderLogin = "%LOGIN%"
)

// Server is one IMAP, POP3 or SMTP endpoint.
type Server struct {
	Protocol Protocol
	Host     string // A-label, lower case
	Port     int
	Security Security
	// Auth lists Thunderbird authentication names, most preferred first.
	Auth []string
	// Username is a template with the placeholders above.
	Username string
	// POP3 holds the client options of a POP3 server; nil for others and
	// when the catalog sets none.
	POP3 *POP3Options
}

// POP3Options are the POP3 client defaults that autoconfig can express
// (docs/autoconfig.md#server-sections). A nil pointer field is not set by the catalog.
type POP3Options struct {
	LeaveOnServer   *bool
	DaysOnServer    *int
	DownloadOnCheck *bool
	CheckInterval   *int // minutes
}

// OAuth2 describes a provider's OAuth2 endpoints (autoconfig's oAuth2).
type OAuth2 struct {
	Issuer   string
	Scope    string
	AuthURL  string
	TokenURL string
}

// Help is where a provider's users and developers find help: the
// catalog's help key, PACC's info.help (docs/pacc.md).
type Help struct {
	Documentation string
	Developer     string
	Contact       []string // mailto: URIs
}

// Provider is one mail provider: the domains it serves and its servers.
// A Provider is immutable once loaded.
type Provider struct {
	ID           string
	DisplayName  string
	ShortName    string
	Organization string
	Domains      []string // A-labels, lower case, in catalog order
	Incoming     []Server // in order of preference
	Outgoing     []Server
	CalDAV       string
	CardDAV      string
	Webmail      string
	OAuth2       *OAuth2
	// JMAP, ManageSieve, Logo and Help are the optional keys of
	// load_pacc.go: what PACC (docs/pacc.md) can say beyond the mail
	// servers. ManageSieve is nil when the catalog sets none.
	JMAP        string
	ManageSieve *Server
	Logo        string
	Help        *Help
	// PACCTXT is the catalog's pacc_txt (load_dnsupdates.go): the one
	// name holding the PACC digest for all of the provider's domains,
	// lower case, without the final dot; "" when unset.
	PACCTXT string
	// EWS and OWA are the optional Exchange Web Services and Outlook on
	// the web URLs of exchange.go, "" when unset.
	EWS, OWA string
	// Color is the accent colour of the setup page, "#rrggbb"; "" for
	// the default.
	Color string
	// Texts are the provider's own words by language, the catalog's
	// texts key (texts.go); nil when it sets none.
	Texts map[i18n.Lang]ProviderTexts
	// TLSNames are extra host names the HTTPS listener gets certificates
	// for, beside autoconfig.<d> and autodiscover.<d> of every domain:
	// A-labels, lower case, no wildcards (ACME HTTP-01 and TLS-ALPN-01
	// cannot validate one).
	TLSNames []string

	// ActiveSync is the Exchange ActiveSync URL answered to the
	// mobilesync Autodiscover schema; "" when the provider has none.
	ActiveSync string
	// Redirect sends Autodiscover clients elsewhere for every domain
	// without an entry in DomainRedirects (see RedirectFor).
	Redirect        Redirect
	DomainRedirects map[string]Redirect

	// Directory names the directory whose domains this provider serves
	// beside Domains, "" for none; Catalog.WithDirectoryDomains merges
	// them in (directory.go).
	Directory string
	// LoginDirectory names the directory %LOGIN% is looked up in: the
	// catalog's login_directory, else Directory when that one has a
	// login query or filter; "" for none.
	LoginDirectory string

	// Source is "file:line" of the provider's entry, for messages.
	Source string
}

// NeedsLogin reports whether an advertised server's username holds
// %LOGIN%: whether a caller should ask p's LoginDirectory for the
// address's login before rendering. Without one, Address.Login is never
// read.
func (p *Provider) NeedsLogin() bool {
	for _, servers := range [2][]Server{p.Incoming, p.Outgoing} {
		for _, s := range servers {
			if s.Security.Advertised() && strings.Contains(s.Username, PlaceholderLogin) {
				return true
			}
		}
	}
	return false
}

// AdvertisedIncoming returns the incoming servers clients are told about,
// in catalog order.
func (p *Provider) AdvertisedIncoming() []Server { return advertised(p.Incoming) }

// AdvertisedOutgoing returns the outgoing servers clients are told about,
// in catalog order.
func (p *Provider) AdvertisedOutgoing() []Server { return advertised(p.Outgoing) }

func advertised(servers []Server) []Server {
	out := make([]Server, 0, len(servers))
	for _, s := range servers {
		if s.Security.Advertised() {
			out = append(out, s)
		}
	}
	return out
}

// Catalog maps each served domain to its provider. It is immutable once
// built: a reload builds a new Catalog and swaps it in whole.
type Catalog struct {
	providers []*Provider
	byDomain  map[string]*Provider
	// file indexes the domains the catalog's files list, which
	// byDomain holds with the directories' (WithDirectoryDomains).
	file        map[string]*Provider
	directories []*Directory
	// dnsUpdates are the dns_updates entries (load_dnsupdates.go).
	dnsUpdates []DNSUpdate
	// prerendered holds each provider's document templates, made on
	// first use (prerender.go).
	prerendered map[*Provider]*providerTemplates
	// requests caches recent Autodiscover request parses
	// (requestcache.go).
	requests *parsecache.Cache[AutodiscoverRequest]
	// Sources names the files the catalog was read from.
	Sources []string
}

// indexedCatalog makes the catalog of providers, indexed by domain
// without duplicates (Parse has refused those).
func indexedCatalog(providers []*Provider, byDomain map[string]*Provider) *Catalog {
	c := &Catalog{
		providers:   providers,
		byDomain:    byDomain,
		file:        byDomain,
		prerendered: make(map[*Provider]*providerTemplates, len(providers)),
		requests:    newRequestCache(requestCacheSize),
	}
	for _, p := range providers {
		c.prerendered[p] = &providerTemplates{needsLogin: p.NeedsLogin()}
	}
	return c
}

// Lookup returns the provider serving domain, which may be in U-label or
// A-label form and in any letter case.
func (c *Catalog) Lookup(domain string) (*Provider, error) {
	p, _, err := c.Resolve(domain)
	return p, err
}

// Resolve is Lookup that also returns the domain's normal form (the key
// it was found under): ErrBadAddress when domain is not a domain name,
// ErrUnknownDomain when it is one the catalog does not serve.
func (c *Catalog) Resolve(domain string) (*Provider, string, error) {
	// Most callers pass a domain already normalised (an address's, a
	// Host header): a key of byDomain is its own normal form, so a hit
	// needs no normalising.
	if p, ok := c.byDomain[domain]; ok {
		return p, domain, nil
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		return nil, "", err
	}
	if p, ok := c.byDomain[d]; ok {
		return p, d, nil
	}
	return nil, d, fmt.Errorf("%w: %s", ErrUnknownDomain, d)
}

// Providers returns the providers in catalog order.
func (c *Catalog) Providers() []*Provider { return c.providers }

// DomainCount returns the number of served domains, without listing
// them (Domains sorts them all: seconds at a million).
func (c *Catalog) DomainCount() int { return len(c.byDomain) }

// Domains returns every served domain, sorted.
func (c *Catalog) Domains() []string {
	out := make([]string, 0, len(c.byDomain))
	for d := range c.byDomain {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// ExpandUsername fills a username template for addr. %LOGIN% is
// addr.Login when CheckLogin accepts it, else the address, as
// %EMAILADDRESS% is. With a nil addr the template is returned for the
// client to fill in, with %EMAILADDRESS% for %LOGIN%.
func ExpandUsername(template string, addr *Address) string {
	return expandUsername(template, withLogin(addr))
}

// expandUsername is ExpandUsername for an address withLogin has checked:
// a non-empty Login is written as it is (the renderers' markers are
// Logins no check would pass), an empty one is the address.
func expandUsername(template string, addr *Address) string {
	if addr == nil {
		if !strings.Contains(template, PlaceholderLogin) {
			return template
		}
		return strings.ReplaceAll(template, PlaceholderLogin, PlaceholderAddress)
	}
	full := addr.String()
	login := addr.Login
	if login == "" {
		login = full
	}
	// One pass: a value is never read again as a placeholder.
	return strings.NewReplacer(
		PlaceholderAddress, full,
		PlaceholderLocal, addr.Local,
		PlaceholderDomain, addr.Domain,
		PlaceholderLogin, login,
	).Replace(template)
}
