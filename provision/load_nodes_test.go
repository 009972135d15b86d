package provision

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"mailautoconf/bench/fakecatalog"
)

// yamlNodes is the number of nodes the YAML library builds for data, the
// document included, and whether it parsed.
func yamlNodes(data []byte) (int, bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return 0, false
	}
	var count func(n *yaml.Node) int
	count = func(n *yaml.Node) int {
		c := 1
		for _, k := range n.Content {
			c += count(k)
		}
		return c
	}
	return count(&root), true
}

// nodeBoundCases are inputs whose nodes nodeBound must not undercount:
// the shapes it reduces its count for, next to the ones that look like
// them but are not.
var nodeBoundCases = []string{
	"",
	"a",
	"- a\n- b\n- c\n",
	"-\n-\n-\n",
	"- - - a\n- - b\n  - c\n",
	"a: 1\nb: 2\nc:\n",
	"a:\n- x\nb:\n- y\n",
	"a:\n  - x\nb:\n  - y\n",
	"- a: 1\n  b: 2\n- a: 1\n",
	"[a, b, c]\n",
	"[a, b: c, ? d, e: ]\n",
	"{a, b, c}\n",
	"{a: 1, b, c: , : d}\n",
	"{a: [b, c: d], e: {f, g: h}}\n",
	"[\na: 1,\nb: 2\n]\n",
	"{\na,\nb\n}\n",
	"? a\n: b\n? c\n",
	"?\n?\n",
	"[?, ?]\n",
	"{?, ?}\n",
	"- &a x\n- *a\n- !!str\n- &b\n",
	"a: &x\nb: *x\n",
	"- \"a: 1, b\"\n- 'c, d: e'\n- \"{f: g}\" \n",
	"- \"abc\n- x\"\n- y\n",
	"k: \"x {\"\nb: 1\nc: 2\n",
	"x: |\n  - a\n  - b\n- c\n",
	"a: 1 # c: d, e\nb: 2\n",
	"k:\n  #c: d\n  a: b\n",
	"k:\n  \"c\": d\n  a: b\n",
	"k:\n  !t c: d\n  a: b\n",
	"- x\n# - y\n- z\n",
	"{\"a\":b, \"c\":d}\n",
	"[\"a\":b, c]\n",
	"- a\r- b\r- c\r",
	"- a\u0085- b\u2028- c\u2029",
	"\ufeff- a\n- b\n",
	"\xff\xfe-\x00 \x00a\x00\n\x00-\x00 \x00b\x00\n\x00", // UTF-16LE
	"\xfe\xff\x00[\x00a\x00,\x00b\x00]",                  // UTF-16BE
	"--- a\n",
	"---\n- a\n...\n",
	"a: https://x/?y=z\n",
	"- a\n\t- b\n",
	strings.Repeat("- a\n", 100),
	"[" + strings.Repeat("a,", 100) + "a]\n",
	"{" + strings.Repeat("a,", 100) + "a}\n",
	strings.Repeat("- {a: 1}\n", 100),
	strings.Repeat("a: 1\n", 100),
	base,
}

func TestNodeBound(t *testing.T) {
	for _, in := range nodeBoundCases {
		want, ok := yamlNodes([]byte(in))
		if !ok {
			continue
		}
		if got := nodeBound([]byte(in), 1<<30); got < want {
			t.Errorf("nodeBound(%.60q) = %d, want at least %d", in, got, want)
		}
	}
}

// TestNodeBoundLines puts together documents of lines like a catalog's,
// and of the lines that nodeBound must not take for them (quotes spanning
// lines, comments, block scalars, flow collections spanning lines), at
// random indentations: the bound is never under the library's count.
func TestNodeBoundLines(t *testing.T) {
	lines := []string{
		"- x", "k: v", "k:", "-", "? k", ": v", "- k: v", "- k:", "- - y", "txt",
		"[a, b: c]", "{a, b}", "k: [", "]", "a,", "b: c,", "}", "k: {",
		"\"q", "q\"", "k: \"x", "- 'y", "y'", "k: 'a: b'", "k: |", "- >",
		"# c", "#k: v", "- # c", "k: v # c: d",
		"&a k: v", "- &a", "- *a", "k: *a", "k: &a", "!t k: v", "- !t",
		"---", "?", ":", "- ?", "- :",
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var b strings.Builder
		for range 1 + r.IntN(8) {
			b.WriteString(strings.Repeat(" ", 2*r.IntN(3)))
			b.WriteString(lines[r.IntN(len(lines))])
			b.WriteString("\n")
		}
		in := b.String()
		want, ok := yamlNodes([]byte(in))
		if !ok {
			continue
		}
		if got := nodeBound([]byte(in), 1<<30); got < want {
			t.Fatalf("nodeBound(%q) = %d, want at least %d", in, got, want)
		}
	}
}

// TestNodeBoundTight holds the bound to the real count for the shapes a
// large catalog is made of, so that maxNodes refuses no catalog it
// should serve.
func TestNodeBoundTight(t *testing.T) {
	var gen bytes.Buffer
	if _, err := fakecatalog.Write(&gen, fakecatalog.DefaultShape(20000)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml string
		slack      float64 // the bound may exceed the nodes by this share
	}{
		{"block list", strings.Repeat("- a.example\n", 1000), 0},
		{"flow list on one line", "[" + strings.Repeat("a.example, ", 1000) + "b]\n", 0},
		{"block mapping", strings.Repeat("key: value\n", 1000), 0},
		{"flow mappings", strings.Repeat("- {protocol: imap, host: imap.example.org, port: 993, security: tls}\n", 1000), 0},
		{"gencatalog, 20,000 domains", gen.String(), 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, ok := yamlNodes([]byte(tt.yaml))
			if !ok {
				t.Fatal("does not parse")
			}
			got := nodeBound([]byte(tt.yaml), 1<<30)
			// One more than the nodes: nodeBound counts the empty
			// scalar of an empty document in every document.
			if got < want || float64(got) > float64(want)*(1+tt.slack)+1 {
				t.Errorf("nodeBound = %d, want %d (at most %.0f%% more)", got, want, 100*tt.slack)
			}
		})
	}
}

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
	if got := nodeBound(gen.Bytes(), maxNodes); got > maxNodes*4/5 {
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

// TestReadFileOneBuffer: a catalog file is read into one buffer of its
// size, not through buffers that grow to twice the file and more.
func TestReadFileOneBuffer(t *testing.T) {
	name := filepath.Join(t.TempDir(), "catalog.yaml")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	data, err := ReadFile(name, maxCatalogFile)
	runtime.ReadMemStats(&after)
	if err != nil || len(data) != size {
		t.Fatalf("ReadFile = %d bytes, %v; want %d bytes", len(data), err, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size+1<<20 {
		t.Errorf("ReadFile of %d MiB allocated %.1f MiB, want at most one more", size>>20, float64(alloc)/(1<<20))
	}
}

func FuzzNodeBound(f *testing.F) {
	for _, in := range nodeBoundCases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		want, ok := yamlNodes([]byte(in))
		if !ok {
			return
		}
		if got := nodeBound([]byte(in), 1<<30); got < want {
			t.Errorf("nodeBound(%q) = %d, want at least %d", in, got, want)
		}
	})
}
