package provision

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// PACC renders the user-agent-configuration.json document of
// draft-ietf-mailmaint-pacc (docs/pacc.md) of provider p, for any of its
// domains: the document names no domain and no address, so every domain
// of a provider gets the same bytes, and addr and opts are not read.
//
// PACC has no ports and no TLS modes: a client uses implicit TLS on the
// standard port (IMAP 993, POP3 995, submission 465, ManageSieve 4190)
// and HTTPS on 443. Only servers that fit are listed, the first of each
// protocol (PACC takes one host per protocol); PACCMisfits names the
// others. A provider left with no incoming or no outgoing server is an
// ErrUnknownDomain: it is not served in this format.
//
// The bytes are a fixed function of the provider (struct fields in a
// fixed order, no maps), because the digest published in DNS
// (PACCDigest) must equal the SHA-256 of exactly what is served.
func (c *Catalog) PACC(dst []byte, p *Provider, domain string, addr *Address, opts Options) ([]byte, error) {
	if p == nil {
		return dst, fmt.Errorf("%w: no provider", ErrBadRequest)
	}
	doc, ok := paccDoc(p)
	if !ok {
		return dst, fmt.Errorf("%w: provider %s has no incoming and outgoing server PACC can describe", ErrUnknownDomain, p.ID)
	}
	return append(dst, doc...), nil
}

// PACCDigest returns the TXT record data of _ua-auto-config.<domain> for
// p's document: "v=UAAC1; a=sha256; d=<base64 of the SHA-256 of the
// body>" (docs/pacc.md#pacc), or "" when p has no PACC document.
func PACCDigest(p *Provider) string {
	doc, ok := paccDoc(p)
	if !ok {
		return ""
	}
	return PACCDigestOf(doc)
}

// PACCDigestOf returns the TXT record data for a document's bytes.
func PACCDigestOf(body []byte) string {
	sum := sha256.Sum256(body)
	return "v=UAAC1; a=sha256; d=" + base64.StdEncoding.EncodeToString(sum[:])
}

// The document's JSON, in the draft's member order. Pointers with
// omitempty leave out what the provider does not have.
type paccDocument struct {
	Protocols      paccProtocols      `json:"protocols"`
	Authentication paccAuthentication `json:"authentication"`
	Info           paccInfo           `json:"info"`
}

// paccProtocols holds one entry per protocol. Submission is written under
// both names the drafts have used: "smtp" (draft -02 and the clients
// written to it) and "submit" (the name since -03); clients ignore
// protocol names they do not know (docs/pacc.md#pacc).
type paccProtocols struct {
	IMAP        *paccHost `json:"imap,omitempty"`
	POP3        *paccHost `json:"pop3,omitempty"`
	SMTP        *paccHost `json:"smtp,omitempty"`
	Submit      *paccHost `json:"submit,omitempty"`
	ManageSieve *paccHost `json:"managesieve,omitempty"`
	JMAP        *paccURL  `json:"jmap,omitempty"`
	CalDAV      *paccURL  `json:"caldav,omitempty"`
	CardDAV     *paccURL  `json:"carddav,omitempty"`
	WebDAV      *paccURL  `json:"webdav,omitempty"`
}

type paccHost struct {
	Host string `json:"host"`
}

type paccURL struct {
	URL string `json:"url"`
}

type paccAuthentication struct {
	Password    bool             `json:"password"`
	OAuthPublic *paccOAuthPublic `json:"oauth-public,omitempty"`
}

type paccOAuthPublic struct {
	Issuer string `json:"issuer"`
}

type paccInfo struct {
	Provider paccProvider `json:"provider"`
	Help     *paccHelp    `json:"help,omitempty"`
}

type paccProvider struct {
	Name      string     `json:"name"`
	ShortName string     `json:"shortName,omitempty"`
	Logo      []paccLogo `json:"logo,omitempty"`
}

type paccLogo struct {
	URL         string `json:"url"`
	ContentType string `json:"content-type"`
}

type paccHelp struct {
	Documentation string   `json:"documentation,omitempty"`
	Developer     string   `json:"developer,omitempty"`
	Contact       []string `json:"contact,omitempty"`
}

// paccPorts are the standard implicit-TLS ports PACC implies
// (docs/pacc.md#pacc; RFC 8314 §7 for 993, 995 and 465; RFC 5804 §1.8
// registers 4190 for ManageSieve).
var paccPorts = map[Protocol]int{IMAP: 993, POP3: 995, SMTP: 465, ManageSieve: 4190}

// paccFits reports whether PACC can describe s: implicit TLS on the
// protocol's standard port.
func paccFits(s Server) bool {
	return s.Security == TLS && s.Port == paccPorts[s.Protocol]
}

// paccURLFits reports whether PACC can describe an HTTP service at u:
// https on the default port.
func paccURLFits(u string) bool {
	pu, err := url.Parse(u)
	return err == nil && pu.Scheme == "https" && (pu.Port() == "" || pu.Port() == "443")
}

// paccDoc builds p's document; ok is false when p has no incoming or no
// outgoing server PACC can describe (JMAP counts as both: it reads and
// submits mail, RFC 8621).
func paccDoc(p *Provider) ([]byte, bool) {
	var pr paccProtocols
	first := func(servers []Server, proto Protocol) *paccHost {
		for _, s := range servers {
			if s.Protocol == proto && s.Security.Advertised() && paccFits(s) {
				return &paccHost{Host: s.Host}
			}
		}
		return nil
	}
	pr.IMAP = first(p.Incoming, IMAP)
	pr.POP3 = first(p.Incoming, POP3)
	pr.SMTP = first(p.Outgoing, SMTP)
	pr.Submit = pr.SMTP
	if s := p.ManageSieve; s != nil && paccFits(*s) {
		pr.ManageSieve = &paccHost{Host: s.Host}
	}
	httpURL := func(u string) *paccURL {
		if u != "" && paccURLFits(u) {
			return &paccURL{URL: u}
		}
		return nil
	}
	pr.JMAP = httpURL(p.JMAP)
	pr.CalDAV = httpURL(p.CalDAV)
	pr.CardDAV = httpURL(p.CardDAV)
	if pr.IMAP == nil && pr.POP3 == nil && pr.JMAP == nil || pr.SMTP == nil && pr.JMAP == nil {
		return nil, false
	}

	doc := paccDocument{
		Protocols: pr,
		// Load requires a password method on every server.
		Authentication: paccAuthentication{Password: true},
		Info:           paccInfo{Provider: paccProvider{Name: p.DisplayName}},
	}
	if p.OAuth2 != nil && p.OAuth2.Issuer != "" {
		// The catalog's issuer is a host name (autoconfig's oAuth2);
		// PACC's is an RFC 8414 issuer URL.
		doc.Authentication.OAuthPublic = &paccOAuthPublic{Issuer: "https://" + p.OAuth2.Issuer}
	}
	if p.ShortName != p.DisplayName {
		doc.Info.Provider.ShortName = p.ShortName
	}
	if p.Logo != "" {
		doc.Info.Provider.Logo = []paccLogo{{URL: p.Logo, ContentType: "image/svg+xml"}}
	}
	if h := p.Help; h != nil {
		doc.Info.Help = &paccHelp{Documentation: h.Documentation, Developer: h.Developer, Contact: h.Contact}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("pacc: encoding a document of strings failed: " + err.Error())
	}
	return append(b, '\n'), true
}

// PACCMisfits returns, for each of p's advertised servers and URLs that
// PACC cannot describe, why: "IMAP imap.example.com:143 (starttls)", ...
// A later server of a protocol whose first fitting one is listed is not
// a misfit: PACC lists one host per protocol.
func PACCMisfits(p *Provider) []string {
	var out []string
	servers := append(append([]Server{}, p.Incoming...), p.Outgoing...)
	if p.ManageSieve != nil {
		servers = append(servers, *p.ManageSieve)
	}
	for _, s := range servers {
		if s.Security.Advertised() && !paccFits(s) {
			out = append(out, fmt.Sprintf("%s %s:%d (%s)", strings.ToUpper(string(s.Protocol)), s.Host, s.Port, s.Security))
		}
	}
	for _, u := range []struct{ name, url string }{{"JMAP", p.JMAP}, {"CalDAV", p.CalDAV}, {"CardDAV", p.CardDAV}} {
		if u.url != "" && !paccURLFits(u.url) {
			out = append(out, u.name+" "+u.url)
		}
	}
	return out
}

// PACCWarning returns the warning `check` prints for a provider with
// servers PACC cannot describe, or "": they are left out of its PACC
// document, and a provider left with no incoming or outgoing server gets
// none (404).
func PACCWarning(p *Provider) string {
	misfits := PACCMisfits(p)
	if len(misfits) == 0 {
		return ""
	}
	tail := ""
	if _, ok := paccDoc(p); !ok {
		tail = "; with no incoming or no outgoing server left it has no PACC document (404 at /.well-known/user-agent-configuration.json)"
	}
	return fmt.Sprintf("%s: provider %s: PACC describes only implicit TLS on the standard port of each protocol and https on 443 (docs/pacc.md), so its PACC document leaves out %s%s",
		p.Source, p.ID, strings.Join(misfits, ", "), tail)
}
