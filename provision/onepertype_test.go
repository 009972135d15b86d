package provision

import (
	"bytes"
	"strings"
	"testing"

	"mailautoconf/internal/testutil/golden"
)

// evolutionAddr is the address Evolution 3.46 sends in place of the real
// one (EvolutionPlaceholder).
var evolutionAddr = &Address{Local: EvolutionPlaceholder, Domain: "example.com"}

func TestThunderbirdOnePerTypeGolden(t *testing.T) {
	demo, _ := Demo().Lookup("example.com")
	filled := autoconfigDoc(demo, "example.com", evolutionAddr, OnePerType)
	golden.Check(t, "thunderbird/demo-one-per-type.xml", filled)
	golden.Check(t, "thunderbird/demo-one-per-type-placeholders.xml", autoconfigDoc(demo, "example.com", nil, OnePerType))
	checkAutoconfig(t, filled, "example.com", "EVOLUTIONUSER@example.com")

	// AllServers is Thunderbird itself, byte for byte.
	a := &Address{Local: "alice", Domain: "example.com"}
	if !bytes.Equal(autoconfigDoc(demo, "example.com", a, AllServers), etreeAutoconfig(demo, "example.com", a)) {
		t.Error("ThunderbirdServers(AllServers) differs from Thunderbird")
	}
}

// TestThunderbirdOnePerTypeServers: the first advertised server of each
// protocol, in catalog order, and nothing else.
func TestThunderbirdOnePerTypeServers(t *testing.T) {
	tests := []struct {
		name, catalog, want string
	}{
		{"demo", string(demoYAML), "imap:993/SSL,pop3:995/SSL,smtp:465/SSL"},
		{"starttls first stays first", `providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: mail.example.org, port: 143, security: starttls}
      - {protocol: imap, host: mail.example.org, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: mail.example.org, port: 587, security: starttls}
      - {protocol: smtp, host: mail.example.org, port: 465, security: tls}
`, "imap:143/STARTTLS,smtp:587/STARTTLS"},
		{"unadvertised servers skipped", variants["starttls-only"], "imap:143/STARTTLS,smtp:587/STARTTLS"},
		{"pop3 before imap", `providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: pop3, host: pop.example.org, port: 995, security: tls}
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
      - {protocol: pop3, host: pop.example.org, port: 110, security: starttls}
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`, "pop3:995/SSL,imap:993/SSL,smtp:465/SSL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(Source{Name: tt.name, Data: []byte(tt.catalog)})
			if err != nil {
				t.Fatal(err)
			}
			p := c.Providers()[0]
			d := p.Domains[0]
			doc := parse(t, autoconfigDoc(p, d, nil, OnePerType))
			var got []string
			for _, el := range append(doc.FindElements("//incomingServer"), doc.FindElements("//outgoingServer")...) {
				got = append(got, el.SelectAttrValue("type", "")+":"+el.FindElement("port").Text()+"/"+el.FindElement("socketType").Text())
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("servers = %v, want %s", got, tt.want)
			}
			// The pre-rendered path gives the same bytes.
			for _, a := range []*Address{nil, {Local: EvolutionPlaceholder, Domain: d}, {Local: "o'neil&<x>", Domain: d}} {
				if got, want := rendered(c.Autoconfig(nil, p, d, a, Options{Servers: OnePerType})), autoconfigDoc(p, d, a, OnePerType); !bytes.Equal(got, want) {
					t.Errorf("pre-rendered OnePerType(%v) differs:\n%s\nwant\n%s", a, got, want)
				}
			}
		})
	}
}

func TestAutoconfigServers(t *testing.T) {
	alice := &Address{Local: "alice", Domain: "example.com"}
	tests := []struct {
		ua   string
		addr *Address
		want Servers
	}{
		// Evolution 3.46.4's User-Agent is "Evolution/" VERSION
		// VERSION_SUBSTRING " " VERSION_COMMENT (e-mail-autoconfig.c).
		{"Evolution/3.46.4-2+deb12u1 ", evolutionAddr, OnePerType},
		{"Evolution/3.46.4-2+deb12u1 ", alice, OnePerType}, // older releases send the real address
		{"evolution/3.56.2", nil, OnePerType},
		{"", evolutionAddr, OnePerType}, // the placeholder behind a proxy that drops the User-Agent
		{"Mozilla/5.0", &Address{Local: "evolutionuser", Domain: "example.com"}, OnePerType},
		{"", nil, AllServers},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0", alice, AllServers},
		{"okhttp/4.12.0", nil, AllServers},
		{"Evolution", alice, AllServers},
		{"libsoup/3.4.4 Evolution/3.46", alice, AllServers},
		{"Mozilla/5.0", &Address{Local: "EVOLUTIONUSER2", Domain: "example.com"}, AllServers},
	}
	for _, tt := range tests {
		if got := AutoconfigServers(tt.ua, tt.addr); got != tt.want {
			t.Errorf("AutoconfigServers(%q, %v) = %v, want %v", tt.ua, tt.addr, got, tt.want)
		}
	}
}

func TestLastWinsWarning(t *testing.T) {
	demo, _ := Demo().Lookup("example.com")
	w := LastWinsWarning(demo)
	for _, want := range []string{"FairEmail before 1.2269", "IMAP imap.example.com:143 rather than imap.example.com:993", "SMTP smtp.example.com:587 rather than smtp.example.com:465", demo.Source} {
		if !strings.Contains(w, want) {
			t.Errorf("LastWinsWarning(demo) = %q, does not say %q", w, want)
		}
	}
	for name, src := range variants {
		c, err := Parse(Source{Name: name, Data: []byte(src)})
		if err != nil {
			t.Fatal(err)
		}
		// starttls-only lists unadvertised servers beside one of each.
		if w := LastWinsWarning(c.Providers()[0]); w != "" {
			t.Errorf("%s: LastWinsWarning = %q, want none", name, w)
		}
	}
}
