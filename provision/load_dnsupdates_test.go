package provision

import (
	"bytes"
	"strings"
	"testing"
)

const updatesProvider = `providers:
  - id: example.com
    domains: [example.com, example.net, example.org]
    pacc_txt: _UA-Auto-Config.Hoster.Example.
    incoming:
      - {protocol: imap, host: imap.example.com, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.com, port: 465, security: tls}
`

func TestDNSUpdatesKey(t *testing.T) {
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(updatesProvider + `dns_updates:
  - zones: [Example.com, example.net.]
    server: 127.0.0.1:5353
    tsig_key_env: MAILAUTOCONF_TSIG_KEY
  - zones: [hoster.example]
    server: "[2001:db8::53]:53"
    tsig_key_env: HOSTER_KEY
`)})
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	u := c.DNSUpdates()
	if len(u) != 2 || strings.Join(u[0].Zones, ",") != "example.com,example.net" || u[0].Server != "127.0.0.1:5353" ||
		u[0].TSIGKeyEnv != "MAILAUTOCONF_TSIG_KEY" || u[0].Source != "c.yaml:10" || u[1].Server != "[2001:db8::53]:53" {
		t.Errorf("DNSUpdates() = %+v", u)
	}
	p, _ := c.Lookup("example.org")
	if p.PACCTXT != "_ua-auto-config.hoster.example" {
		t.Errorf("PACCTXT = %q", p.PACCTXT)
	}
	// A file of dns_updates alone is one part of a catalog.
	if _, err := Parse(Source{Name: "a.yaml", Data: []byte(updatesProvider)},
		Source{Name: "b.yaml", Data: []byte("dns_updates: [{zones: [example.com], server: 'ns:53', tsig_key_env: K}]\n")}); err != nil {
		t.Errorf("Parse(providers, dns_updates) = %v", err)
	}
}

func TestDNSUpdatesErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"dns_updates: [{zones: [example.com], server: ns1:53}]", "c.yaml:9: dns_updates[0].tsig_key_env: missing"},
		{"dns_updates: [{zones: [], server: ns1:53, tsig_key_env: K}]", "c.yaml:9: dns_updates[0].zones: needs at least one zone"},
		{"dns_updates: [{zones: ['exa mple'], server: ns1:53, tsig_key_env: K}]", `dns_updates[0].zones[0]: "exa mple" is not a zone name`},
		{"dns_updates: [{zones: [example.com], server: ns1, tsig_key_env: K}]", `dns_updates[0].server: "ns1": want HOST:PORT`},
		{"dns_updates: [{zones: [example.com], server: 'ns1:99999', tsig_key_env: K}]", `port "99999" is not 1 to 65535`},
		{"dns_updates: [{zones: [example.com], server: ns1:53, tsig_key_env: lower}]", `dns_updates[0].tsig_key_env: "lower" is not an environment variable name`},
		{"dns_updates: [{zones: [example.com], server: ns1:53, tsig_key_env: K, key: x}]", `dns_updates[0].key: unknown key`},
		{"dns_updates:\n  - {zones: [example.com], server: ns1:53, tsig_key_env: K}\n  - {zones: [EXAMPLE.com], server: ns2:53, tsig_key_env: K}",
			"c.yaml:11: dns_updates[1].zones[0]: example.com is listed already at c.yaml:10"},
	} {
		_, err := Parse(Source{Name: "c.yaml", Data: []byte(updatesProvider + tc.yaml + "\n")})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s) = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestPACCTXTErrors(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"hoster", "is not a DNS name for a TXT record"},
		{"_ua.example", "want a name of three labels or more"},
		{"_u a.hoster.example", `not allowed in label`},
		{"_ua-auto-config.hoster..example", "is not a DNS name"},
	} {
		y := strings.Replace(updatesProvider, "_UA-Auto-Config.Hoster.Example.", "'"+tc.value+"'", 1)
		_, err := Parse(Source{Name: "c.yaml", Data: []byte(y)})
		if err == nil || !strings.Contains(err.Error(), "providers[0].pacc_txt") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("pacc_txt %q: Parse = %v, want %q", tc.value, err, tc.want)
		}
	}
	two := updatesProvider + strings.NewReplacer("id: example.com", "id: other.example", "domains: [example.com, example.net, example.org]", "domains: [other.example]").
		Replace(strings.TrimPrefix(updatesProvider, "providers:\n"))
	_, err := Parse(Source{Name: "c.yaml", Data: []byte(two)})
	if err == nil || !strings.Contains(err.Error(), "is provider example.com's pacc_txt too") {
		t.Errorf("one pacc_txt for two providers: Parse = %v", err)
	}
}

// The PACC document of a provider is the same bytes for every one of its
// domains (pacc.go: PACC reads neither the domain nor the address), which
// is what lets one TXT record at pacc_txt hold the digest for all of them.
func TestPACCSameBytesForEveryDomain(t *testing.T) {
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(updatesProvider)})
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	for _, d := range c.Domains() {
		p, _ := c.Lookup(d)
		for _, addr := range []string{"", "user@" + d} {
			var a *Address
			if addr != "" {
				pa, err := ParseAddress(addr)
				if err != nil {
					t.Fatal(err)
				}
				a = &pa
			}
			b, err := c.PACC(nil, p, d, a, Options{})
			if err != nil {
				t.Fatalf("PACC(%s, %q) = %v", d, addr, err)
			}
			if first == nil {
				first = b
			} else if !bytes.Equal(b, first) {
				t.Errorf("PACC(%s, %q) = %s, want the same bytes as for the first domain: %s", d, addr, b, first)
			}
			if PACCDigestOf(b) != PACCDigest(p) {
				t.Errorf("PACCDigest(%s) differs from the digest of the served bytes", d)
			}
		}
	}
}
