package provision

import (
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"mailautoconf/internal/i18n"
	"mailautoconf/internal/yamlcheck"
)

// ProviderTexts are a provider's own words in one language
// (docs/guide/catalog.md#texts): the setup page's support line and the
// organisation an Apple profile names (PayloadOrganization).
type ProviderTexts struct {
	Support      string
	Organization string
}

// The bounds of a provider's texts: a support line is a sentence or two
// under the page's footer; an organisation is a name, like the catalog's
// organization key.
const (
	maxSupportText      = 300
	maxOrganizationText = 200
)

var textKeys = []string{"support", "organization"}

// Text returns p's texts for l, each one falling back to English's where
// l has none: "" where neither has it.
func (p *Provider) Text(l i18n.Lang) ProviderTexts {
	t := p.Texts[l]
	if l != i18n.English {
		en := p.Texts[i18n.English]
		if t.Support == "" {
			t.Support = en.Support
		}
		if t.Organization == "" {
			t.Organization = en.Organization
		}
	}
	return t
}

// profileOrganization is a profile's PayloadOrganization in l: the texts'
// organization, else the catalog's organization, else the display name.
func (p *Provider) profileOrganization(l i18n.Lang) string {
	if o := p.Text(l).Organization; o != "" {
		return o
	}
	if p.Organization != "" {
		return p.Organization
	}
	return p.DisplayName
}

// texts reads a provider's optional texts key:
//
//	texts:
//	  de: {support: "Hilfe unter 0800 123 456", organization: "Beispiel GmbH"}
//	  en: {support: "Help at 0800 123 456"}
//
// Each language is one the service speaks (i18n.Codes), each text one
// line of printable text within its bound, never empty.
func (d *decoder) texts(m map[string]*yaml.Node, path string) map[i18n.Lang]ProviderTexts {
	n, ok := m["texts"]
	if !ok {
		return nil
	}
	f := path + ".texts"
	langs := d.Mapping(n, f, i18n.Codes()...)
	if langs == nil {
		return nil
	}
	if len(n.Content) == 0 {
		d.Errorf(n, f, "empty: name at least one language (%s)", strings.Join(i18n.Codes(), ", "))
		return nil
	}
	out := make(map[i18n.Lang]ProviderTexts, len(langs))
	for _, l := range i18n.All() { // Mapping let only our codes through
		ln, ok := langs[l.Code()]
		if !ok {
			continue
		}
		lf := f + "." + l.Code()
		km := d.Mapping(ln, lf, textKeys...)
		if km == nil {
			continue
		}
		if len(yamlcheck.ResolveAlias(ln).Content) == 0 {
			d.Errorf(ln, lf, "empty: set support or organization")
			continue
		}
		out[l] = ProviderTexts{
			Support:      d.text(km, lf, "support", maxSupportText),
			Organization: d.text(km, lf, "organization", maxOrganizationText),
		}
	}
	return out
}

// text reads a required-if-present text: like yamlcheck's Text, and
// never empty or blank, since a key given without words is a mistake.
func (d *decoder) text(m map[string]*yaml.Node, path, key string, max int) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := yamlcheck.JoinField(path, key)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		d.Errorf(n, f, "empty")
		return ""
	}
	if v, ok := d.Str(n, f); ok && strings.TrimFunc(v, unicode.IsSpace) == "" {
		d.Errorf(n, f, "empty")
		return ""
	}
	return d.Text(m, path, key, max)
}
