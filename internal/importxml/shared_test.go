package importxml

import (
	"mailautoconf/provision"
)

// etreeAutoconfig is provision's config-v1.1.xml of p for domain, built
// by the reference renderer (etree): a nil Catalog has no pre-rendered
// templates. It panics on a provider no renderer takes, which an imported
// provider never is.
func etreeAutoconfig(p *provision.Provider, domain string, addr *provision.Address) []byte {
	var none *provision.Catalog
	b, err := none.Autoconfig(nil, p, domain, addr, provision.Options{})
	if err != nil {
		panic(err)
	}
	return b
}
