package splice

import (
	"bytes"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// TestAppendXMLText compares the splice's escaping with etree's, in text
// and in attribute values.
func TestAppendXMLText(t *testing.T) {
	for _, s := range xmlTextSeeds {
		checkXMLText(t, s)
	}
}

var xmlTextSeeds = []string{
	"plain", "a&b", "<x>", `"q"`, "o'neil", "tab\there", "nl\nhere", "cr\rhere", "\x00", "\x01\x1f", "\xff", "a\xc3",
	"\ufffd", "\ue000", "\uffff", "\ufffe", "\U0001F600", "\ud7ff", "jürgen", "]]>", "&amp;", "%EMAILADDRESS%",
}

func checkXMLText(t *testing.T, s string) {
	t.Helper()
	if s == "" {
		return
	}
	for _, attr := range []bool{false, true} {
		doc := etree.NewDocument()
		el := doc.CreateElement("a")
		want := "<a>" + string(AppendXMLText(nil, s)) + "</a>"
		if attr {
			el.CreateAttr("v", s)
			want = `<a v="` + string(AppendXMLText(nil, s)) + `"/>`
		} else {
			el.SetText(s)
		}
		got, err := doc.WriteToString()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("escaping %q (attribute %v): etree writes %q, the splice %q", s, attr, got, want)
		}
	}
}

// FuzzAppendXMLText: the splice escapes every string as etree does.
func FuzzAppendXMLText(f *testing.F) {
	for _, s := range xmlTextSeeds {
		f.Add(s)
	}
	f.Fuzz(checkXMLText)
}

// TestCompile: a template of an etree document renders as etree does,
// refuses blank values, and one whose renderer does not escape as its
// dialect says fails its probes.
func TestCompile(t *testing.T) {
	render := func(v Values) []byte {
		doc := etree.NewDocument()
		root := doc.CreateElement("r")
		root.CreateAttr("a", v[0])
		root.CreateElement("x").SetText(v[1])
		root.CreateElement("y").SetText(v[0] + v[2])
		b, err := doc.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	probes := []Values{{"a&b", "<'\">", "\x01\xff"}, {"jürgen", "x", "y"}}
	tmpl := Compile(render, XML, probes)
	if tmpl == nil {
		t.Fatal("Compile of an etree renderer failed its probes")
	}
	for _, v := range []Values{{"d", "e", "f"}, {"o'neil", "&amp;", "\ue000"}} {
		if got, want := tmpl.Append([]byte("pre:"), v), append([]byte("pre:"), render(v)...); !bytes.Equal(got, want) {
			t.Errorf("Append(%q) = %s, want %s", v, got, want)
		}
	}
	if got := tmpl.Append(nil, Values{"d", " \n", "f"}); got != nil {
		t.Errorf("Append of a blank value = %q, want nil", got)
	}
	if got := (*Template)(nil).Append(nil, Values{}); got != nil {
		t.Errorf("nil template's Append = %q, want nil", got)
	}
	raw := func(v Values) []byte { return []byte("<r>" + strings.Join(v[:], "") + "</r>") }
	if Compile(raw, XML, probes) != nil {
		t.Error("a renderer that does not escape passed the probes of the XML dialect")
	}
}
