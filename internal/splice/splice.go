// Package splice makes pre-rendered documents: a document rendered once
// with markers in place of a request's values is cut at the markers into a
// Template of literal bytes and holes, which a request then fills by
// appending the literal bytes and its own values, escaped as the
// document's format escapes them. No tree and no reflection: one
// allocation of the document's size, or none into a buffer with room.
//
// It is speed machinery behind renderers that stay the definition of each
// format: a Template proves itself when it is made, by rendering probe
// values byte for byte as the renderer does, and Compile returns nil
// (the caller then uses the renderer) when it does not. The package knows
// nothing of what a hole means; its caller does.
package splice

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
)

// NumHoles is the number of kinds of hole a template may have. Values
// holds one string per kind, so a kind costs 16 bytes a fill: provision
// uses five (the domain, the address's two parts, a login name, one value
// of its own).
const NumHoles = 5

// Values holds one request's value for each kind of hole: Values[h]
// fills every hole h.
type Values [NumHoles]string

// Dialect is how a document's format writes a value.
type Dialect struct {
	// Escape appends s to b as the format writes it.
	Escape func(b []byte, s string) []byte
	// RefuseBlank makes Append refuse a value that is empty or only
	// white space: etree writes such values differently (an empty
	// element; indentation it strips), so the renderer must write them.
	RefuseBlank bool
}

// XML is the dialect of documents written by etree: text and attribute
// values escaped by AppendXMLText, blank values refused.
var XML = Dialect{Escape: AppendXMLText, RefuseBlank: true}

// Template is a pre-rendered document: literal text and holes, in order.
// It is immutable and safe for concurrent use.
type Template struct {
	parts []part
	lit   int // bytes of literal text
	d     Dialect
}

type part struct {
	text string
	hole int8 // < 0: text is literal
}

// Append appends the document with v's values in its holes to b and
// returns the extended buffer. It returns nil, for the caller to fall back
// to the renderer, for a nil Template and, in a dialect that refuses them,
// for a blank value.
func (t *Template) Append(b []byte, v Values) []byte {
	if t == nil {
		return nil
	}
	n := t.lit
	for _, p := range t.parts {
		if p.hole >= 0 {
			s := v[p.hole]
			if t.d.RefuseBlank && blank(s) {
				return nil
			}
			n += len(s) + 8 // room for an escape or two without growing
		}
	}
	if cap(b)-len(b) < n {
		b = append(make([]byte, 0, len(b)+n), b...)
	}
	// A value fills its hole several times (the address is the user
	// name of every server): it is escaped once, where it first stands,
	// and copied from there after.
	var at [NumHoles][2]int // start and end in b, once escaped
	for _, p := range t.parts {
		switch {
		case p.hole < 0:
			b = append(b, p.text...)
		case at[p.hole][1] > 0:
			b = append(b, b[at[p.hole][0]:at[p.hole][1]]...)
		default:
			start := len(b)
			b = t.d.Escape(b, v[p.hole])
			at[p.hole] = [2]int{start, len(b)}
		}
	}
	return b
}

// blank reports whether s is empty or only the white space XML and etree
// know (space, tab, CR, LF).
func blank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// Compile makes the template of render, a renderer taking a request's
// values from a Values, whose format escapes values as d says. The
// template must render each of probes exactly as render does; Compile
// returns nil when it does not, or when a marker was lost or doubled.
// Probes should hold, in every hole, the characters the format escapes.
func Compile(render func(Values) []byte, d Dialect, probes []Values) *Template {
	// Markers: private-use characters (which etree and encoding/json
	// write as they are) around a random nonce, so that no catalog value
	// collides with one by accident, and the probes catch one that did.
	nonce := strconv.FormatUint(rand.Uint64(), 36)
	var markers Values
	for h := range markers {
		markers[h] = "\uE000" + nonce + strconv.Itoa(h) + "\uE001"
	}
	doc := string(render(markers))
	t := &Template{d: d}
	for doc != "" {
		i, h := nextMarker(doc, &markers)
		if i < 0 {
			t.parts = append(t.parts, part{text: doc, hole: -1})
			t.lit += len(doc)
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: doc[:i], hole: -1})
			t.lit += i
		}
		t.parts = append(t.parts, part{hole: int8(h)})
		doc = doc[i+len(markers[h]):]
	}
	for _, v := range probes {
		got := t.Append(nil, v)
		if got == nil || !bytes.Equal(got, render(v)) {
			return nil
		}
	}
	return t
}

// nextMarker returns the index and hole of the first marker in s, or -1.
func nextMarker(s string, markers *Values) (int, int) {
	best, which := -1, -1
	for h := range markers {
		if i := strings.Index(s, markers[h]); i >= 0 && (best < 0 || i < best) {
			best, which = i, h
		}
	}
	return best, which
}
