package provision

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"mailautoconf/internal/yamlcheck"
)

// DNSUpdate is one entry of the catalog's top-level `dns_updates` list
// (docs/guide/dns-updates.md): the zones this service may change with
// RFC 2136 updates, the server that takes them, and the environment
// variable that holds the TSIG key. The catalog holds the variable's
// name only: the key itself is read where the updates are sent
// (internal/dnsupdate), and never enters the catalog, its errors or its
// logs.
type DNSUpdate struct {
	Zones      []string // A-labels, lower case, without the final dot
	Server     string   // host:port
	TSIGKeyEnv string
	// Source is "file:line" of the entry, for messages.
	Source string
}

// DNSUpdates returns the catalog's `dns_updates` entries, in catalog
// order; none when the key is not set.
func (c *Catalog) DNSUpdates() []DNSUpdate { return c.dnsUpdates }

// dnsUpdateDecoder is the decoder's state for dns_updates: the entries
// read so far, from every file, and where each zone was listed.
type dnsUpdateDecoder struct {
	list  []DNSUpdate
	zones map[string]string
}

var dnsUpdateKeys = []string{"zones", "server", "tsig_key_env"}

// dnsUpdates reads the top-level `dns_updates:` list of one file:
//
//	dns_updates:
//	  - zones: [example.com, example.net]
//	    server: ns1.example.com:53
//	    tsig_key_env: MAILAUTOCONF_TSIG_KEY
//
// A zone may be listed once across the catalog: two entries for one
// zone would leave it unclear which server and key change it.
func (d *decoder) dnsUpdates(n *yaml.Node) {
	for i, item := range d.Sequence(n, "dns_updates") {
		path := fmt.Sprintf("dns_updates[%d]", i)
		m := d.Mapping(item, path, dnsUpdateKeys...)
		if m == nil {
			continue
		}
		u := DNSUpdate{Source: fmt.Sprintf("%s:%d", d.File, item.Line)}
		if zn, ok := d.Required(m, item, path, "zones"); ok {
			items := d.Sequence(zn, path+".zones")
			if len(items) == 0 && zn.Kind == yaml.SequenceNode {
				d.Errorf(zn, path+".zones", "needs at least one zone")
			}
			for j, z := range items {
				f := fmt.Sprintf("%s.zones[%d]", path, j)
				raw, ok := d.Str(z, f)
				if !ok {
					continue
				}
				zone, err := NormalizeDomain(raw)
				if err != nil {
					d.Errorf(z, f, "%s is not a zone name", yamlcheck.Quote(raw))
					continue
				}
				if prev, dup := d.upd.zones[zone]; dup {
					d.Errorf(z, f, "%s is listed already at %s", zone, prev)
					continue
				}
				if d.upd.zones == nil {
					d.upd.zones = map[string]string{}
				}
				d.upd.zones[zone] = fmt.Sprintf("%s:%d", d.File, z.Line)
				u.Zones = append(u.Zones, zone)
			}
		}
		if sn, ok := d.Required(m, item, path, "server"); ok {
			if v, ok := d.Str(sn, path+".server"); ok {
				if err := checkHostPort(v); err != nil {
					d.Errorf(sn, path+".server", "%s: %v", yamlcheck.Quote(v), err)
				} else {
					u.Server = v
				}
			}
		}
		if kn, ok := d.Required(m, item, path, "tsig_key_env"); ok {
			if v, ok := d.Str(kn, path+".tsig_key_env"); ok {
				if !isEnvName(v) {
					d.Errorf(kn, path+".tsig_key_env", "%s is not an environment variable name (A-Z, 0-9 and _, not starting with a digit)", yamlcheck.Quote(v))
				} else {
					u.TSIGKeyEnv = v
				}
			}
		}
		d.upd.list = append(d.upd.list, u)
	}
}

// checkHostPort says what is wrong with a host:port of a DNS server.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("want HOST:PORT, e.g. ns1.example.com:53 or [2001:db8::53]:53")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not 1 to 65535", port)
	}
	if net.ParseIP(host) == nil {
		if _, err := NormalizeHost(host); err != nil {
			return fmt.Errorf("%q is not a host name or address", host)
		}
	}
	return nil
}

// isEnvName reports whether s is a portable environment variable name
// (POSIX.1-2017 §8.1: upper-case letters, digits and underscore, not
// starting with a digit).
func isEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// paccTXT reads a provider's optional `pacc_txt` key: the one name,
// under a zone the hoster owns, that holds the PACC digest TXT record
// for every domain of the provider, each domain's _ua-auto-config.<d>
// being a CNAME to it (docs/pacc.md#one-digest-per-provider). It works
// because the provider's PACC document is the same bytes for all of its
// domains (PACC, pacc.go). The first label may begin with an underscore
// (_ua-auto-config.hoster.example); the rest is a host name of two
// labels or more.
func (d *decoder) paccTXT(m map[string]*yaml.Node, path string, p *Provider) {
	n, ok := m["pacc_txt"]
	if !ok {
		return
	}
	f := yamlcheck.JoinField(path, "pacc_txt")
	raw, ok := d.Str(n, f)
	if !ok {
		return
	}
	name, err := normalizeOwnerName(raw)
	if err != nil {
		d.Errorf(n, f, "%s is not a DNS name for a TXT record: %v", yamlcheck.Quote(raw), err)
		return
	}
	p.PACCTXT = name
}

// normalizeOwnerName lower-cases an owner name whose first label may be
// an underscore label (RFC 8552 §1.1), the rest a host name.
func normalizeOwnerName(s string) (string, error) {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	first, rest, ok := strings.Cut(s, ".")
	if !ok || !strings.Contains(rest, ".") {
		return "", fmt.Errorf("want a name of three labels or more, such as _ua-auto-config.hoster.example")
	}
	if strings.HasPrefix(first, "_") {
		if len(first) < 2 || len(first) > maxLabelLen {
			return "", fmt.Errorf("first label %q: want 2 to %d characters", first, maxLabelLen)
		}
		for i := 1; i < len(first); i++ {
			c := first[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("character %q not allowed in label %q", c, first)
			}
		}
	} else if _, err := NormalizeHost(first); err != nil {
		return "", err
	}
	r, err := NormalizeHost(rest)
	if err != nil {
		return "", err
	}
	if r != rest {
		return "", fmt.Errorf("write it in A-labels (punycode)")
	}
	return first + "." + r, nil
}

// checkPACCTXT refuses one pacc_txt name for two providers: their
// documents differ, and one TXT record holds one digest.
func (d *decoder) checkPACCTXT(providers []*Provider) {
	seen := map[string]*Provider{}
	for _, p := range providers {
		if p.PACCTXT == "" {
			continue
		}
		if q, dup := seen[p.PACCTXT]; dup {
			d.providerErrorf(p, "pacc_txt", "%s is provider %s's pacc_txt too (%s): one TXT record holds one provider's digest", p.PACCTXT, q.ID, q.Source)
			continue
		}
		seen[p.PACCTXT] = p
	}
}
