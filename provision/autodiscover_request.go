package provision

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ParseAutodiscoverRequest parses a POX request document (PROTOCOLS.md
// §2.3). It is strict about structure and lenient about spelling: element
// names match in any letter case (documents spell EMailAddress and
// EmailAddress), namespaces with http:// or https://, and elements it does
// not know (LegacyDN, Exchange extensions) are ignored. A document type
// declaration is refused outright, so no entity is ever defined, let alone
// expanded; so are invalid UTF-8, a second root element, nesting deeper
// than a request needs, and a missing or repeated EMailAddress.
//
// On error the request's Schema is still set as far as it could be read,
// for the shape of the error answer; the error wraps ErrBadRequest (or
// ErrBadAddress for an address that does not parse) and quotes no input.
//
// It reads the document as a stream of encoding/xml tokens and keeps only
// what it looks at, without building a tree: a POST costs a few dozen
// small allocations. It gives exactly the answers (and errors) of reading
// the document into an etree tree and walking that, which it replaced;
// FuzzAutodiscoverRequestStream compares the two.
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
	if req, err, ok := parseCommonRequest(body); ok {
		return req, err
	}
	var s requestScan
	if err := s.scan(body); err != nil {
		return req, fmt.Errorf("%w: Autodiscover request is not well-formed XML", ErrBadRequest)
	}
	switch {
	case s.directive:
		return req, fmt.Errorf("%w: document type declarations are not allowed", ErrBadRequest)
	case s.topProblem != nil:
		return req, s.topProblem
	case s.roots == 0:
		return req, fmt.Errorf("%w: no root element", ErrBadRequest)
	}
	ns := s.rootNS
	switch {
	case sameSchema(ns, nsOutlookRequest):
		req.Schema = OutlookSchema
	case sameSchema(ns, nsMobileSyncRequest):
		req.Schema = MobileSyncSchema
	default:
		return req, fmt.Errorf("%w: root element is not in an Autodiscover request namespace", ErrBadRequest)
	}
	if !strings.EqualFold(s.rootTag, "Autodiscover") {
		return req, fmt.Errorf("%w: root element is not Autodiscover", ErrBadRequest)
	}
	if err := only(s.requests, "Request"); err != nil {
		return req, err
	}
	if err := only(s.email.count, "EMailAddress"); err != nil {
		return req, err
	}
	text, err := s.email.text()
	if err != nil {
		return req, err
	}
	if req.Address, err = ParseAddress(strings.TrimSpace(text)); err != nil {
		return req, err
	}

	// Without AcceptableResponseSchema the request's own dialect is meant.
	req.Accept, req.Supported = req.Schema, true
	switch s.schema.count {
	case 0:
	case 1:
		text, err := s.schema.text()
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

// only reports the error of finding n elements named name where one
// belongs.
func only(n int, name string) error {
	switch {
	case n == 0:
		return fmt.Errorf("%w: no %s element", ErrBadRequest, name)
	case n > 1:
		return fmt.Errorf("%w: %s given more than once", ErrBadRequest, name)
	}
	return nil
}

// requestScan is what one pass over a request document keeps: the root's
// name and namespace, the problems outside it, and the Request element's
// EMailAddress and AcceptableResponseSchema children. Elements match in
// the root's namespace, names in any letter case; only the first Request
// is looked into (a second one is an error anyway).
type requestScan struct {
	directive  bool  // a <!DOCTYPE …> or other directive anywhere
	topProblem error // the first element or text beside the root
	roots      int
	rootTag    string
	rootNS     string
	requests   int
	email      leafElement
	schema     leafElement
}

// leafElement gathers the elements of one name in the first Request:
// their number, and the first one's tag, text and whether it holds
// elements.
type leafElement struct {
	count    int
	tag      string
	data     []byte
	elements bool
}

// text returns the first element's text, or the error of one that holds
// elements.
func (l *leafElement) text() (string, error) {
	if l.elements {
		return "", fmt.Errorf("%w: %s holds elements, not text", ErrBadRequest, l.tag)
	}
	return string(l.data), nil
}

// xmlns is one namespace declaration in scope: prefix "" is the default.
type xmlns struct {
	depth       int
	prefix, uri string
}

// scan reads body token by token, to its end: a document that is not
// well-formed anywhere is an error even after what we need was read.
func (s *requestScan) scan(body []byte) error {
	// A bytes.Reader is an io.ByteReader: the decoder reads it directly
	// instead of copying it through a buffer of its own.
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	// Any declared encoding is read as it is: the body was checked to be
	// UTF-8 already.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }

	type open struct{ prefix, local string }
	var (
		stack  []open
		scopes []xmlns
		// in: 1 inside the first Request, 2 inside a first
		// EMailAddress or AcceptableResponseSchema of it.
		in   int
		leaf *leafElement
	)
	resolve := func(prefix string) string {
		for i := len(scopes) - 1; i >= 0; i-- {
			if scopes[i].prefix == prefix {
				return scopes[i].uri
			}
		}
		return ""
	}
	for {
		t, err := d.RawToken()
		if err == io.EOF {
			if len(stack) != 0 {
				return fmt.Errorf("unclosed element")
			}
			return nil
		}
		if err != nil {
			return err
		}
		depth := len(stack)
		switch t := t.(type) {
		case xml.StartElement:
			if depth+1 > maxRequestDepth {
				return fmt.Errorf("nested too deep")
			}
			// The element's own declarations are in scope for
			// its name; a repeated one counts with its last value.
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					scopes = declare(scopes, depth+1, "", a.Value)
				case a.Name.Space == "xmlns":
					scopes = declare(scopes, depth+1, a.Name.Local, a.Value)
				}
			}
			stack = append(stack, open{t.Name.Space, t.Name.Local})
			ns := resolve(t.Name.Space)
			switch {
			case depth == 0:
				s.roots++
				if s.roots == 1 {
					s.rootTag, s.rootNS = t.Name.Local, ns
				} else if s.topProblem == nil {
					s.topProblem = fmt.Errorf("%w: more than one root element", ErrBadRequest)
				}
			case depth == 1 && s.roots == 1 && ns == s.rootNS && strings.EqualFold(t.Name.Local, "Request"):
				s.requests++
				if s.requests == 1 {
					in = 1
				}
			case depth == 2 && in == 1:
				if ns != s.rootNS {
					break
				}
				switch {
				case strings.EqualFold(t.Name.Local, "EMailAddress"):
					leaf = &s.email
				case strings.EqualFold(t.Name.Local, "AcceptableResponseSchema"):
					leaf = &s.schema
				default:
					leaf = nil
				}
				if leaf != nil {
					leaf.count++
					if leaf.count == 1 {
						leaf.tag, in = t.Name.Local, 2
					}
				}
			case depth == 3 && in == 2:
				leaf.elements = true
			}
		case xml.EndElement:
			if depth == 0 || stack[depth-1] != (open{t.Name.Space, t.Name.Local}) {
				return fmt.Errorf("mismatched end element")
			}
			stack = stack[:depth-1]
			for len(scopes) > 0 && scopes[len(scopes)-1].depth == depth {
				scopes = scopes[:len(scopes)-1]
			}
			switch {
			case depth == 2 && in == 1:
				in = 0 // the first Request ends
			case depth == 3 && in == 2:
				in = 1
			}
		case xml.CharData:
			switch {
			case depth == 0:
				if s.topProblem == nil && len(bytes.TrimSpace(t)) > 0 {
					s.topProblem = fmt.Errorf("%w: text outside the root element", ErrBadRequest)
				}
			case depth == 3 && in == 2:
				leaf.data = append(leaf.data, t...)
			}
		case xml.Directive:
			s.directive = true
		}
	}
}

// declare adds or replaces the declaration of prefix on the element at
// depth.
func declare(scopes []xmlns, depth int, prefix, uri string) []xmlns {
	for i := len(scopes) - 1; i >= 0 && scopes[i].depth == depth; i-- {
		if scopes[i].prefix == prefix {
			scopes[i].uri = uri
			return scopes
		}
	}
	return append(scopes, xmlns{depth, prefix, uri})
}

// The request documents clients send are one shape: an optional XML
// declaration, Autodiscover in a request namespace, Request, EMailAddress
// and an optional AcceptableResponseSchema, with white space between.
// parseCommonRequest reads exactly that shape, byte for byte, and reports
// false for anything else (another spelling, a comment, an attribute, an
// entity, a character it does not take), which then goes through the
// token stream. Where it answers, it answers as the stream does (and the
// tree parser before it); FuzzAutodiscoverRequestStream compares them.
func parseCommonRequest(body []byte) (AutodiscoverRequest, error, bool) {
	var req AutodiscoverRequest
	rest := string(body)
	for _, decl := range []string{`<?xml version="1.0" encoding="utf-8"?>`, `<?xml version="1.0" encoding="UTF-8"?>`, `<?xml version="1.0"?>`} {
		if r, ok := strings.CutPrefix(rest, decl); ok {
			rest = r
			break
		}
	}
	rest = skipSpace(rest)
	var ns string
	for _, n := range []string{nsOutlookRequest, nsMobileSyncRequest, "https" + nsOutlookRequest[4:], "https" + nsMobileSyncRequest[4:]} {
		if r, ok := strings.CutPrefix(rest, `<Autodiscover xmlns="`+n+`">`); ok {
			rest, ns = skipSpace(r), n
			break
		}
	}
	if ns == "" {
		return req, nil, false
	}
	rest, ok := cutTag(rest, "<Request>")
	if !ok {
		return req, nil, false
	}
	email, r, ok := leaf(rest, "EMailAddress")
	if !ok {
		if email, r, ok = leaf(rest, "EmailAddress"); !ok {
			return req, nil, false
		}
	}
	rest = r
	schema, r, hasSchema := leaf(rest, "AcceptableResponseSchema")
	if hasSchema {
		rest = r
	}
	if rest, ok = cutTag(rest, "</Request>"); !ok {
		return req, nil, false
	}
	if rest, ok = cutTag(rest, "</Autodiscover>"); !ok || rest != "" {
		return req, nil, false
	}

	req.Schema = OutlookSchema
	if sameSchema(ns, nsMobileSyncRequest) {
		req.Schema = MobileSyncSchema
	}
	var err error
	if req.Address, err = ParseAddress(strings.TrimSpace(email)); err != nil {
		return req, err, true
	}
	req.Accept, req.Supported = req.Schema, true
	if hasSchema {
		switch schema = strings.TrimSpace(schema); {
		case sameSchema(schema, nsOutlookResponse):
			req.Accept = OutlookSchema
		case sameSchema(schema, nsMobileSyncResponse):
			req.Accept = MobileSyncSchema
		default:
			req.Supported = false
		}
	}
	return req, nil, true
}

// skipSpace drops XML white space from the front of s.
func skipSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
		s = s[1:]
	}
	return s
}

// cutTag cuts tag and the white space after it from the front of s.
func cutTag(s, tag string) (string, bool) {
	s, ok := strings.CutPrefix(s, tag)
	return skipSpace(s), ok
}

// leaf cuts <name>text</name> and the white space after it from the
// front of s. The text may hold only characters that read as themselves
// in XML character data: no markup or entity (< & >), no ] (of "]]>"),
// no CR (which XML turns into LF), nothing outside XML's characters.
func leaf(s, name string) (text, rest string, ok bool) {
	s, ok = strings.CutPrefix(s, "<"+name+">")
	if !ok {
		return "", "", false
	}
	end := strings.IndexByte(s, '<')
	if end < 0 {
		return "", "", false
	}
	text = s[:end]
	for _, r := range text {
		switch {
		case r == '&', r == '>', r == ']', r == '\r', r == utf8.RuneError, !xmlChar(r):
			return "", "", false
		}
	}
	rest, ok = cutTag(s[end:], "</"+name+">")
	return text, rest, ok
}
