package provision

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"mailautoconf/internal/yamlcheck"
)

// ManageSieve is the protocol of a provider's managesieve server (RFC
// 5804); it is never an incoming or outgoing server.
const ManageSieve Protocol = "managesieve"

// paccKeys reads a provider's optional keys for what PACC and autoconfig
// 1.2 can carry beyond the mail servers (docs/pacc.md):
//
//	jmap: https://jmap.example.com/.well-known/jmap
//	managesieve: {host: sieve.example.com, port: 4190, security: starttls}
//	logo: https://example.com/logo.svg
//	help: {documentation: URL, developer: URL, contact: [mailto:...]}
//
// It only reads them; which of them a format can say is the renderer's
// business (pacc.go: PACC has no ports, so a STARTTLS managesieve is left
// out there and `check` says so).
func (d *decoder) paccKeys(m map[string]*yaml.Node, path string, p *Provider) {
	p.JMAP = d.httpsURL(m, path, "jmap")
	if n, ok := m["managesieve"]; ok {
		p.ManageSieve = d.manageSieve(n, path+".managesieve")
	}
	p.Logo = d.httpsURL(m, path, "logo")
	if p.Logo != "" {
		// PACC wants width and height for raster images, which one URL
		// cannot give; an SVG has neither (docs/pacc.md#pacc).
		u, _ := url.Parse(p.Logo)
		if !strings.HasSuffix(strings.ToLower(u.Path), ".svg") {
			d.Errorf(m["logo"], yamlcheck.JoinField(path, "logo"), "%q is not an SVG image (the path must end in .svg)", p.Logo)
		}
	}
	if n, ok := m["help"]; ok {
		p.Help = d.help(n, path+".help")
	}
	d.paccTXT(m, path, p) // load_dnsupdates.go
}

var manageSieveKeys = []string{"host", "port", "security"}

// manageSieve reads {host, port, security}: security tls or starttls,
// since a password must not cross a plain connection.
func (d *decoder) manageSieve(n *yaml.Node, path string) *Server {
	m := d.Mapping(n, path, manageSieveKeys...)
	if m == nil {
		return nil
	}
	s := &Server{Protocol: ManageSieve, Username: PlaceholderAddress, Auth: []string{"password-cleartext"}}
	d.hostPort(m, n, path, s)
	if sn, ok := d.Required(m, n, path, "security"); ok {
		if v, ok := d.Str(sn, path+".security"); ok {
			switch Security(v) {
			case TLS, STARTTLS:
				s.Security = Security(v)
			default:
				d.Errorf(sn, path+".security", "%q is not one of \"tls\", \"starttls\"", v)
			}
		}
	}
	return s
}

var helpKeys = []string{"documentation", "developer", "contact"}

func (d *decoder) help(n *yaml.Node, path string) *Help {
	m := d.Mapping(n, path, helpKeys...)
	if m == nil {
		return nil
	}
	h := &Help{
		Documentation: d.httpsURL(m, path, "documentation"),
		Developer:     d.httpsURL(m, path, "developer"),
	}
	if cn, ok := m["contact"]; ok {
		f := path + ".contact"
		seen := map[string]bool{} // a list may be long: no scan per entry
		for i, item := range d.Sequence(cn, f) {
			fi := fmt.Sprintf("%s[%d]", f, i)
			v, ok := d.Str(item, fi)
			if !ok {
				continue
			}
			if !isMailtoURI(v) {
				d.Errorf(item, fi, "%q is not a mailto: URI with one address", v)
				continue
			}
			if seen[v] {
				d.Errorf(item, fi, "%q is listed twice", v)
				continue
			}
			seen[v] = true
			h.Contact = append(h.Contact, v)
		}
	}
	if h.Documentation == "" && h.Developer == "" && len(h.Contact) == 0 {
		d.Errorf(n, path, "needs documentation, developer or contact")
	}
	return h
}

// isMailtoURI reports whether v is "mailto:" and one address we parse
// (RFC 6068), without headers or a second address.
func isMailtoURI(v string) bool {
	rest, ok := strings.CutPrefix(v, "mailto:")
	if !ok || strings.ContainsAny(rest, "?,&%") || strings.ContainsFunc(rest, unicode.IsSpace) {
		return false
	}
	_, err := ParseAddress(rest)
	return err == nil
}
