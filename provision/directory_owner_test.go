package provision

import (
	"errors"
	"strings"
	"testing"
)

// ownerCatalog has two directories, first and second in catalog order,
// each giving its domains to a provider of its own, and a file provider
// with a tls_name.
const ownerCatalog = `directories:
  - {name: a, type: mysql, url_env: A_URL, domains: SELECT d FROM t}
  - {name: b, type: postgres, url_env: B_URL, domains: SELECT d FROM t}
providers:
  - id: a.example
    directory: a
    incoming: [{protocol: imap, host: imap.a.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.a.example, port: 465, security: tls}]
  - id: b.example
    directory: b
    incoming: [{protocol: imap, host: imap.b.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.b.example, port: 465, security: tls}]
  - id: file.example
    domains: [file.example]
    tls_names: [webmail.file.example]
    incoming: [{protocol: imap, host: imap.file.example, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.file.example, port: 465, security: tls}]
`

func ownerCat(t *testing.T, src string) *Catalog {
	t.Helper()
	c, err := Parse(Source{Name: "o.yaml", Data: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustMerge(t *testing.T, c *Catalog, lists map[string][]string, o MergeOptions) (*Catalog, []string) {
	t.Helper()
	nc, w, err := c.MergeDirectoryDomains(lists, o)
	if err != nil {
		t.Fatalf("MergeDirectoryDomains(%v) = %v", lists, err)
	}
	return nc, w
}

func wantOwner(t *testing.T, c *Catalog, dom, id string) {
	t.Helper()
	p, err := c.Lookup(dom)
	switch {
	case id == "" && !errors.Is(err, ErrUnknownDomain):
		t.Errorf("Lookup(%s) = %v, %v; want not served", dom, p, err)
	case id != "" && (err != nil || p.ID != id):
		t.Errorf("Lookup(%s) = %v, %v; want provider %s", dom, p, err, id)
	}
}

func wantWarnings(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMergeKeepsCurrentOwner: at a refresh, a domain that directory b
// serves now stays with b when a, earlier in catalog order, gains it too;
// the warning names both, and a's claim is the one skipped. Catalog order
// decides only when neither served it.
func TestMergeKeepsCurrentOwner(t *testing.T) {
	c := ownerCat(t, ownerCatalog)
	served, _ := mustMerge(t, c, map[string][]string{"b": {"d.example"}}, MergeOptions{})
	wantOwner(t, served, "d.example", "b.example")

	lists := map[string][]string{"a": {"d.example", "new.example"}, "b": {"d.example", "new.example"}}
	nc, w := mustMerge(t, c, lists, MergeOptions{Served: served})
	wantOwner(t, nc, "d.example", "b.example")
	wantOwner(t, nc, "new.example", "a.example") // served by neither: catalog order
	wantWarnings(t, w,
		"directory a: d.example is already served by provider b.example (directory b): it stays there",
		"directory b: new.example is already served by provider a.example (directory a): it stays there")

	// The next refresh, from the catalog now served: the same owners.
	nc2, w2 := mustMerge(t, c, lists, MergeOptions{Served: nc})
	wantOwner(t, nc2, "d.example", "b.example")
	wantOwner(t, nc2, "new.example", "a.example")
	wantWarnings(t, w2, w...)

	// b drops it: a's claim stands at the next refresh.
	nc3, w3 := mustMerge(t, c, map[string][]string{"a": {"d.example"}, "b": {}}, MergeOptions{Served: nc2})
	wantOwner(t, nc3, "d.example", "a.example")
	wantWarnings(t, w3)

	// A file domain stays with the files at a refresh, with a warning.
	nc4, w4 := mustMerge(t, c, map[string][]string{"b": {"file.example"}}, MergeOptions{Served: nc3})
	wantOwner(t, nc4, "file.example", "file.example")
	wantWarnings(t, w4, "directory b: file.example is already served by provider file.example (o.yaml:13): it stays there")
}

// TestMergeFirstReadStrict: a list merged for the first time at start
// shares no domain with another owner, as two providers of the files do
// not; a list read before may (a refresh) while another is first read.
func TestMergeFirstReadStrict(t *testing.T) {
	c := ownerCat(t, ownerCatalog)
	served, _ := mustMerge(t, c, map[string][]string{"b": {"d.example"}}, MergeOptions{})
	for _, tc := range []struct {
		lists map[string][]string
		first string
		want  string
	}{
		{map[string][]string{"a": {"file.example"}}, "a",
			"directory a: file.example is already served by provider file.example (o.yaml:13)"},
		{map[string][]string{"a": {"d.example"}, "b": {"d.example"}}, "a",
			"directory a: d.example is already served by provider b.example (directory b)"},
		{map[string][]string{"a": {"d.example"}, "b": {"d.example"}}, "b",
			"directory a: d.example is already served by provider b.example (directory b)"},
	} {
		_, _, err := c.MergeDirectoryDomains(tc.lists, MergeOptions{Served: served, FirstRead: map[string]bool{tc.first: true}})
		var le *LoadError
		if !errors.As(err, &le) || err.Error() != tc.want {
			t.Errorf("first read of %s, %v: %v, want %q", tc.first, tc.lists, err, tc.want)
		}
	}
}

// TestMergeReloadGainsDirectoryDomain: a reload whose files list a domain
// a directory serves now is refused, naming both; one whose files listed
// it already keeps it for the files (a refresh's warning).
func TestMergeReloadGainsDirectoryDomain(t *testing.T) {
	c := ownerCat(t, ownerCatalog)
	served, _ := mustMerge(t, c, map[string][]string{"b": {"d.example"}}, MergeOptions{})
	c2 := ownerCat(t, strings.Replace(ownerCatalog, "[file.example]", "[file.example, d.example]", 1))
	_, _, err := c2.MergeDirectoryDomains(map[string][]string{"b": {"d.example"}}, MergeOptions{Served: served})
	want := "directory b: d.example, which this directory serves now, is also listed by provider file.example (o.yaml:13): the files cannot take it from the directory's customers"
	var le *LoadError
	if !errors.As(err, &le) || err.Error() != want {
		t.Errorf("reload gaining d.example: %v\nwant %s", err, want)
	}
	// The directory no longer lists it: the files take it.
	nc, w := mustMerge(t, c2, map[string][]string{"b": {}}, MergeOptions{Served: served})
	wantOwner(t, nc, "d.example", "file.example")
	wantWarnings(t, w)
	// Served by the files already: a refresh keeps it there.
	nc2, w2 := mustMerge(t, c2, map[string][]string{"b": {"d.example"}}, MergeOptions{Served: nc})
	wantOwner(t, nc2, "d.example", "file.example")
	wantWarnings(t, w2, "directory b: d.example is already served by provider file.example (o.yaml:13): it stays there")
}

// TestMergeServiceNames: a directory row that is another provider's
// service name is skipped with a warning, at start (not an error) and at a
// refresh, whichever came first; the provider's own are served.
func TestMergeServiceNames(t *testing.T) {
	c := ownerCat(t, strings.Replace(ownerCatalog, "[file.example]", "[file.example, autodiscover.filesvc.example]", 1))
	lists := map[string][]string{
		"a": {"autoconfig.file.example", "Autodiscover.File.Example", "ua-auto-config.file.example", "webmail.file.example",
			"a.example", "autoconfig.a.example", "filesvc.example", "mta-sts.file.example", "autoconfig.nobody.example"},
		"b": {"autodiscover.a.example", "b.example", "ua-auto-config.b.example"},
	}
	for _, strict := range []bool{false, true} {
		nc, w, err := c.WithDirectoryDomains(lists, strict)
		if err != nil {
			t.Fatalf("strict %v: %v", strict, err)
		}
		wantWarnings(t, w,
			"directory a: autoconfig.file.example is a service name of file.example, which provider file.example serves (o.yaml:13), skipped",
			"directory a: autodiscover.file.example is a service name of file.example, which provider file.example serves (o.yaml:13), skipped",
			"directory a: ua-auto-config.file.example is a service name of file.example, which provider file.example serves (o.yaml:13), skipped",
			"directory a: webmail.file.example is in the tls_names of provider file.example (o.yaml:13), skipped",
			"directory a: filesvc.example: its service name autodiscover.filesvc.example is served by provider file.example (o.yaml:13), skipped",
			"directory b: autodiscover.a.example is a service name of a.example, which provider a.example serves (directory a), skipped")
		for dom, id := range map[string]string{
			"autoconfig.file.example": "", "autodiscover.file.example": "", "ua-auto-config.file.example": "",
			"webmail.file.example": "", "filesvc.example": "", "autodiscover.a.example": "",
			"autodiscover.filesvc.example": "file.example",
			"autoconfig.a.example":         "a.example", // its own
			"ua-auto-config.b.example":     "b.example",
			"mta-sts.file.example":         "a.example", // not a name of ours
			"autoconfig.nobody.example":    "a.example", // nobody.example is no one's
		} {
			wantOwner(t, nc, dom, id)
		}
	}

	// The reverse order: b serves autoconfig.x.example first; a gains
	// x.example at a refresh. The name follows the domain.
	served, w := mustMerge(t, c, map[string][]string{"b": {"autoconfig.x.example"}}, MergeOptions{})
	wantOwner(t, served, "autoconfig.x.example", "b.example")
	wantWarnings(t, w)
	nc, w := mustMerge(t, c, map[string][]string{"a": {"x.example"}, "b": {"autoconfig.x.example"}}, MergeOptions{Served: served})
	wantOwner(t, nc, "x.example", "a.example")
	wantOwner(t, nc, "autoconfig.x.example", "")
	wantWarnings(t, w, "directory b: autoconfig.x.example is a service name of x.example, which provider a.example serves (directory a), skipped")
	for _, n := range nc.TLSNames("") {
		if strings.HasSuffix(n, "autoconfig.x.example") && n != "autoconfig.x.example" {
			t.Errorf("TLS name %s for the skipped row", n)
		}
	}
}
