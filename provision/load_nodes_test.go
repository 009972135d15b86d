package provision

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"mailautoconf/bench/fakecatalog"
	"mailautoconf/internal/yamlcheck"
)

// TestMillionDomainsUnderNodeLimit: the catalog of bench/README.md's million
// domains (bench/gencatalog -domains 1000000) stays under maxNodes with
// room to spare.
func TestMillionDomainsUnderNodeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 33 MB catalog")
	}
	var gen bytes.Buffer
	if _, err := fakecatalog.Write(&gen, fakecatalog.DefaultShape(1_000_000)); err != nil {
		t.Fatal(err)
	}
	if got := yamlcheck.NodeBound(gen.Bytes(), maxNodes); got > maxNodes*4/5 {
		t.Errorf("nodeBound(a million domains) = %d, want at most %d (4/5 of maxNodes)", got, maxNodes*4/5)
	}
}

// TestParseNodeLimit: a dense file just over maxNodes is refused, with one
// error naming the file and the limit, before the YAML library builds its
// tree (some 200 bytes a node: hundreds of megabytes here).
func TestParseNodeLimit(t *testing.T) {
	head := "providers:\n- id: mail.example.org\n  incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]\n  outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]\n  domains:\n"
	tests := []struct{ name, yaml string }{
		{"block list", head + strings.Repeat("  - a\n", maxNodes)},
		{"flow mapping", head + "  - {" + strings.Repeat("a,", maxNodes/2) + "a}\n"},
	}
	want := fmt.Sprintf("c.yaml: more than %d YAML nodes (values, lists and mappings, counting the empty values a line may stand for): at most %d a file, where a million domains take about 1.5 million; split the catalog into files of a directory", maxNodes, maxNodes)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Source{Name: "c.yaml", Data: []byte(tt.yaml)}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Parse(src)
			runtime.ReadMemStats(&after)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a *LoadError", err)
			}
			if got := le.Error(); got != want {
				t.Errorf("Parse =\n%s\nwant\n%s", firstLineOf(le), want)
			}
			// The tree alone would be over 300 MB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("Parse allocated %d MB, want at most 16", alloc>>20)
			}
		})
	}
}

// TestParseAliasedNodeLimit: aliases count towards maxNodes as well, as
// the decoder walks (and builds servers for) every node an alias stands
// for. A list of a thousand servers aliased by 205 providers, beside
// 200,000 domains, is within the alias budget (10 times the nodes
// written) but stands for over two million nodes.
func TestParseAliasedNodeLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("providers:\n- id: mail.example.org\n  outgoing: &o [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]\n  incoming: &i\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  - {protocol: imap, host: imap%d.example.org, port: 993, security: tls}\n", i)
	}
	b.WriteString("  domains:\n")
	for i := range 200_000 {
		fmt.Fprintf(&b, "  - d%d.example\n", i)
	}
	for i := range 205 {
		fmt.Fprintf(&b, "- {id: p%d.example, domains: [p%d.example], incoming: *i, outgoing: *o}\n", i, i)
	}
	_, err := Parse(Source{Name: "c.yaml", Data: []byte(b.String())})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Parse = %v, want a *LoadError", err)
	}
	want := regexp.MustCompile(`^c\.yaml:\d+: aliases add more than \d+ nodes to the \d+ written, which makes more than 2000000 in all \(at most 2000000 a file, written and aliased\): alias smaller parts, or split the catalog into files of a directory$`)
	if got := le.Error(); !want.MatchString(got) {
		t.Errorf("Parse =\n%s\nwant a match of\n%s", firstLineOf(le), want)
	}
}
