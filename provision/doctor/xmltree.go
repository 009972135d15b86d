package doctor

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is one XML element as the client parsers see it: the raw prefix
// (Thunderbird's JXON keys on "prefix:local", PROTOCOLS.md §2.4), the
// resolved namespace (Outlook), the local name, the text of its direct
// character data, untrimmed (K-9 and Thunderbird compare verbatim).
type node struct {
	prefix, local, ns string
	attrs             map[string]string // by local name
	text              string
	kids              []*node
}

// Limits on documents from arbitrary servers.
const (
	maxDepth    = 64
	maxElements = 20000
)

// parseXML parses a well-formed XML document and returns its root
// element. Ill-formed input, mismatched tags, several roots or text
// outside the root are errors, as for a browser's XML parser.
func parseXML(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	type frame struct {
		n    *node
		raw  string // prefix:local as written
		ns   map[string]string
		text []byte
	}
	var stack []frame
	var root *node
	count := 0
	nsAt := func(prefix string) string {
		for i := len(stack) - 1; i >= 0; i-- {
			if v, ok := stack[i].ns[prefix]; ok {
				return v
			}
		}
		if prefix == "xml" {
			return "http://www.w3.org/XML/1998/namespace"
		}
		return ""
	}
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxElements || len(stack) >= maxDepth {
				return nil, errors.New("document too large or too deep")
			}
			if root != nil && len(stack) == 0 {
				return nil, errors.New("more than one root element")
			}
			n := &node{prefix: t.Name.Space, local: t.Name.Local, attrs: map[string]string{}}
			ns := map[string]string{}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					ns[""] = a.Value
				case a.Name.Space == "xmlns":
					ns[a.Name.Local] = a.Value
				case a.Name.Space == "":
					n.attrs[a.Name.Local] = a.Value
				}
			}
			raw := t.Name.Local
			if t.Name.Space != "" {
				raw = t.Name.Space + ":" + t.Name.Local
			}
			stack = append(stack, frame{n: n, raw: raw, ns: ns})
			n.ns = nsAt(n.prefix)
			if n.prefix != "" && n.ns == "" {
				return nil, fmt.Errorf("undeclared namespace prefix %q", n.prefix)
			}
			if len(stack) == 1 {
				root = n
			} else {
				p := stack[len(stack)-2].n
				p.kids = append(p.kids, n)
			}
		case xml.EndElement:
			raw := t.Name.Local
			if t.Name.Space != "" {
				raw = t.Name.Space + ":" + t.Name.Local
			}
			if len(stack) == 0 || stack[len(stack)-1].raw != raw {
				return nil, fmt.Errorf("unexpected end tag </%s>", raw)
			}
			top := stack[len(stack)-1]
			top.n.text = string(top.text)
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				top := &stack[len(stack)-1]
				top.text = append(top.text, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	if len(stack) > 0 {
		return nil, errors.New("unexpected end of document")
	}
	return root, nil
}

// qname is the name as written, prefix included.
func (n *node) qname() string {
	if n.prefix == "" {
		return n.local
	}
	return n.prefix + ":" + n.local
}

// child returns the first child whose name as written is name (JXON's
// x.name), or nil.
func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.qname() == name {
			return k
		}
	}
	return nil
}

// all returns every child whose name as written is name (JXON's x.$name).
func (n *node) all(name string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.qname() == name {
			out = append(out, k)
		}
	}
	return out
}

// childNS returns the first child with local name local in namespace ns.
func (n *node) childNS(ns, local string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.local == local && k.ns == ns {
			return k
		}
	}
	return nil
}

// childFold returns the first child whose local name matches in any
// letter case, whatever its namespace (a lenient reader).
func (n *node) childFold(local string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if strings.EqualFold(k.local, local) {
			return k
		}
	}
	return nil
}

// textOf returns the text of n, "" for nil.
func textOf(n *node) string {
	if n == nil {
		return ""
	}
	return n.text
}
