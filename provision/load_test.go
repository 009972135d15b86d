package provision

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mailautoconf/internal/yamlcheck"
)

func TestDemoCatalog(t *testing.T) {
	c := Demo()
	if got := c.Domains(); strings.Join(got, ",") != "example.com,example.net" {
		t.Errorf("Demo().Domains() = %v", got)
	}
	p, err := c.Lookup("EXAMPLE.net.")
	if err != nil {
		t.Fatalf("Lookup(EXAMPLE.net.) = %v", err)
	}
	if p.ID != "example.com" || len(p.Incoming) != 3 || len(p.Outgoing) != 2 {
		t.Errorf("demo provider = %+v", p)
	}
	want := []Server{
		{Protocol: IMAP, Host: "imap.example.com", Port: 993, Security: TLS},
		{Protocol: IMAP, Host: "imap.example.com", Port: 143, Security: STARTTLS},
		{Protocol: POP3, Host: "pop.example.com", Port: 995, Security: TLS},
	}
	for i, w := range want {
		g := p.Incoming[i]
		if g.Protocol != w.Protocol || g.Host != w.Host || g.Port != w.Port || g.Security != w.Security ||
			g.Username != PlaceholderAddress || strings.Join(g.Auth, ",") != "password-cleartext" {
			t.Errorf("incoming[%d] = %+v, want %+v with default username and auth", i, g, w)
		}
	}
	if _, err := c.Lookup("example.org"); !errors.Is(err, ErrUnknownDomain) {
		t.Errorf("Lookup(example.org) = %v, want ErrUnknownDomain", err)
	}
	if _, err := c.Lookup("exa mple.org"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("Lookup(exa mple.org) = %v, want ErrBadAddress", err)
	}
}

// Resolve finds a served domain in any form and returns its normal form
// beside the provider, and says which of the two kinds of failure it is.
func TestResolve(t *testing.T) {
	c := Demo()
	net, _ := c.Lookup("example.net")
	for _, tc := range []struct {
		in, normal string
		p          *Provider
		err        error
	}{
		{"example.net", "example.net", net, nil},
		{"EXAMPLE.net.", "example.net", net, nil},
		{"Example.Net", "example.net", net, nil},
		{"example.org", "example.org", nil, ErrUnknownDomain},
		{"EXAMPLE.org", "example.org", nil, ErrUnknownDomain},
		{"exa mple.org", "", nil, ErrBadAddress},
		{"", "", nil, ErrBadAddress},
		{"localhost", "", nil, ErrBadAddress},
	} {
		p, normal, err := c.Resolve(tc.in)
		if p != tc.p || normal != tc.normal || !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%q) = %v, %q, %v; want %v, %q, %v", tc.in, p, normal, err, tc.p, tc.normal, tc.err)
		}
	}
}

// base is a valid one-provider catalog; the error table edits it.
const base = `providers:
  - id: mail.example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 587, security: starttls}
`

func TestParseValid(t *testing.T) {
	tests := []struct {
		name, yaml string
		check      func(*Catalog) string
	}{
		{"base", base, nil},
		{"idn U-label served as A-label", strings.Replace(base, "[example.org]", "[Bücher.Example, xn--caf-dma.example]", 1), func(c *Catalog) string {
			return strings.Join(c.Domains(), ",")
		}},
		{"pop3 options and auth", `providers:
  - id: pop.example.org
    display_name: "Pop & <Co>"
    domains: [example.org]
    incoming:
      - protocol: pop3
        host: pop.example.org
        port: 995
        security: tls
        auth: [OAuth2, password-cleartext]
        username: "%EMAILLOCALPART%+mail@%EMAILDOMAIN%"
        pop3: {leave_on_server: true, days_on_server: 30, download_on_check: false, check_interval: 15}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 25, security: none}
      - {protocol: smtp, host: smtp.example.org, port: 465, security: tls, auth: [password-encrypted]}
    oauth2: {issuer: auth.example.org, scope: "mail offline", auth_url: "https://auth.example.org/a", token_url: "https://auth.example.org/t"}
`, func(c *Catalog) string {
			p := c.Providers()[0]
			o := p.Incoming[0].POP3
			return strings.Join([]string{p.DisplayName, p.ShortName, p.OAuth2.Issuer, strings.Join(p.Incoming[0].Auth, "+"),
				strconv.Itoa(*o.DaysOnServer), strconv.Itoa(*o.CheckInterval), strconv.Itoa(len(p.AdvertisedOutgoing()))}, "|")
		}},
		{"anchors and aliases", `servers: &s
  - {protocol: smtp, host: smtp.example.org, port: 465, security: tls}
providers:
  - id: example.org
    domains: [example.org]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: *s
`, nil},
	}
	wants := map[string]string{
		"idn U-label served as A-label": "xn--bcher-kva.example,xn--caf-dma.example",
		"pop3 options and auth":         "Pop & <Co>|Pop & <Co>|auth.example.org|OAuth2+password-cleartext|30|15|1",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(Source{Name: "c.yaml", Data: []byte(tt.yaml)})
			if tt.name == "anchors and aliases" {
				// The top-level key "servers" is unknown: aliases
				// are fine, extra keys are not.
				if err == nil || !strings.Contains(err.Error(), `c.yaml:1: servers: unknown key`) {
					t.Fatalf("Parse = %v, want unknown key servers", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.check != nil {
				if got := tt.check(c); got != wants[tt.name] {
					t.Errorf("got %q, want %q", got, wants[tt.name])
				}
			}
		})
	}
}

// TestParseErrors lists catalog mistakes with the exact message an
// operator sees.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"empty file", "", []string{"c.yaml: file is empty"}},
		{"only a comment", "# nothing yet\n", []string{"c.yaml: file is empty"}},
		{"no providers", "providers: []\n", []string{"c.yaml: providers: no providers: the catalog is empty"}},
		{"providers missing", "other: 1\n", []string{"c.yaml:1: other: unknown key (known: providers, directories, dns_updates)", "c.yaml:1: providers: missing"}},
		{"syntax", "providers:\n  - id: [\n", []string{"c.yaml:2: YAML syntax: did not find expected node content"}},
		{"top level list", "- a\n", []string{"c.yaml:1: (top level): must be a mapping, not a list"}},
		{"port out of range", strings.Replace(base, "port: 993", "port: 99999", 1),
			[]string{"c.yaml:5: providers[0].incoming[0].port: 99999 is not a port (1-65535)"}},
		{"port not a number", strings.Replace(base, "port: 993", `port: "993"`, 1),
			[]string{`c.yaml:5: providers[0].incoming[0].port: "993" is not a whole number`}},
		{"port zero", strings.Replace(base, "port: 587", "port: 0", 1),
			[]string{"c.yaml:7: providers[0].outgoing[0].port: 0 is not a port (1-65535)"}},
		{"bad security", strings.Replace(base, "security: tls", "security: ssl", 1),
			[]string{`c.yaml:5: providers[0].incoming[0].security: "ssl" is not one of "tls", "starttls", "none"`}},
		{"bad protocol", strings.Replace(base, "protocol: imap", "protocol: smtp", 1),
			[]string{`c.yaml:5: providers[0].incoming[0].protocol: "smtp" is not one of "imap", "pop3"`}},
		{"bad host", strings.Replace(base, "host: imap.example.org", "host: imap_1.example.org", 1),
			[]string{`c.yaml:5: providers[0].incoming[0].host: "imap_1.example.org" is not a host name: character '_' not allowed in host name`}},
		{"unknown server key", strings.Replace(base, "security: tls}", "security: tls, tls: true}", 1),
			[]string{"c.yaml:5: providers[0].incoming[0].tls: unknown key (known: protocol, host, port, security, auth, username, pop3)"}},
		{"unknown key over lines", strings.Replace(base, "security: tls}", "security: tls, sec\n\n          tls}", 1),
			[]string{`c.yaml:5: providers[0].incoming[0]."sec\ntls": unknown key (known: protocol, host, port, security, auth, username, pop3)`}},
		{"unknown key with a space", strings.Replace(base, "security: tls}", "security: tls, \"my key\": 1}", 1),
			[]string{`c.yaml:5: providers[0].incoming[0]."my key": unknown key (known: protocol, host, port, security, auth, username, pop3)`}},
		{"unknown provider key", strings.Replace(base, "    domains:", "    domain: x\n    domains:", 1),
			[]string{"c.yaml:3: providers[0].domain: unknown key (known: id, display_name, short_name, organization, domains, incoming, outgoing, caldav, carddav, webmail, oauth2, color, activesync, redirect_address, redirect_url, domain_redirects, tls_names, jmap, managesieve, logo, help, directory, login_directory, ews, owa, texts, pacc_txt)"}},
		{"key twice", strings.Replace(base, "    domains:", "    id: x.org\n    domains:", 1),
			[]string{"c.yaml:3: providers[0].id: given twice"}},
		{"id not a host", strings.Replace(base, "id: mail.example.org", "id: Example Mail", 1),
			[]string{`c.yaml:2: providers[0].id: "Example Mail" is not a host name (Thunderbird and K-9 reject other ids)`}},
		{"id missing", strings.Replace(base, "  - id: mail.example.org\n    domains", "  - domains", 1),
			[]string{"c.yaml:2: providers[0].id: missing"}},
		{"bad domain", strings.Replace(base, "[example.org]", "[example.org, -bad.org]", 1),
			[]string{`c.yaml:3: providers[0].domains[1]: "-bad.org" is not a domain name`}},
		{"single-label domain", strings.Replace(base, "[example.org]", "[localhost]", 1),
			[]string{`c.yaml:3: providers[0].domains[0]: "localhost" is not a domain name`}},
		{"domain twice", strings.Replace(base, "[example.org]", "[example.org, EXAMPLE.org]", 1),
			[]string{"c.yaml:3: providers[0].domains[1]: example.org is listed twice"}},
		{"no domains", strings.Replace(base, "[example.org]", "[]", 1),
			[]string{"c.yaml:3: providers[0].domains: needs at least one domain"}},
		{"domains not a list", strings.Replace(base, "[example.org]", "example.org", 1),
			[]string{`c.yaml:3: providers[0].domains: must be a list, not "example.org"`}},
		{"no incoming", strings.Replace(base, "    incoming:\n      - {protocol: imap, host: imap.example.org, port: 993, security: tls}\n", "", 1),
			[]string{"c.yaml:2: providers[0].incoming: missing"}},
		{"empty outgoing", strings.Replace(base, "    outgoing:\n      - {protocol: smtp, host: smtp.example.org, port: 587, security: starttls}\n", "    outgoing: []\n", 1),
			[]string{"c.yaml:6: providers[0].outgoing: needs at least one server"}},
		{"only plain incoming", strings.Replace(base, "security: tls", "security: none", 1),
			[]string{"c.yaml:5: providers[0].incoming: needs at least one server with security tls or starttls (servers with none are never advertised)"}},
		{"unknown auth", strings.Replace(base, "security: tls}", "security: tls, auth: [password]}", 1),
			[]string{`c.yaml:5: providers[0].incoming[0].auth[0]: "password" is not a known authentication (password-cleartext, password-encrypted, OAuth2, NTLM, GSSAPI, client-IP-address, TLS-client-cert, smtp-after-pop, none)`}},
		{"oauth2 only", strings.Replace(base, "security: tls}", "security: tls, auth: [OAuth2]}", 1),
			[]string{"c.yaml:5: providers[0].incoming[0].auth: needs password-cleartext or password-encrypted (clients skip the other methods)"}},
		{"username with space", strings.Replace(base, "security: tls}", `security: tls, username: "%EMAILLOCALPART% x"}`, 1),
			[]string{`c.yaml:5: providers[0].incoming[0].username: "%EMAILLOCALPART% x": no white space or control characters (K-9 rejects them)`}},
		{"username unknown placeholder", strings.Replace(base, "security: tls}", `security: tls, username: "%REALNAME%"}`, 1),
			[]string{`c.yaml:5: providers[0].incoming[0].username: "%REALNAME%": % only in %EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN% or %LOGIN%`}},
		{"pop3 options on imap", strings.Replace(base, "security: tls}", "security: tls, pop3: {leave_on_server: true}}", 1),
			[]string{"c.yaml:5: providers[0].incoming[0].pop3: only a pop3 server takes POP3 options"}},
		{"pop3 option types", strings.Replace(strings.Replace(base, "protocol: imap", "protocol: pop3", 1), "security: tls}", "security: tls, pop3: {leave_on_server: yes, days_on_server: 0}}", 1),
			[]string{`c.yaml:5: providers[0].incoming[0].pop3.leave_on_server: "yes" is not true or false`,
				"c.yaml:5: providers[0].incoming[0].pop3.days_on_server: 0 is out of range (1-36500 days)"}},
		{"bad url", strings.Replace(base, "    incoming:", "    caldav: dav.example.org\n    incoming:", 1),
			[]string{`c.yaml:4: providers[0].caldav: "dav.example.org" is not an absolute http(s) URL`}},
		{"long display name", strings.Replace(base, "    domains:", "    display_name: "+strings.Repeat("x", 61)+"\n    domains:", 1),
			[]string{"c.yaml:3: providers[0].display_name: longer than 60 characters"}},
		{"oauth2 incomplete", strings.Replace(base, "    incoming:", "    oauth2: {issuer: a.example.org}\n    incoming:", 1),
			[]string{"c.yaml:4: providers[0].oauth2.scope: missing", "c.yaml:4: providers[0].oauth2.auth_url: missing", "c.yaml:4: providers[0].oauth2.token_url: missing"}},
		{"two providers one domain", base + `  - id: other.example.org
    domains: [Example.ORG]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`, []string{"c.yaml:8: provider other.example.org.domains: example.org is already served by provider mail.example.org (c.yaml:2)"}},
		{"two providers one id", base + strings.Replace(strings.TrimPrefix(base, "providers:\n"), "[example.org]", "[example.net]", 1),
			[]string{"c.yaml:8: provider mail.example.org.id: mail.example.org is also the id of the provider at c.yaml:2"}},
		{"several errors at once", strings.Replace(strings.Replace(base, "port: 993", "port: -1", 1), "port: 587", "port: 70000", 1),
			[]string{"c.yaml:5: providers[0].incoming[0].port: -1 is not a port (1-65535)", "c.yaml:7: providers[0].outgoing[0].port: 70000 is not a port (1-65535)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "c.yaml", Data: []byte(tt.yaml)})
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a *LoadError", err)
			}
			got := strings.Split(le.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", base)
	write("b.yml", strings.Replace(strings.Replace(base, "mail.example.org", "mail.example.net", 1), "[example.org]", "[example.net]", 1))
	write("notes.txt", "not yaml: [")
	write(".hidden.yaml", "not yaml: [")
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(dir) = %v", err)
	}
	if got := strings.Join(c.Domains(), ","); got != "example.net,example.org" {
		t.Errorf("Domains() = %s", got)
	}

	// A clash across files names both files.
	write("c.yaml", strings.Replace(base, "mail.example.org", "third.example.org", 1))
	_, err = Load(dir)
	want := filepath.Join(dir, "c.yaml") + ":2: provider third.example.org.domains: example.org is already served by provider mail.example.org (" + filepath.Join(dir, "a.yaml") + ":2)"
	if err == nil || err.Error() != want {
		t.Errorf("Load(dir) = %v\nwant %s", err, want)
	}

	empty := t.TempDir()
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "no *.yaml files") {
		t.Errorf("Load(empty dir) = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("Load(missing file) = nil error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add(DemoYAML())
	f.Add([]byte("providers: []"))
	f.Add([]byte("providers:\n  - id: [\n"))
	f.Add([]byte(strings.Replace(base, "port: 993", "port: 99999", 1)))
	// Aliases: shared, multiplied, nested, holding their own anchor.
	f.Add([]byte(sharedServers(3)))
	f.Add([]byte(aliasedProviders(20, 3)))
	f.Add([]byte(laughs(3)))
	f.Add([]byte(strings.Replace(base, "[example.org]", "&a [example.org, *a]", 1)))
	f.Add([]byte(strings.Replace(base, "[example.org]", "*nowhere", 1)))
	f.Add([]byte(dirCatalog))
	f.Add([]byte(loginCatalog))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(Source{Name: "f.yaml", Data: data})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				return // e.g. NewCatalog's duplicate check, already reported by crossCheck
			}
			if len(le.Errs) > yamlcheck.MaxErrors || len(le.Errs) == 0 {
				t.Fatalf("%d errors listed, want 1 to %d", len(le.Errs), yamlcheck.MaxErrors)
			}
			for _, fe := range le.Errs {
				if fe.File != "f.yaml" || strings.Contains(fe.Error(), "\n") {
					t.Fatalf("error not on one located line: %q", fe.Error())
				}
				// Values are quoted cut at yamlcheck.MaxQuoted characters:
				// no message grows with the input.
				if len(fe.Error()) > 1000 {
					t.Fatalf("error of %d bytes: %.200q", len(fe.Error()), fe.Error())
				}
			}
			return
		}
		// Property: every directory a provider names is declared, with
		// domains for `directory` and logins for LoginDirectory, and a
		// provider using %LOGIN% has somewhere to look it up.
		for _, p := range c.Providers() {
			if dir := c.Directory(p.Directory); p.Directory != "" && (dir == nil || !dir.HasDomains()) {
				t.Fatalf("provider %s: directory %q without domains", p.ID, p.Directory)
			}
			if dir := c.Directory(p.LoginDirectory); p.LoginDirectory != "" && (dir == nil || !dir.HasLogin()) || usesLogin(p) && p.LoginDirectory == "" {
				t.Fatalf("provider %s: login directory %q", p.ID, p.LoginDirectory)
			}
		}
		// Property: every accepted catalog renders every domain to a
		// document Thunderbird's rules accept.
		for _, d := range c.Domains() {
			p, err := c.Lookup(d)
			if err != nil {
				t.Fatalf("Lookup(%q) after load: %v", d, err)
			}
			checkAutoconfig(t, etreeAutoconfig(p, d, nil), d, "")
		}
	})
}
