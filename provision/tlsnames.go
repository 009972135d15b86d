package provision

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// tlsNames reads a provider's optional tls_names: host names the HTTPS
// listener gets certificates for besides autoconfig.<d> and
// autodiscover.<d> (a webmail or setup host served by this service, say).
func (d *decoder) tlsNames(m map[string]*yaml.Node, path string) []string {
	n, ok := m["tls_names"]
	if !ok {
		return nil
	}
	path += ".tls_names"
	var out []string
	seen := map[string]bool{} // a list may be long: no scan of out per name
	for i, item := range d.Sequence(n, path) {
		f := fmt.Sprintf("%s[%d]", path, i)
		raw, ok := d.Str(item, f)
		if !ok {
			continue
		}
		if strings.HasPrefix(raw, "*.") {
			d.Errorf(item, f, "%q: wildcards cannot be validated by HTTP-01 or TLS-ALPN-01; list each name", raw)
			continue
		}
		h, err := NormalizeDomain(raw)
		if err != nil {
			d.Errorf(item, f, "%q is not a host name with a dot", raw)
			continue
		}
		if seen[h] {
			d.Errorf(item, f, "%s is listed twice", h)
			continue
		}
		seen[h] = true
		out = append(out, h)
	}
	return out
}

// TLSNames returns the host names an HTTPS listener serving c needs
// certificates for: autoconfig.<d> and autodiscover.<d> for every served
// domain <d> (the names clients try first: docs/autoconfig.md,
// docs/autodiscover.md), ua-auto-config.<d> for every domain whose
// provider has a PACC document (docs/pacc.md#pacc: PACC is HTTPS only),
// publicHost when set, and every provider's tls_names. Sorted, lower
// case, without duplicates or trailing dots.
func (c *Catalog) TLSNames(publicHost string) []string {
	var out []string
	hasPACC := make(map[*Provider]bool, len(c.providers))
	for _, p := range c.providers {
		_, hasPACC[p] = paccDoc(p)
	}
	for _, d := range c.Domains() {
		out = append(out, "autoconfig."+d, "autodiscover."+d)
		if hasPACC[c.byDomain[d]] {
			out = append(out, "ua-auto-config."+d)
		}
	}
	for _, p := range c.Providers() {
		out = append(out, p.TLSNames...)
	}
	if h := strings.ToLower(strings.TrimSuffix(publicHost, ".")); h != "" {
		out = append(out, h)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
