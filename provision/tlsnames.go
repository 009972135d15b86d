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
	for i, item := range d.sequence(n, path) {
		f := fmt.Sprintf("%s[%d]", path, i)
		raw, ok := d.str(item, f)
		if !ok {
			continue
		}
		if strings.HasPrefix(raw, "*.") {
			d.errorf(item, f, "%q: wildcards cannot be validated by HTTP-01 or TLS-ALPN-01; list each name", raw)
			continue
		}
		h, err := NormalizeDomain(raw)
		if err != nil {
			d.errorf(item, f, "%q is not a host name with a dot", raw)
			continue
		}
		if slices.Contains(out, h) {
			d.errorf(item, f, "%s is listed twice", h)
			continue
		}
		out = append(out, h)
	}
	return out
}
