package provision

import "fmt"

// Test-only helpers of the package's own tests.

// NewCatalog indexes providers by domain. It does not validate them; Load
// does that. Two providers claiming one domain is an error.
func NewCatalog(providers []*Provider) (*Catalog, error) {
	n := 0
	for _, p := range providers {
		n += len(p.Domains)
	}
	byDomain := make(map[string]*Provider, n)
	for _, p := range providers {
		for _, d := range p.Domains {
			if other, dup := byDomain[d]; dup {
				return nil, fmt.Errorf("domain %s is served by both %s and %s", d, other.ID, p.ID)
			}
			byDomain[d] = p
		}
	}
	return indexedCatalog(providers, byDomain), nil
}

// DemoYAML returns the embedded demo catalog's text.
func DemoYAML() []byte { return demoYAML }

// The reference renderers as the tests call them: etree and the plist
// encoder, never a template, with the address's Login checked as the
// renderers check it.

func etreeAutoconfig(p *Provider, domain string, addr *Address) []byte {
	return autoconfigDoc(p, domain, withLogin(addr), AllServers)
}

func etreeAutodiscover(p *Provider, domain string, addr *Address) []byte {
	addr = withLogin(addr)
	action, target := autodiscoverAction(p, domain, addr)
	return autodiscoverDoc(p, action, target, domain, addr)
}

// etreeMobileSync reports false where MobileSync has nothing to say.
func etreeMobileSync(p *Provider, addr Address) ([]byte, bool) {
	to, redirect, ok := mobileSyncAction(p, addr)
	if !ok {
		return nil, false
	}
	return mobileSyncDoc(p, to, redirect, addr), true
}

// autodiscoverJSON is AutodiscoverJSON's body, and whether it is an
// answer rather than the InvalidProtocol error.
func autodiscoverJSON(p *Provider, addr Address, protocol, publicHost string) ([]byte, bool) {
	var none *Catalog
	b, err := none.AutodiscoverJSON(nil, p, addr.Domain, &addr, Options{Protocol: protocol, PublicHost: publicHost})
	return b, err == nil
}

// rendered is a renderer's document; the tests' providers all render.
func rendered(b []byte, err error) []byte {
	if err != nil {
		panic("rendering failed: " + err.Error())
	}
	return b
}

// mobileSync is c.MobileSync's document, and whether there is one.
func mobileSync(c *Catalog, p *Provider, addr Address) ([]byte, bool) {
	b, err := c.MobileSync(nil, p, addr.Domain, &addr, Options{})
	return b, err == nil
}

// all lists every template of pt.
func (pt *providerTemplates) all() []*lazyTemplate {
	return []*lazyTemplate{
		&pt.autoconfig[0], &pt.autoconfig[1], &pt.onePerType[0], &pt.onePerType[1],
		&pt.settings[0], &pt.settings[1],
		&pt.redirectURL, &pt.redirectTo, &pt.mobileSync[0], &pt.mobileSync[1],
	}
}
