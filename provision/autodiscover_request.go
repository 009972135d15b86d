package provision

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// ParseAutodiscoverRequest parses a POX request document (docs/autodiscover.md#pox-request)
// with etree. It is strict about structure and lenient about
// spelling: element names match in any letter case (documents spell
// EMailAddress and EmailAddress), namespaces with http:// or https://, and
// elements it does not know (LegacyDN, Exchange extensions) are ignored. A
// document type declaration is refused outright, so no entity is ever
// defined, let alone expanded; so are invalid UTF-8, a second root element,
// nesting deeper than a request needs, and a missing or repeated
// EMailAddress.
//
// On error the request's Schema is still set as far as it could be read,
// for the shape of the error answer; the error wraps ErrBadRequest (or
// ErrBadAddress for an address that does not parse) and quotes no input.
//
// Catalog.AnswerAutodiscover parses through a cache in front of it
// (requestcache.go): clients send the same few hundred bytes for an address
// again and again.
func ParseAutodiscoverRequest(body []byte) (AutodiscoverRequest, error) {
	var req AutodiscoverRequest
	if len(body) == 0 {
		return req, fmt.Errorf("%w: empty Autodiscover request", ErrBadRequest)
	}
	if len(body) > MaxAutodiscoverRequest {
		return req, fmt.Errorf("%w: Autodiscover request larger than %d bytes", ErrBadRequest, MaxAutodiscoverRequest)
	}
	if !utf8.Valid(body) {
		return req, fmt.Errorf("%w: Autodiscover request is not UTF-8", ErrBadRequest)
	}
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = maxRequestDepth
	if err := doc.ReadFromBytes(body); err != nil {
		return req, fmt.Errorf("%w: Autodiscover request is not well-formed XML", ErrBadRequest)
	}
	root, err := singleRoot(doc)
	if err != nil {
		return req, err
	}
	ns := root.NamespaceURI()
	switch {
	case sameSchema(ns, nsOutlookRequest):
		req.Schema = OutlookSchema
	case sameSchema(ns, nsMobileSyncRequest):
		req.Schema = MobileSyncSchema
	default:
		return req, fmt.Errorf("%w: root element is not in an Autodiscover request namespace", ErrBadRequest)
	}
	if !strings.EqualFold(root.Tag, "Autodiscover") {
		return req, fmt.Errorf("%w: root element is not Autodiscover", ErrBadRequest)
	}
	request, err := onlyChild(root, ns, "Request")
	if err != nil {
		return req, err
	}
	email, err := onlyChild(request, ns, "EMailAddress")
	if err != nil {
		return req, err
	}
	text, err := leafText(email)
	if err != nil {
		return req, err
	}
	if req.Address, err = ParseAddress(strings.TrimSpace(text)); err != nil {
		return req, err
	}

	// Without AcceptableResponseSchema the request's own dialect is meant.
	req.Accept, req.Supported = req.Schema, true
	switch schemas := children(request, ns, "AcceptableResponseSchema"); len(schemas) {
	case 0:
	case 1:
		text, err := leafText(schemas[0])
		if err != nil {
			return req, err
		}
		switch text = strings.TrimSpace(text); {
		case sameSchema(text, nsOutlookResponse):
			req.Accept = OutlookSchema
		case sameSchema(text, nsMobileSyncResponse):
			req.Accept = MobileSyncSchema
		default:
			req.Supported = false
		}
	default:
		return req, fmt.Errorf("%w: AcceptableResponseSchema given more than once", ErrBadRequest)
	}
	return req, nil
}

// singleRoot returns the document's one element, refusing directives
// (<!DOCTYPE …>) anywhere, more than one element, and text outside it.
func singleRoot(doc *etree.Document) (*etree.Element, error) {
	if hasDirective(&doc.Element) {
		return nil, fmt.Errorf("%w: document type declarations are not allowed", ErrBadRequest)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, fmt.Errorf("%w: more than one root element", ErrBadRequest)
			}
			root = t
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return nil, fmt.Errorf("%w: text outside the root element", ErrBadRequest)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrBadRequest)
	}
	return root, nil
}

func hasDirective(el *etree.Element) bool {
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Directive:
			return true
		case *etree.Element:
			if hasDirective(t) {
				return true
			}
		}
	}
	return false
}

// children returns el's child elements in namespace ns named name in any
// letter case.
func children(el *etree.Element, ns, name string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if strings.EqualFold(c.Tag, name) && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

func onlyChild(el *etree.Element, ns, name string) (*etree.Element, error) {
	switch cs := children(el, ns, name); len(cs) {
	case 0:
		return nil, fmt.Errorf("%w: no %s element", ErrBadRequest, name)
	case 1:
		return cs[0], nil
	default:
		return nil, fmt.Errorf("%w: %s given more than once", ErrBadRequest, name)
	}
}

// leafText returns the text of an element that has no child elements.
func leafText(el *etree.Element) (string, error) {
	if len(el.ChildElements()) > 0 {
		return "", fmt.Errorf("%w: %s holds elements, not text", ErrBadRequest, el.Tag)
	}
	var b strings.Builder
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	return b.String(), nil
}

// requestCases are request documents on every path of the parser: good
// ones in each spelling, and each kind of refusal.
