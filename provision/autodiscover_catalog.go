package provision

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"mailautoconf/internal/yamlcheck"
)

// Redirect sends Autodiscover clients somewhere else (docs/autodiscover.md#redirects).
// At most one field is set; the zero Redirect sends nobody anywhere.
type Redirect struct {
	// Address is a template for the address to rerun Autodiscover with
	// (Action redirectAddr): a literal local part or %EMAILLOCALPART%,
	// "@", and a lower-case A-label domain. Thunderbird follows it,
	// Delta Chat does not.
	Address string
	// URL is the HTTPS Autodiscover URL to ask instead (Action
	// redirectUrl). Delta Chat and Outlook follow it; Thunderbird treats
	// it as "no settings".
	URL string
}

// IsZero reports whether r redirects nowhere.
func (r Redirect) IsZero() bool { return r == Redirect{} }

// RedirectFor returns the Autodiscover redirect of domain (lower-case
// A-label): its entry in DomainRedirects if it has one, else the
// provider-wide Redirect.
func (p *Provider) RedirectFor(domain string) Redirect {
	if r, ok := p.DomainRedirects[domain]; ok {
		return r
	}
	return p.Redirect
}

// redirectAddress expands an Address template for addr. With a nil addr it
// succeeds only for a template that needs no local part.
func (r Redirect) redirectAddress(addr *Address) (string, bool) {
	if !strings.Contains(r.Address, PlaceholderLocal) {
		return r.Address, true
	}
	if addr == nil {
		return "", false
	}
	return strings.ReplaceAll(r.Address, PlaceholderLocal, addr.Local), true
}

var redirectKeys = []string{"redirect_address", "redirect_url"}

// autodiscoverKeys decodes the provider keys used only by Autodiscover:
// activesync, redirect_address, redirect_url and domain_redirects. It runs
// after the domains are known.
func (d *decoder) autodiscoverKeys(m map[string]*yaml.Node, path string, p *Provider) {
	if _, ok := m["activesync"]; ok {
		p.ActiveSync = d.httpsURL(m, path, "activesync")
	}
	p.Redirect = d.redirect(m, path)

	n, ok := m["domain_redirects"]
	if !ok {
		return
	}
	f := path + ".domain_redirects"
	n = yamlcheck.ResolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, f, "must be a mapping of domain to {redirect_address or redirect_url}, not %s", yamlcheck.KindName(n))
		return
	}
	p.DomainRedirects = map[string]Redirect{}
	// Both lists may be long: the provider's domains as a set, not
	// scanned per key.
	domains := make(map[string]bool, len(p.Domains))
	for _, dom := range p.Domains {
		domains[dom] = true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], yamlcheck.ResolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, f, "keys must be domains")
			continue
		}
		kf := f + "." + k.Value
		dom, err := NormalizeDomain(k.Value)
		if err != nil {
			d.Errorf(k, kf, "%q is not a domain name", k.Value)
			continue
		}
		if !domains[dom] {
			d.Errorf(k, kf, "%s is not one of this provider's domains", dom)
			continue
		}
		if _, dup := p.DomainRedirects[dom]; dup {
			d.Errorf(k, kf, "%s is given twice", dom)
			continue
		}
		// An empty mapping is allowed: it turns the provider-wide
		// redirect off for this domain.
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			p.DomainRedirects[dom] = Redirect{}
			continue
		}
		vm := d.Mapping(v, kf, redirectKeys...)
		if vm == nil {
			continue
		}
		p.DomainRedirects[dom] = d.redirect(vm, kf)
	}
}

// redirect reads redirect_address or redirect_url (not both) from m.
func (d *decoder) redirect(m map[string]*yaml.Node, path string) Redirect {
	an, hasAddr := m["redirect_address"]
	_, hasURL := m["redirect_url"]
	if hasAddr && hasURL {
		d.Errorf(an, yamlcheck.JoinField(path, "redirect_address"), "set redirect_address or redirect_url, not both (an Autodiscover answer has one Action)")
		return Redirect{}
	}
	var r Redirect
	if hasURL {
		r.URL = d.httpsURL(m, path, "redirect_url")
	}
	if hasAddr {
		f := yamlcheck.JoinField(path, "redirect_address")
		if v, ok := d.Str(an, f); ok {
			t, err := parseRedirectAddress(v)
			if err != nil {
				d.Errorf(an, f, "%q: %v", v, err)
			}
			r.Address = t
		}
	}
	return r
}

// parseRedirectAddress checks a redirect_address template and returns it
// with the domain in A-label form. The local part is %EMAILLOCALPART% or a
// literal; any other placeholder, or one inside a longer local part, could
// expand to an address that does not parse.
func parseRedirectAddress(t string) (string, error) {
	at := strings.LastIndexByte(t, '@')
	if at < 0 {
		return "", fmt.Errorf("not an address template (want %s@domain or local@domain)", PlaceholderLocal)
	}
	local := t[:at]
	if local != PlaceholderLocal {
		if strings.Contains(local, "%") {
			return "", fmt.Errorf("the local part is %s or a literal local part", PlaceholderLocal)
		}
	}
	probe := strings.ReplaceAll(t, PlaceholderLocal, "x")
	a, err := ParseAddress(probe)
	if err != nil {
		return "", fmt.Errorf("not an address: %v", err)
	}
	return local + "@" + a.Domain, nil
}

// httpsURL reads an optional absolute https URL (Autodiscover redirects
// and ActiveSync carry the user's password: never plain HTTP).
func (d *decoder) httpsURL(m map[string]*yaml.Node, path, key string) string {
	before := d.Count()
	v := d.url(m, path, key)
	if v == "" || d.Count() > before {
		return ""
	}
	if !strings.HasPrefix(v, "https://") {
		d.Errorf(m[key], yamlcheck.JoinField(path, key), "%q must be an https:// URL (clients send the password there)", v)
		return ""
	}
	return v
}

// checkRedirects finds redirect_address loops across the catalog: a domain
// redirected to itself, or to a served domain that redirects again
// (Thunderbird follows two hops at most). served maps each domain to its
// provider.
func (d *decoder) checkRedirects(providers []*Provider, served map[string]*Provider) {
	for _, p := range providers {
		if p.Redirect.Address == "" && len(p.DomainRedirects) == 0 {
			continue // no domain of p redirects to an address
		}
		for _, dom := range p.Domains {
			r := p.RedirectFor(dom)
			if r.Address == "" {
				continue
			}
			target := r.Address[strings.LastIndexByte(r.Address, '@')+1:]
			tp, ok := served[target]
			switch {
			case !ok:
			case tp == p && target == dom:
				d.providerErrorf(p, "redirect_address", "%s redirects to itself", dom)
			case !tp.RedirectFor(target).IsZero():
				d.providerErrorf(p, "redirect_address", "%s redirects to %s, which redirects again (clients follow few hops)", dom, target)
			}
		}
	}
}
