package provision

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"howett.net/plist"

	"mailautoconf/internal/i18n"
)

const textsCatalog = `providers:
  - id: mail.example.org
    display_name: Example Mail
    organization: Example Ltd
    domains: [example.org]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
    caldav: https://dav.example.org/
    texts:
      en: {support: "Help: 0800 123 456, weekdays 8-18", organization: "Example Ltd (UK)"}
      de: {support: "Hilfe: 0800 123 456, werktags 8–18 Uhr", organization: "Beispiel GmbH"}
      fr: {support: "Aide : 0800 123 456"}
`

func TestParseTexts(t *testing.T) {
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(textsCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Lookup("example.org")
	for _, tc := range []struct {
		l    i18n.Lang
		want ProviderTexts
	}{
		{i18n.English, ProviderTexts{"Help: 0800 123 456, weekdays 8-18", "Example Ltd (UK)"}},
		{i18n.German, ProviderTexts{"Hilfe: 0800 123 456, werktags 8–18 Uhr", "Beispiel GmbH"}},
		// French has its own support line and English's organisation.
		{i18n.French, ProviderTexts{"Aide : 0800 123 456", "Example Ltd (UK)"}},
		{i18n.Polish, ProviderTexts{"Help: 0800 123 456, weekdays 8-18", "Example Ltd (UK)"}},
	} {
		if got := p.Text(tc.l); got != tc.want {
			t.Errorf("Text(%s) = %+v, want %+v", tc.l, got, tc.want)
		}
	}
	// Without texts: the catalog's organization, then the display name.
	d := Demo().Providers()[0]
	if got := d.Text(i18n.German); got != (ProviderTexts{}) {
		t.Errorf("demo Text(de) = %+v, want none", got)
	}
	if got := d.profileOrganization(i18n.German); got != d.Organization && d.Organization != "" {
		t.Errorf("demo organisation = %q", got)
	}
}

func TestParseTextsErrors(t *testing.T) {
	provider := func(texts string) string {
		return "providers:\n  - id: mail.example.org\n    domains: [example.org]\n" +
			"    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]\n" +
			"    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]\n" +
			"    texts:\n" + texts
	}
	for _, tc := range []struct {
		name, texts string
		want        []string
	}{
		{"unknown language", "      se: {support: x}\n",
			[]string{"c.yaml:7: providers[0].texts.se: unknown key (known: en, de, es, fr, it, nl, pl, pt)"}},
		{"region is not a language", "      de-AT: {support: x}\n",
			[]string{"c.yaml:7: providers[0].texts.de-AT: unknown key (known: en, de, es, fr, it, nl, pl, pt)"}},
		{"unknown text key", "      de: {suport: x}\n",
			[]string{"c.yaml:7: providers[0].texts.de.suport: unknown key (known: support, organization)"}},
		{"empty value", "      de: {support: \"\"}\n",
			[]string{"c.yaml:7: providers[0].texts.de.support: empty"}},
		{"blank value", "      de: {organization: \"   \"}\n",
			[]string{"c.yaml:7: providers[0].texts.de.organization: empty"}},
		{"null value", "      de: {support: }\n",
			[]string{"c.yaml:7: providers[0].texts.de.support: empty"}},
		{"too long", "      de: {support: " + strings.Repeat("x", 301) + "}\n",
			[]string{"c.yaml:7: providers[0].texts.de.support: longer than 300 characters"}},
		{"organisation too long", "      nl:\n        organization: " + strings.Repeat("é", 201) + "\n",
			[]string{"c.yaml:8: providers[0].texts.nl.organization: longer than 200 characters"}},
		{"two lines", "      de: {support: \"a\\nb\"}\n",
			[]string{`c.yaml:7: providers[0].texts.de.support: control character '\n' (one line of printable text)`}},
		{"no languages", "      {}\n",
			[]string{"c.yaml:7: providers[0].texts: empty: name at least one language (en, de, es, fr, it, nl, pl, pt)"}},
		{"no texts", "      de: {}\n",
			[]string{"c.yaml:7: providers[0].texts.de: empty: set support or organization"}},
		{"not a mapping", "      [de]\n",
			[]string{"c.yaml:7: providers[0].texts: must be a mapping, not a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "c.yaml", Data: []byte(provider(tc.texts))})
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a *LoadError", err)
			}
			if got := strings.Split(le.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestMobileconfigLanguages renders one address's profile in every
// language: the identifiers and UUIDs are English's (a German profile
// replaces an English one on the device), the address, host names and
// ports are as they are, and the visible strings are the language's.
func TestMobileconfigLanguages(t *testing.T) {
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(textsCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Lookup("example.org")
	addr := Address{Local: "fred", Domain: "example.org"}
	render := func(l i18n.Lang) ([]byte, map[string]any) {
		doc, err := mobileconfigDoc(p, addr, ProfileOptions{Language: l})
		if err != nil {
			t.Fatal(err)
		}
		return doc, checkProfile(t, doc, addr.String(), "")
	}
	enDoc, en := render(i18n.English)
	enIDs := strings.Join(profileIDs(t, enDoc), " ")
	descriptions := map[string]i18n.Lang{}
	for _, l := range i18n.All() {
		doc, top := render(l)
		if got := strings.Join(profileIDs(t, doc), " "); got != enIDs {
			t.Errorf("%s: identifiers %s, English has %s", l, got, enIDs)
		}
		for _, s := range []string{"fred@example.org", "imap.example.org", "<integer>993</integer>", "smtp.example.org", "dav.example.org"} {
			if !bytes.Contains(doc, []byte(s)) {
				t.Errorf("%s: profile lacks %s", l, s)
			}
		}
		desc := top["PayloadDescription"].(string)
		if other, ok := descriptions[desc]; ok {
			t.Errorf("%s: PayloadDescription %q is also %s's", l, desc, other)
		}
		descriptions[desc] = l
		if want := p.Text(l).Organization; top["PayloadOrganization"] != want {
			t.Errorf("%s: PayloadOrganization = %v, want %q", l, top["PayloadOrganization"], want)
		}
		if l != i18n.English && !strings.Contains(desc, "fred@example.org") {
			t.Errorf("%s: PayloadDescription %q lacks the address", l, desc)
		}
	}
	if en["PayloadDisplayName"] != "Example Mail (fred@example.org)" {
		t.Errorf("English PayloadDisplayName = %v", en["PayloadDisplayName"])
	}
	var de map[string]any
	_, de = render(i18n.German)
	cal := de["PayloadContent"].([]any)[1].(map[string]any)
	if cal["PayloadDisplayName"] != "Kalender (fred@example.org)" || cal["CalDAVAccountDescription"] != "Kalender von Example Mail" {
		t.Errorf("German CalDAV payload = %v", cal)
	}
	var round map[string]any
	if _, err := plist.Unmarshal(enDoc, &round); err != nil {
		t.Fatal(err)
	}
}
