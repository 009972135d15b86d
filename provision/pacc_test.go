package provision

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"mailautoconf/internal/testutil/golden"
)

// paccCatalog uses every key PACC can carry.
const paccCatalog = `providers:
  - id: full.example.org
    display_name: Full Mail "& Co"
    short_name: Full
    domains: [example.org, example.info]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 143, security: starttls}
      - {protocol: imap, host: imap.example.org, port: 993, security: tls, auth: [OAuth2, password-cleartext]}
      - {protocol: imap, host: imap2.example.org, port: 993, security: tls}
      - {protocol: pop3, host: pop.example.org, port: 10995, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 587, security: starttls}
      - {protocol: smtp, host: smtp.example.org, port: 465, security: tls}
    caldav: https://dav.example.org/caldav/
    carddav: http://dav.example.org/carddav/
    jmap: https://jmap.example.org/.well-known/jmap
    managesieve: {host: sieve.example.org, port: 4190, security: tls}
    logo: https://example.org/logo.svg
    help: {documentation: "https://example.org/help?a=1&b=<2>", developer: https://dev.example.org/, contact: ["mailto:support@example.org", "mailto:abuse@example.org"]}
    oauth2: {issuer: login.example.org, scope: mail, auth_url: "https://login.example.org/auth", token_url: "https://login.example.org/token"}
  - id: jmap.example.net
    domains: [example.net]
    incoming: [{protocol: imap, host: imap.example.net, port: 143, security: starttls}]
    outgoing: [{protocol: smtp, host: smtp.example.net, port: 587, security: starttls}]
    jmap: https://jmap.example.net/session
    managesieve: {host: sieve.example.net, port: 4190, security: starttls}
`

func TestPACCGolden(t *testing.T) {
	cat := Demo()
	demo, _ := cat.Lookup("example.com")
	variant := func(name string) (*Catalog, *Provider) {
		c, err := Parse(Source{Name: name + ".yaml", Data: []byte(variants[name])})
		if err != nil {
			t.Fatal(err)
		}
		return c, c.Providers()[0]
	}
	full, err := Parse(Source{Name: "pacc.yaml", Data: []byte(paccCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cat  *Catalog
		p    *Provider
	}{
		{"demo", cat, demo},
		{"full", full, full.Providers()[0]},
		{"jmap-only", full, full.Providers()[1]},
	} {
		out, err := tc.cat.PACC(nil, tc.p, tc.p.Domains[0], nil, Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		golden.Check(t, "pacc/"+tc.name+".json", out)
		checkPACC(t, out)
	}
	for _, name := range []string{"imap-only", "oauth2"} {
		c, p := variant(name)
		out, err := c.PACC(nil, p, p.Domains[0], nil, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		golden.Check(t, "pacc/"+name+".json", out)
		checkPACC(t, out)
	}
	// Neither has an implicit-TLS server on its standard port on both
	// sides: no document, a 404.
	for _, name := range []string{"pop3-only", "starttls-only"} {
		c, p := variant(name)
		if out, err := c.PACC(nil, p, p.Domains[0], nil, Options{}); !errors.Is(err, ErrUnknownDomain) {
			t.Errorf("%s: PACC = %q, %v; want ErrUnknownDomain", name, out, err)
		}
		if d := PACCDigest(p); d != "" {
			t.Errorf("%s: PACCDigest = %q, want none", name, d)
		}
	}
}

// checkPACC checks a document against the draft's rules as the doctor
// reads them: it parses, has the three members, and every host and URL
// is one the draft allows.
func checkPACC(t *testing.T, body []byte) {
	t.Helper()
	var doc map[string]map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	for _, k := range []string{"protocols", "authentication", "info"} {
		if doc[k] == nil {
			t.Errorf("no %s in\n%s", k, body)
		}
	}
	if !bytes.HasSuffix(body, []byte("}\n")) || bytes.Count(body, []byte("\n")) != 1 {
		t.Errorf("want one line of JSON ending in a newline:\n%q", body)
	}
}

func TestPACCByteStable(t *testing.T) {
	// Two catalogs parsed from the same text, as two replicas or two
	// starts would: the same bytes, and every domain the same bytes.
	a, _ := Parse(Source{Name: "a.yaml", Data: []byte(paccCatalog)})
	b, _ := Parse(Source{Name: "b.yaml", Data: []byte(paccCatalog)})
	pa, pb := a.Providers()[0], b.Providers()[0]
	first, _ := a.PACC(nil, pa, "example.org", nil, Options{})
	for i := 0; i < 20; i++ {
		again, _ := b.PACC(nil, pb, "example.info", &Address{Local: "x", Domain: "example.info"}, Options{})
		if !bytes.Equal(first, again) {
			t.Fatalf("PACC differs between catalogs of the same text:\n%s\n%s", first, again)
		}
	}
	sum := sha256.Sum256(first)
	want := "v=UAAC1; a=sha256; d=" + base64.StdEncoding.EncodeToString(sum[:])
	if got := PACCDigest(pb); got != want {
		t.Errorf("PACCDigest = %q, want %q", got, want)
	}
	// Appending to a buffer appends.
	out, _ := a.PACC([]byte("x"), pa, "example.org", nil, Options{})
	if !bytes.Equal(out, append([]byte("x"), first...)) {
		t.Errorf("PACC(dst) did not append")
	}
	if _, err := a.PACC(nil, nil, "example.org", nil, Options{}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("PACC(nil provider) = %v, want ErrBadRequest", err)
	}
}

func TestPACCMisfits(t *testing.T) {
	full, _ := Parse(Source{Name: "pacc.yaml", Data: []byte(paccCatalog)})
	for _, tc := range []struct {
		p        *Provider
		want     []string
		noDoc    bool
		warnHas  string
		noWarnOf string
	}{
		{p: full.Providers()[0], want: []string{
			"IMAP imap.example.org:143 (starttls)", "POP3 pop.example.org:10995 (tls)", "SMTP smtp.example.org:587 (starttls)",
			"CardDAV http://dav.example.org/carddav/",
		}},
		{p: full.Providers()[1], want: []string{
			"IMAP imap.example.net:143 (starttls)", "SMTP smtp.example.net:587 (starttls)", "MANAGESIEVE sieve.example.net:4190 (starttls)",
		}},
	} {
		got := PACCMisfits(tc.p)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("PACCMisfits(%s) = %q, want %q", tc.p.ID, got, tc.want)
		}
		w := PACCWarning(tc.p)
		for _, m := range tc.want {
			if !strings.Contains(w, m) {
				t.Errorf("PACCWarning(%s) = %q, does not name %s", tc.p.ID, w, m)
			}
		}
		if !strings.HasPrefix(w, "pacc.yaml:") {
			t.Errorf("PACCWarning(%s) = %q, want the file:line first", tc.p.ID, w)
		}
	}
	starttls, _ := Parse(Source{Name: "s.yaml", Data: []byte(variants["starttls-only"])})
	if w := PACCWarning(starttls.Providers()[0]); !strings.Contains(w, "no PACC document (404") {
		t.Errorf("PACCWarning(starttls-only) = %q, want it to say there is no document", w)
	}
	imap, _ := Parse(Source{Name: "i.yaml", Data: []byte(variants["imap-only"])})
	if w := PACCWarning(imap.Providers()[0]); w != "" {
		t.Errorf("PACCWarning(imap-only) = %q, want none", w)
	}
}

func TestLoadPACCKeys(t *testing.T) {
	full, err := Parse(Source{Name: "pacc.yaml", Data: []byte(paccCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p := full.Providers()[0]
	if p.JMAP != "https://jmap.example.org/.well-known/jmap" || p.Logo != "https://example.org/logo.svg" ||
		p.ManageSieve == nil || p.ManageSieve.Host != "sieve.example.org" || p.ManageSieve.Port != 4190 || p.ManageSieve.Security != TLS ||
		p.Help == nil || p.Help.Developer != "https://dev.example.org/" || len(p.Help.Contact) != 2 {
		t.Errorf("keys read as jmap %q logo %q managesieve %+v help %+v", p.JMAP, p.Logo, p.ManageSieve, p.Help)
	}

	const head = "providers:\n  - id: x.example\n    domains: [x.example]\n    incoming: [{protocol: imap, host: imap.x.example, port: 993, security: tls}]\n    outgoing: [{protocol: smtp, host: smtp.x.example, port: 465, security: tls}]\n"
	for _, tc := range []struct{ yaml, want string }{
		{"    jmap: http://jmap.x.example/\n", `bad.yaml:6: providers[0].jmap: "http://jmap.x.example/" must be an https:// URL`},
		{"    jmap: [a]\n", `bad.yaml:6: providers[0].jmap: `},
		{"    jmap: https://jmap.x.example/ a\n", `bad.yaml:6: providers[0].jmap: `},
		{"    managesieve: sieve.x.example\n", `bad.yaml:6: providers[0].managesieve: `},
		{"    managesieve: {host: sieve.x.example, port: 4190}\n", `bad.yaml:6: providers[0].managesieve.security: missing`},
		{"    managesieve: {host: sieve.x.example, port: 4190, security: none}\n", `bad.yaml:6: providers[0].managesieve.security: "none" is not one of "tls", "starttls"`},
		{"    managesieve: {host: sieve.x.example, port: 99999, security: tls}\n", `bad.yaml:6: providers[0].managesieve.port: 99999 is not a port`},
		{"    managesieve: {host: \"a b\", port: 4190, security: tls}\n", `bad.yaml:6: providers[0].managesieve.host: "a b" is not a host name`},
		{"    managesieve: {host: s.x.example, port: 4190, security: tls, auth: [x]}\n", `bad.yaml:6: providers[0].managesieve.auth: unknown key`},
		{"    logo: https://x.example/logo.png\n", `bad.yaml:6: providers[0].logo: "https://x.example/logo.png" is not an SVG image`},
		{"    logo: http://x.example/logo.svg\n", `bad.yaml:6: providers[0].logo: "http://x.example/logo.svg" must be an https:// URL`},
		{"    help: {}\n", `bad.yaml:6: providers[0].help: needs documentation, developer or contact`},
		{"    help: {documentation: ftp://x.example/}\n", `bad.yaml:6: providers[0].help.documentation: "ftp://x.example/" is not an absolute http(s) URL`},
		{"    help: {contact: [support@x.example]}\n", `bad.yaml:6: providers[0].help.contact[0]: "support@x.example" is not a mailto: URI`},
		{"    help: {contact: [\"mailto:a@x.example?subject=hi\"]}\n", `bad.yaml:6: providers[0].help.contact[0]: "mailto:a@x.example?subject=hi" is not a mailto: URI`},
		{"    help: {contact: [\"mailto:a@x.example,b@x.example\"]}\n", `bad.yaml:6: providers[0].help.contact[0]: `},
		{"    help: {contact: [\"mailto:a@x.example\", \"mailto:a@x.example\"]}\n", `bad.yaml:6: providers[0].help.contact[1]: "mailto:a@x.example" is listed twice`},
		{"    help: {contact: mailto:a@x.example}\n", `bad.yaml:6: providers[0].help.contact: `},
		{"    help: {phone: 123}\n", `bad.yaml:6: providers[0].help.phone: unknown key`},
	} {
		_, err := Parse(Source{Name: "bad.yaml", Data: []byte(head + tc.yaml)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}

// TestThunderbirdJMAPTemplate: the jmap incomingServer comes out of the
// pre-rendered template exactly as the etree renderer writes it, with and
// without an address, and not in Evolution's one-per-type answer.
func TestThunderbirdJMAPTemplate(t *testing.T) {
	cat, err := Parse(Source{Name: "pacc.yaml", Data: []byte(paccCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p := cat.Providers()[0]
	for _, addr := range []*Address{nil, {Local: `a"&<b`, Domain: "example.org"}} {
		got, err := cat.Autoconfig(nil, p, "example.org", addr, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want := etreeAutoconfig(p, "example.org", addr); !bytes.Equal(got, want) {
			t.Errorf("template and etree differ:\n%s\n---\n%s", got, want)
		}
		if !bytes.Contains(got, []byte(`<incomingServer type="jmap">`)) {
			t.Errorf("no jmap server:\n%s", got)
		}
		one, _ := cat.Autoconfig(nil, p, "example.org", addr, Options{Servers: OnePerType})
		if bytes.Contains(one, []byte(`type="jmap"`)) {
			t.Errorf("one-per-type lists jmap:\n%s", one)
		}
	}
}
