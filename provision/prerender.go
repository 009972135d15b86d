package provision

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Pre-rendering: the request path only looks up and writes.
//
// Every XML document is built by its etree renderer (Thunderbird,
// autodiscoverDoc, mobileSyncDoc, autodiscoverErrorDoc), which stays the
// one definition of each format. Once per provider and variant, that
// renderer runs with markers in place of the values a request brings (the
// domain, the address's local part and domain, a redirect target, a
// time); the output is cut at the markers into a template of literal
// bytes and holes. A request then appends the literal bytes and its own
// values, escaped exactly as etree's SetText escapes them: no tree, no
// reflection, one allocation of the document's size.
//
// A template proves itself when it is made: it must render two probe
// requests full of characters that need escaping byte for byte as the
// etree renderer does, or it is dropped and that provider is served by
// the renderer itself. prerender_test.go compares both for many addresses.
// Templates are made on first use and kept in the catalog they belong to,
// one set per provider (never per domain: the domain is a hole), so a
// catalog of a million domains costs nothing until asked and a few KB per
// provider asked for.

// hole is a place in a template where a request's value goes.
type hole uint8

const (
	holeNone       hole = iota // literal text
	holeDomain                 // the e-mail domain the document is for
	holeLocal                  // the address's local part
	holeAddrDomain             // the address's domain
	holeValue                  // a value the caller computes: a redirect target, a time
	numHoles
)

// fill holds one request's value for each hole, indexed by hole.
type fill [numHoles]string

// addressFill returns the values for domain and addr.
func addressFill(domain string, addr *Address, value string) fill {
	f := fill{holeDomain: domain, holeValue: value}
	if addr != nil {
		f[holeLocal], f[holeAddrDomain] = addr.Local, addr.Domain
	}
	return f
}

// template is a pre-rendered document: literal text and holes, in order.
type template struct {
	parts []part
	lit   int                             // bytes of literal text
	esc   func(b []byte, s string) []byte // the format's escaping of a value
	// xml: etree writes an empty value, or one of only white space,
	// differently (an empty element; indentation it strips), so render
	// refuses those and the caller falls back to the renderer.
	xml bool
}

type part struct {
	text string
	hole hole // holeNone: text is literal
}

// render returns the document with f's values in its holes, or nil for
// the caller to fall back to the renderer: for a nil template, and in XML
// for a value that is empty or only white space (requests never bring
// such values).
func (t *template) render(f fill) []byte {
	return t.appendTo(nil, f)
}

// appendTo is render appending to b; nil means fall back, as there.
func (t *template) appendTo(b []byte, f fill) []byte {
	if t == nil {
		return nil
	}
	n := t.lit
	for _, p := range t.parts {
		if p.hole != holeNone {
			v := f[p.hole]
			if t.xml && blank(v) {
				return nil
			}
			n += len(v) + 8 // room for an escape or two without growing
		}
	}
	if cap(b)-len(b) < n {
		b = append(make([]byte, 0, len(b)+n), b...)
	}
	// A value fills its hole several times (the address is the user
	// name of every server): it is escaped once, where it first stands,
	// and copied from there after.
	var at [numHoles][2]int // start and end in b, once escaped
	for _, p := range t.parts {
		switch {
		case p.hole == holeNone:
			b = append(b, p.text...)
		case at[p.hole][1] > 0:
			b = append(b, b[at[p.hole][0]:at[p.hole][1]]...)
		default:
			start := len(b)
			b = t.esc(b, f[p.hole])
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

// appendXMLText appends s escaped as etree escapes text and attribute
// values (escapeNormal): & < > ' " as entities, characters outside XML's
// Char production and each byte of invalid UTF-8 as U+FFFD, everything
// else, tab and newlines included, as it is.
func appendXMLText(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '&' && c != '<' && c != '>' && c != '\'' && c != '"' {
			i++
			continue
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '\'':
			esc = "&apos;"
		case r == '"':
			esc = "&quot;"
		case r == utf8.RuneError && width == 1, !xmlChar(r):
			esc = "\uFFFD"
		default:
			i += width
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}

// xmlChar reports whether r is in XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// probes are the requests a new template must render exactly as the etree
// renderer does: markup characters, quotes, non-ASCII, a control
// character and a byte of invalid UTF-8 in every hole.
var probes = []fill{
	{holeDomain: "probe.example", holeLocal: "o'neil+\"x\"", holeAddrDomain: "probe.example", holeValue: "https://x.example/?a=1&b=<2>"},
	{holeDomain: "xn--bcher-kva.example", holeLocal: "jürgen&\x01\xff", holeAddrDomain: "b\u00fccher.example", holeValue: "%EMAILLOCALPART%@y.example"},
}

// compile makes the template of render, a reference renderer taking its
// request values from a fill, whose format escapes values as esc does
// (xml: as etree does, see template). It
// returns nil when the result cannot be trusted: a marker lost or
// doubled, or a probe rendered differently.
func compile(render func(fill) []byte, esc func([]byte, string) []byte, xml bool) *template {
	// Markers: private-use characters (which etree and encoding/json
	// write as they are) around a random nonce, so that no catalog value
	// collides with one by accident, and the probes catch one that did.
	nonce := strconv.FormatUint(rand.Uint64(), 36)
	var markers fill
	for h := holeDomain; h < numHoles; h++ {
		markers[h] = "\uE000" + nonce + strconv.Itoa(int(h)) + "\uE001"
	}
	doc := string(render(markers))
	t := &template{esc: esc, xml: xml}
	for doc != "" {
		i, h := nextMarker(doc, &markers)
		if i < 0 {
			t.parts = append(t.parts, part{text: doc})
			t.lit += len(doc)
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: doc[:i]})
			t.lit += i
		}
		t.parts = append(t.parts, part{hole: h})
		doc = doc[i+len(markers[h]):]
	}
	for _, f := range probes {
		got := t.render(f)
		if got == nil || !bytes.Equal(got, render(f)) {
			return nil
		}
	}
	return t
}

// nextMarker returns the index and hole of the first marker in s, or -1.
func nextMarker(s string, markers *fill) (int, hole) {
	best, which := -1, holeNone
	for h := holeDomain; h < numHoles; h++ {
		if i := strings.Index(s, markers[h]); i >= 0 && (best < 0 || i < best) {
			best, which = i, h
		}
	}
	return best, which
}

// lazyTemplate is a template made on first use.
type lazyTemplate struct {
	once  sync.Once
	t     *template
	tried bool // compile ran; t is nil if it failed
}

func (l *lazyTemplate) get(render func(fill) []byte) *template {
	l.once.Do(func() { l.t, l.tried = compile(render, appendXMLText, true), true })
	return l.t
}

// all lists every template of pt, for tests.
func (pt *providerTemplates) all() []*lazyTemplate {
	return []*lazyTemplate{
		&pt.thunderbird[0], &pt.thunderbird[1], &pt.onePerType[0], &pt.onePerType[1],
		&pt.settings[0], &pt.settings[1],
		&pt.redirectURL, &pt.redirectTo, &pt.mobileSync[0], &pt.mobileSync[1],
	}
}

// providerTemplates are one provider's templates, each made on first use.
type providerTemplates struct {
	thunderbird [2]lazyTemplate // [0] placeholders, [1] an address
	onePerType  [2]lazyTemplate // Thunderbird's OnePerType variant, the same two
	settings    [2]lazyTemplate // Autodiscover settings: [0] GET, [1] an address
	redirectURL lazyTemplate
	redirectTo  lazyTemplate // redirectAddr: the target is the value
	mobileSync  [2]lazyTemplate
}

// withAddress is 1 with an address, else 0: the index of the variant.
func withAddress(addr *Address) int {
	if addr == nil {
		return 0
	}
	return 1
}

// fillAddress is the Address a renderer gets for a fill's address holes.
func fillAddress(f fill) *Address {
	return &Address{Local: f[holeLocal], Domain: f[holeAddrDomain]}
}

// templates returns p's templates in c, or nil when p is not one of c's
// providers (a copy, or a provider of another catalog).
func (c *Catalog) templates(p *Provider) *providerTemplates {
	if c == nil {
		return nil
	}
	return c.prerendered[p]
}

// Thunderbird is the package function Thunderbird, from p's template when
// p is one of c's providers: same input, same bytes, without building a
// tree.
func (c *Catalog) Thunderbird(p *Provider, domain string, addr *Address) []byte {
	return c.AppendThunderbird(nil, p, domain, addr)
}

// AppendThunderbird appends c.Thunderbird's document to b.
func (c *Catalog) AppendThunderbird(b []byte, p *Provider, domain string, addr *Address) []byte {
	return c.AppendThunderbirdServers(b, p, domain, addr, AllServers)
}

// AppendThunderbirdServers appends the package function
// ThunderbirdServers's document to b, from p's template when p is one of
// c's providers.
func (c *Catalog) AppendThunderbirdServers(b []byte, p *Provider, domain string, addr *Address, which Servers) []byte {
	if pt := c.templates(p); pt != nil {
		v := withAddress(addr)
		l := &pt.thunderbird[v]
		if which == OnePerType {
			l = &pt.onePerType[v]
		}
		t := l.get(func(f fill) []byte {
			if v == 0 {
				return ThunderbirdServers(p, f[holeDomain], nil, which)
			}
			return ThunderbirdServers(p, f[holeDomain], fillAddress(f), which)
		})
		if out := t.appendTo(b, addressFill(domain, addr, "")); out != nil {
			return out
		}
	}
	return append(b, ThunderbirdServers(p, domain, addr, which)...)
}

// Autodiscover is the package function Autodiscover, from p's templates
// when p is one of c's providers.
func (c *Catalog) Autodiscover(p *Provider, domain string, addr *Address) []byte {
	return c.AppendAutodiscover(nil, p, domain, addr)
}

// AppendAutodiscover appends c.Autodiscover's document to b.
func (c *Catalog) AppendAutodiscover(b []byte, p *Provider, domain string, addr *Address) []byte {
	action, target := autodiscoverAction(p, domain, addr)
	if pt := c.templates(p); pt != nil {
		var t *template
		switch action {
		case actionRedirectURL:
			t = pt.redirectURL.get(func(f fill) []byte {
				return autodiscoverDoc(p, actionRedirectURL, f[holeValue], f[holeDomain], nil)
			})
		case actionRedirectAddr:
			t = pt.redirectTo.get(func(f fill) []byte {
				return autodiscoverDoc(p, actionRedirectAddr, f[holeValue], f[holeDomain], nil)
			})
		default:
			v := withAddress(addr)
			t = pt.settings[v].get(func(f fill) []byte {
				if v == 0 {
					return autodiscoverDoc(p, actionSettings, "", f[holeDomain], nil)
				}
				return autodiscoverDoc(p, actionSettings, "", f[holeDomain], fillAddress(f))
			})
		}
		if out := t.appendTo(b, addressFill(domain, addr, target)); out != nil {
			return out
		}
	}
	return append(b, autodiscoverDoc(p, action, target, domain, addr)...)
}

// MobileSync is the package function MobileSync, from p's templates when
// p is one of c's providers.
func (c *Catalog) MobileSync(p *Provider, addr Address) ([]byte, bool) {
	to, redirect, ok := mobileSyncAction(p, addr)
	if !ok {
		return nil, false
	}
	if pt := c.templates(p); pt != nil {
		v := 0
		if redirect {
			v = 1
		}
		t := pt.mobileSync[v].get(func(f fill) []byte {
			return mobileSyncDoc(p, f[holeValue], redirect, *fillAddress(f))
		})
		if b := t.render(addressFill(addr.Domain, &addr, to)); b != nil {
			return b, true
		}
	}
	return mobileSyncDoc(p, to, redirect, addr), true
}

// errorTemplates are the Error documents' templates by schema and code,
// the Time attribute a hole; made once, on first use.
var errorTemplates = sync.OnceValue(func() map[[2]int]*template {
	m := map[[2]int]*template{}
	for _, schema := range []AutodiscoverSchema{OutlookSchema, MobileSyncSchema} {
		for code := range errorMessages {
			m[[2]int{int(schema), code}] = compile(func(f fill) []byte {
				return autodiscoverErrorDoc(schema, code, f[holeValue])
			}, appendXMLText, true)
		}
	}
	return m
})

// errorTemplate returns the Error template of schema and code, or nil.
func errorTemplate(schema AutodiscoverSchema, code int) *template {
	return errorTemplates()[[2]int{int(schema), code}]
}
