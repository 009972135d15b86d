package doctor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// node is one XML element as the client parsers see it: the raw prefix
// (Thunderbird's JXON keys on "prefix:local", docs/thunderbird-parser.md#jxon), the
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

// parseXML parses a well-formed XML document with etree and returns its
// root element. Ill-formed input, mismatched tags, several roots, text
// outside the root or an undeclared prefix are errors, as for a browser's
// XML parser.
func parseXML(b []byte) (*node, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = maxDepth
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, err
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, errors.New("more than one root element")
			}
			root = t
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	count := 0
	return toNode(root, &count)
}

// toNode copies an etree element into the node form the client rules
// read, with at most maxElements elements in all.
func toNode(el *etree.Element, count *int) (*node, error) {
	if *count++; *count > maxElements {
		return nil, errors.New("document too large or too deep")
	}
	n := &node{prefix: el.Space, local: el.Tag, ns: el.NamespaceURI(), attrs: map[string]string{}}
	if n.prefix != "" && n.ns == "" {
		return nil, fmt.Errorf("undeclared namespace prefix %q", n.prefix)
	}
	for _, a := range el.Attr {
		if a.Space == "" && a.Key != "xmlns" {
			n.attrs[a.Key] = a.Value
		}
	}
	var text strings.Builder
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			text.WriteString(t.Data)
		case *etree.Element:
			k, err := toNode(t, count)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
		}
	}
	n.text = text.String()
	return n, nil
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

// emailProvider parses a configuration document and returns its
// emailProvider element; when there is none, it returns nil and the
// refusal every autoconfig reader gives (not well-formed, or no
// emailProvider).
func emailProvider(body []byte) (*node, verdict) {
	root, err := parseXML(body)
	if err != nil {
		return nil, refuse("not well-formed XML: "+err.Error(), fixWellFormed)
	}
	ep := root.child("emailProvider")
	if ep == nil {
		return nil, refuse("no emailProvider", fixWellFormed)
	}
	return ep, verdict{}
}
