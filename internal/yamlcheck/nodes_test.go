package yamlcheck_test

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"mailautoconf/bench/fakecatalog"
	"mailautoconf/internal/yamlcheck"
)

// catalogDoc is a valid one-provider catalog (provision's load_test.go).
const catalogDoc = `providers:
  - id: mail.example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 587, security: starttls}
`

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
	catalogDoc,
}

func TestNodeBound(t *testing.T) {
	for _, in := range nodeBoundCases {
		want, ok := yamlNodes([]byte(in))
		if !ok {
			continue
		}
		if got := yamlcheck.NodeBound([]byte(in), 1<<30); got < want {
			t.Errorf("yamlcheck.NodeBound(%.60q) = %d, want at least %d", in, got, want)
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
		if got := yamlcheck.NodeBound([]byte(in), 1<<30); got < want {
			t.Fatalf("yamlcheck.NodeBound(%q) = %d, want at least %d", in, got, want)
		}
	}
}

// TestNodeBoundTight holds the bound to the real count for the shapes a
// large catalog is made of, so that provision's node limit refuses no
// catalog it should serve.
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
			got := yamlcheck.NodeBound([]byte(tt.yaml), 1<<30)
			// One more than the nodes: nodeBound counts the empty
			// scalar of an empty document in every document.
			if got < want || float64(got) > float64(want)*(1+tt.slack)+1 {
				t.Errorf("nodeBound = %d, want %d (at most %.0f%% more)", got, want, 100*tt.slack)
			}
		})
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
		if got := yamlcheck.NodeBound([]byte(in), 1<<30); got < want {
			t.Errorf("yamlcheck.NodeBound(%q) = %d, want at least %d", in, got, want)
		}
	})
}
