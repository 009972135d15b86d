package provision

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// parseAutodiscoverRequestTree is ParseAutodiscoverRequest as first
// written: the document read into an etree tree, then walked. The
// streaming parser must give the same request and the same error for
// every input (FuzzAutodiscoverRequestStream).
//
// ParseAutodiscoverRequest (as it was) parses a POX request document (PROTOCOLS.md
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
func parseAutodiscoverRequestTree(body []byte) (AutodiscoverRequest, error) {
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
	root, err := treeSingleRoot(doc)
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
	request, err := treeOnlyChild(root, ns, "Request")
	if err != nil {
		return req, err
	}
	email, err := treeOnlyChild(request, ns, "EMailAddress")
	if err != nil {
		return req, err
	}
	text, err := treeLeafText(email)
	if err != nil {
		return req, err
	}
	if req.Address, err = ParseAddress(strings.TrimSpace(text)); err != nil {
		return req, err
	}

	// Without AcceptableResponseSchema the request's own dialect is meant.
	req.Accept, req.Supported = req.Schema, true
	switch schemas := treeChildren(request, ns, "AcceptableResponseSchema"); len(schemas) {
	case 0:
	case 1:
		text, err := treeLeafText(schemas[0])
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
func treeSingleRoot(doc *etree.Document) (*etree.Element, error) {
	if treeHasDirective(&doc.Element) {
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

func treeHasDirective(el *etree.Element) bool {
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Directive:
			return true
		case *etree.Element:
			if treeHasDirective(t) {
				return true
			}
		}
	}
	return false
}

// children returns el's child elements in namespace ns named name in any
// letter case.
func treeChildren(el *etree.Element, ns, name string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if strings.EqualFold(c.Tag, name) && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

func treeOnlyChild(el *etree.Element, ns, name string) (*etree.Element, error) {
	switch cs := treeChildren(el, ns, name); len(cs) {
	case 0:
		return nil, fmt.Errorf("%w: no %s element", ErrBadRequest, name)
	case 1:
		return cs[0], nil
	default:
		return nil, fmt.Errorf("%w: %s given more than once", ErrBadRequest, name)
	}
}

// leafText returns the text of an element that has no child elements.
func treeLeafText(el *etree.Element) (string, error) {
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
var requestCases = []string{
	outlookRequest("fred@example.com"),
	mobileSyncRequest("fred@example.com"),
	poxRequest(nsOutlookRequest, " fred@example.com\n", nsMobileSyncResponse),
	poxRequest("https://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006", "a@b.example", "https://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"),
	poxRequest(nsOutlookRequest, "fred@example.com", "http://example.com/other"),
	`<a:Autodiscover xmlns:a="` + nsOutlookRequest + `"><a:Request><a:EMailAddress>x@y.example</a:EMailAddress></a:Request></a:Autodiscover>`,
	`<a:Autodiscover xmlns:a="` + nsOutlookRequest + `"><a:Request><EMailAddress>x@y.example</EMailAddress></a:Request></a:Autodiscover>`,
	`<autodiscover xmlns="` + nsOutlookRequest + `"><REQUEST><emailaddress>x@y.example</emailaddress><LegacyDN>/o=x</LegacyDN></REQUEST></autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>x@<!-- c -->y.example</EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress><![CDATA[x@y.example]]></EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>x&#64;y.example</EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress><b>x@y.example</b></EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>x@y.example</EMailAddress><EmailAddress>z@y.example</EmailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>x@y.example</EMailAddress></Request><Request/></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request/></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>x@y.example</EMailAddress><AcceptableResponseSchema/><AcceptableResponseSchema/></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>x@y.example</EMailAddress><AcceptableResponseSchema><x/></AcceptableResponseSchema></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request xmlns="urn:other"><EMailAddress>x@y.example</EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="urn:x" xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>x@y.example</EMailAddress></Request></Autodiscover>`,
	`<Other xmlns="` + nsOutlookRequest + `"/>`,
	`<Autodiscover/>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"/><Autodiscover/>`,
	`text<Autodiscover xmlns="` + nsOutlookRequest + `"/>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"/>text`,
	`<?xml version="1.0" encoding="ISO-8859-1"?><!-- c --><Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>x@y.example</EMailAddress></Request></Autodiscover>`,
	`<!DOCTYPE x [<!ENTITY e "a">]><Autodiscover xmlns="` + nsOutlookRequest + `"/>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><!DOCTYPE x></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `">`,
	`</Autodiscover>`,
	`<a><b><c><d><e><f><g><h></h></g></f></e></d></c></b></a>`,
	`<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>bad address</EMailAddress></Request></Autodiscover>`,
	"<Autodiscover xmlns=\"" + nsOutlookRequest + "\"><Request><EMailAddress>x\x01@y.example</EMailAddress></Request></Autodiscover>",
	"", " ", "\xff", "<", "<?xml version=\"1.0\"?>", "<!-- only -->",
	// The common shape parseCommonRequest reads, and near misses.
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Autodiscover xmlns=\"https://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006\">\r\n<Request>\r\n<EmailAddress>a@b.example</EmailAddress>\r\n</Request>\r\n</Autodiscover>\r\n",
	`<?xml version="1.0"?><Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress> o'neil@b.example </EMailAddress><AcceptableResponseSchema> ` + nsMobileSyncResponse + ` </AcceptableResponseSchema></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>j\u00fcrgen@b\u00fccher.example</EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>a]]>@b.example</EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>a\r\n@b.example</EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>a@b.example</EmailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>a@b.example</EMailAddress></Request></Autodiscover><x/>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>a@b.example</EMailAddress></Request></Autodiscover>x`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress></EMailAddress></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `"><Request><EMailAddress>a@b.example</EMailAddress><AcceptableResponseSchema></AcceptableResponseSchema></Request></Autodiscover>`,
	`<Autodiscover xmlns="` + nsOutlookRequest + `" ><Request><EMailAddress>a@b.example</EMailAddress></Request></Autodiscover>`,
	"<Autodiscover xmlns=\"" + nsOutlookRequest + "\"><Request><EMailAddress>a\u0001@b.example</EMailAddress></Request></Autodiscover>",
	"<Autodiscover xmlns=\"" + nsOutlookRequest + "\"><Request><EMailAddress>a\uFFFE@b.example</EMailAddress></Request></Autodiscover>",
}

// TestAutodiscoverRequestStream: the parser (the common shape, else the
// token stream) gives the tree parser's answer for every case.
func TestAutodiscoverRequestStream(t *testing.T) {
	for _, body := range requestCases {
		checkRequestStream(t, []byte(body))
	}
}

func checkRequestStream(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := ParseAutodiscoverRequest(body)
	want, wantErr := parseAutodiscoverRequestTree(body)
	if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("ParseAutodiscoverRequest(%q)\n= %+v, %v\nthe tree parser: %+v, %v", body, got, gotErr, want, wantErr)
	}
	if gotErr != nil && !errors.Is(gotErr, ErrBadRequest) && !errors.Is(gotErr, ErrBadAddress) {
		t.Fatalf("error %v is of no kind", gotErr)
	}
}

// FuzzAutodiscoverRequestStream compares the streaming parser with the
// tree parser on any input.
func FuzzAutodiscoverRequestStream(f *testing.F) {
	for _, body := range requestCases {
		f.Add([]byte(body))
	}
	f.Fuzz(checkRequestStream)
}

// TestCommonRequestTaken: the documents Outlook and Thunderbird send take
// the byte-level path; anything unusual does not.
func TestCommonRequestTaken(t *testing.T) {
	for _, body := range []string{outlookRequest("fred@example.com"), mobileSyncRequest("fred@example.com"), requestCases[0]} {
		if _, _, ok := parseCommonRequest([]byte(body)); !ok {
			t.Errorf("common request not read by parseCommonRequest:\n%s", body)
		}
	}
	for _, body := range []string{requestCases[5], requestCases[8], requestCases[9], requestCases[10], requestCases[26]} {
		if _, _, ok := parseCommonRequest([]byte(body)); ok {
			t.Errorf("unusual request read by parseCommonRequest:\n%s", body)
		}
	}
}
