package provision

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// parseAutodiscoverRequestTree is ParseAutodiscoverRequest as first
// written: the document read into an etree tree, then walked. The
// streaming parser must give the same request and the same error for
// every input (FuzzAutodiscoverRequestStream).
//
// ParseAutodiscoverRequest (as it was) parses a POX request document (docs/autodiscover.md#pox-request).
// It is strict about structure and lenient about spelling: element
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

// TestRequestCache: a cached parse is the parse, for every case, hit or
// miss (internal/parsecache's tests hold it to its bounds).
func TestRequestCache(t *testing.T) {
	c := &Catalog{requests: newRequestCache(8)}
	for round := 0; round < 2; round++ {
		for _, body := range requestCases {
			checkRequestCache(t, c, []byte(body))
		}
	}
	big := []byte(outlookRequest("fred@example.com") + strings.Repeat(" ", maxCachedRequest))
	checkRequestCache(t, c, big)
	var nilCatalog *Catalog
	checkRequestCache(t, nilCatalog, []byte(requestCases[0]))
}

func checkRequestCache(t *testing.T, c *Catalog, body []byte) {
	t.Helper()
	got, gotErr := c.parseRequest(body)
	want, wantErr := ParseAutodiscoverRequest(body)
	if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("parseRequest(%q)\n= %+v, %v\nParseAutodiscoverRequest: %+v, %v", body, got, gotErr, want, wantErr)
	}
	if gotErr != nil && !errors.Is(gotErr, ErrBadRequest) && !errors.Is(gotErr, ErrBadAddress) {
		t.Fatalf("error %v is of no kind", gotErr)
	}
}

// FuzzRequestCache: through a small cache, any input parses as it does
// without one (hits, misses and evictions alike).
func FuzzRequestCache(f *testing.F) {
	for _, body := range requestCases {
		f.Add([]byte(body))
	}
	c := &Catalog{requests: newRequestCache(4)}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkRequestCache(t, c, body)
		checkRequestCache(t, c, body)
	})
}
