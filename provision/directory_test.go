package provision

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"mailautoconf/internal/yamlcheck"
)

func dirCat(t testing.TB) *Catalog {
	t.Helper()
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(dirCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWithDirectoryDomains: a refresh (not strict) serves the valid,
// new domains of each directory for its provider, skips the others with
// a warning each, and leaves the file catalog as it was.
func TestWithDirectoryDomains(t *testing.T) {
	c := dirCat(t)
	long := strings.Repeat("x", 100) + ".example"
	nc, warnings, err := c.WithDirectoryDomains(map[string][]string{
		"hosting": {"Bücher.Example", "xn--caf-dma.example", "HOSTING.example", "hosting.example.", "shop.example",
			"not a domain", long, "<b>&\n", "both.example"},
		"shop": {"both.example", "shop2.example", "shop.example"},
		"corp": {"ignored.example"}, // logins only: gives its domains to no one
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`directory hosting: shop.example is already served by provider shop.example (c.yaml:41): it stays there`,
		`directory hosting: "not a domain" is not a domain name, skipped`,
		`directory hosting: "` + strings.Repeat("x", 80) + `"… (108 bytes) is not a domain name, skipped`,
		`directory hosting: "<b>&\n" is not a domain name, skipped`,
		`directory shop: both.example is already served by provider hosting.example (directory hosting): it stays there`,
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	for dom, id := range map[string]string{
		"bücher.example": "hosting.example", "xn--bcher-kva.example": "hosting.example", "café.example": "hosting.example",
		"hosting.example": "hosting.example", "both.example": "hosting.example",
		"shop.example": "shop.example", "shop2.example": "shop.example", "corp.example": "corp.example",
	} {
		p, err := nc.Lookup(dom)
		if err != nil || p.ID != id {
			t.Errorf("Lookup(%s) = %v, %v; want provider %s", dom, p, err, id)
		}
	}
	if _, err := nc.Lookup("ignored.example"); !errors.Is(err, ErrUnknownDomain) {
		t.Errorf("a login directory's domain is served: %v", err)
	}
	checkKeysNormal(t, nc)
	checkKeysNormal(t, Demo())
	if nc.DomainCount() != 7 {
		t.Errorf("DomainCount = %d, want 7: %v", nc.DomainCount(), nc.Domains())
	}
	// The file catalog is untouched; the snapshot shares its providers
	// and their templates.
	if _, err := c.Lookup("bücher.example"); err == nil || c.DomainCount() != 2 {
		t.Errorf("the file catalog changed: %d domains", c.DomainCount())
	}
	for i, p := range c.Providers() {
		if nc.Providers()[i] != p || nc.templates(p) != c.templates(p) {
			t.Errorf("provider %s is not shared with its templates", p.ID)
		}
	}
	if nc.Directories()[0] != c.Directories()[0] {
		t.Error("directories not shared")
	}
	// A directory domain renders like a file domain.
	p, _ := nc.Lookup("bücher.example")
	doc := rendered(nc.Autoconfig(nil, p, "xn--bcher-kva.example", &Address{Local: "anna", Domain: "xn--bcher-kva.example", Login: "anna42"}, Options{}))
	if !strings.Contains(string(doc), "<domain>xn--bcher-kva.example</domain>") || !strings.Contains(string(doc), "<username>anna42</username>") {
		t.Errorf("Thunderbird at a directory domain:\n%s", doc)
	}
	// A snapshot made from the snapshot starts from the files again.
	nc2, _, err := nc.WithDirectoryDomains(map[string][]string{"hosting": {"new.example"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc2.Lookup("bücher.example"); err == nil {
		t.Error("a refresh kept a domain the directory no longer lists")
	}
	if p, err := nc2.Lookup("new.example"); err != nil || p.ID != "hosting.example" {
		t.Errorf("Lookup(new.example) = %v, %v", p, err)
	}
}

// TestWithDirectoryDomainsStrict: at start a domain served twice is an
// error naming both owners, as for two providers of the files.
func TestWithDirectoryDomainsStrict(t *testing.T) {
	c := dirCat(t)
	_, _, err := c.WithDirectoryDomains(map[string][]string{
		"hosting": {"a.example", "corp.example", "both.example", "A.example"},
		"shop":    {"both.example", "bad domain"},
	}, true)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("WithDirectoryDomains(strict) = %v, want a *LoadError", err)
	}
	want := "directory hosting: corp.example is already served by provider corp.example (c.yaml:34)\n" +
		"directory shop: both.example is already served by provider hosting.example (directory hosting)"
	if le.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", le.Error(), want)
	}
	// Without a conflict, strict is the same as a refresh; bad rows are
	// warnings still.
	nc, warnings, err := c.WithDirectoryDomains(map[string][]string{"hosting": {"a.example", "bad domain"}, "shop": {"shop.example"}}, true)
	if err != nil || len(warnings) != 1 || nc.DomainCount() != 3 {
		t.Errorf("WithDirectoryDomains(strict, no conflict) = %v, %q, %v", nc, warnings, err)
	}
	if _, _, err := c.WithDirectoryDomains(map[string][]string{"nope": {"a.example"}}, false); err == nil || err.Error() != `no directory "nope" in the catalog` {
		t.Errorf("unknown directory: %v", err)
	}
}

// TestWithDirectoryDomainsBounded: a million bad rows make a bounded
// number of warnings, and of errors.
func TestWithDirectoryDomainsBounded(t *testing.T) {
	c := dirCat(t)
	bad := make([]string, 5000)
	for i := range bad {
		bad[i] = fmt.Sprintf("bad row %d", i)
	}
	_, warnings, err := c.WithDirectoryDomains(map[string][]string{"hosting": bad}, false)
	if err != nil || len(warnings) != maxDomainWarnings+1 || warnings[maxDomainWarnings] != "and 4900 more warnings, not listed" {
		t.Errorf("%d warnings, last %q, %v", len(warnings), warnings[len(warnings)-1], err)
	}
	dup := make([]string, 5000)
	for i := range dup {
		dup[i] = fmt.Sprintf("d%d.example", i)
	}
	_, _, err = c.WithDirectoryDomains(map[string][]string{"hosting": dup, "shop": dup}, true)
	var le *LoadError
	if !errors.As(err, &le) || len(le.Errs) != yamlcheck.MaxErrors || le.More != 4900 {
		t.Errorf("strict with 5000 conflicts: %v", err)
	}
}

// BenchmarkWithDirectoryDomains merges a million directory domains, as a
// first load or a refresh of a large hoster does (docs/guide/directories.md).
func BenchmarkWithDirectoryDomains(b *testing.B) {
	c := dirCat(b)
	list := make([]string, 1_000_000)
	for i := range list {
		list[i] = fmt.Sprintf("customer-%07d.example", i)
	}
	lists := map[string][]string{"hosting": list}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		nc, _, err := c.WithDirectoryDomains(lists, true)
		if err != nil || nc.DomainCount() != len(list)+2 {
			b.Fatal(err)
		}
	}
}

// TestWithDirectoryDomainsRedirects: a redirect_address checked for the
// listed domains at load is checked for the directory's domains too.
func TestWithDirectoryDomainsRedirects(t *testing.T) {
	src := `directories:
  - {name: d, type: mysql, url_env: D_URL, domains: SELECT d FROM t}
providers:
  - id: moved.example
    directory: d
    redirect_address: "%EMAILLOCALPART%@new.example"
    incoming: [{protocol: imap, host: imap.moved.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.moved.example, port: 465, security: tls}]
  - id: other.example
    domains: [other.example]
    redirect_url: https://autodiscover.elsewhere.example/autodiscover/autodiscover.xml
    incoming: [{protocol: imap, host: imap.other.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.other.example, port: 465, security: tls}]
`
	c, err := Parse(Source{Name: "r.yaml", Data: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	if _, w, err := c.WithDirectoryDomains(map[string][]string{"d": {"a.example"}}, true); err != nil || len(w) != 0 {
		t.Fatalf("a redirect to a domain not served: %q, %v", w, err)
	}
	_, _, err = c.WithDirectoryDomains(map[string][]string{"d": {"a.example", "new.example"}}, true)
	if err == nil || err.Error() != "directory d: new.example redirects to itself (provider moved.example's redirect_address)" {
		t.Errorf("self redirect, strict: %v", err)
	}
	nc, w, err := c.WithDirectoryDomains(map[string][]string{"d": {"new.example"}}, false)
	if err != nil || len(w) != 1 || nc.DomainCount() != 2 {
		t.Errorf("self redirect at a refresh: %q, %v", w, err)
	}
	c2, err := Parse(Source{Name: "r.yaml", Data: []byte(strings.Replace(src, "[other.example]", "[other.example, new.example]", 1))})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c2.WithDirectoryDomains(map[string][]string{"d": {"a.example"}}, true)
	if err == nil || err.Error() != "directory d: provider moved.example's domains redirect to new.example, which redirects again (clients follow few hops)" {
		t.Errorf("two hops, strict: %v", err)
	}
}

// checkKeysNormal: every domain a catalog serves is its own normal form,
// which Lookup's first map probe relies on (a key found as given needs no
// normalising).
func checkKeysNormal(t *testing.T, c *Catalog) {
	t.Helper()
	for _, d := range c.Domains() {
		if n, err := NormalizeDomain(d); err != nil || n != d {
			t.Errorf("served domain %q normalises to %q, %v", d, n, err)
		}
	}
}
