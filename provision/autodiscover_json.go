package provision

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"mailautoconf/internal/jsontext"
	"mailautoconf/internal/splice"
)

// Autodiscover v2 protocol names we answer, in the spelling we answer
// with. Requests match them in any letter case (docs/autodiscover.md#autodiscoverjson).
const (
	ProtocolAutodiscoverV1 = "AutodiscoverV1"
	ProtocolActiveSync     = "ActiveSync"
)

// AutodiscoverPath is the POX endpoint the v2 answer points to.
const AutodiscoverPath = "/autodiscover/autodiscover.xml"

type jsonAnswer struct {
	Protocol string `json:"Protocol"`
	URL      string `json:"Url"`
}

type jsonError struct {
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

// AutodiscoverJSON answers an Autodiscover v2 request (docs/autodiscover.md#autodiscoverjson)
// for addr, served by p, asking for opts.Protocol. AutodiscoverV1 points
// at the POX endpoint on opts.PublicHost, or on autodiscover.<domain> when
// that is "" (never on a host the request chose); ActiveSync gives the
// provider's ActiveSync URL when it has one. For any other protocol it
// appends the InvalidProtocol error body and returns it with an error
// wrapping ErrBadRequest: the caller sends that body with status 400.
func (c *Catalog) AutodiscoverJSON(dst []byte, p *Provider, _ string, addr *Address, opts Options) ([]byte, error) {
	if err := checkRender(p, addr, true); err != nil {
		return dst, err
	}
	t := jsonTemplates()
	switch protocol := opts.Protocol; {
	case strings.EqualFold(protocol, ProtocolAutodiscoverV1):
		if opts.PublicHost != "" {
			return t.v1Public.Append(dst, splice.Values{holeValue: opts.PublicHost}), nil
		}
		return t.v1Domain.Append(dst, splice.Values{holeValue: addr.Domain}), nil
	case strings.EqualFold(protocol, ProtocolActiveSync) && p.ActiveSync != "":
		return t.activeSync.Append(dst, splice.Values{holeValue: p.ActiveSync}), nil
	}
	return t.invalid.Append(dst, splice.Values{holeValue: invalidProtocolMessage(p, opts.Protocol)}),
		fmt.Errorf("%w: unsupported Autodiscover v2 protocol", ErrBadRequest)
}

// jsonTemplates are the v2 answers rendered once by encoding/json with
// their one value as a hole (prerender.go): a request appends bytes and
// escapes the value as encoding/json does, without reflection.
// TestAutodiscoverJSONTemplates compares them with encoding/json.
var jsonTemplates = sync.OnceValue(func() (t struct{ v1Public, v1Domain, activeSync, invalid *splice.Template }) {
	t.v1Public = compileJSON(func(v string) any {
		return jsonAnswer{ProtocolAutodiscoverV1, "https://" + v + AutodiscoverPath}
	})
	t.v1Domain = compileJSON(func(v string) any {
		return jsonAnswer{ProtocolAutodiscoverV1, "https://autodiscover." + v + AutodiscoverPath}
	})
	t.activeSync = compileJSON(func(v string) any { return jsonAnswer{ProtocolActiveSync, v} })
	t.invalid = compileJSON(func(v string) any { return jsonError{"InvalidProtocol", v} })
	return t
})

// jsonDialect escapes values as encoding/json does; JSON has no blank
// values to refuse.
var jsonDialect = splice.Dialect{Escape: jsontext.Marshal.Append}

// compileJSON pre-renders the JSON of value(hole). A JSON template cannot
// fail its probes (encoding/json and jsontext.Marshal agree on every
// string, jsontext.FuzzEscape); if one ever did, the process would serve
// nothing right, so it stops at once.
func compileJSON(value func(string) any) *splice.Template {
	t := splice.Compile(func(f splice.Values) []byte { return marshalJSON(value(f[holeValue])) }, jsonDialect, probes)
	if t == nil {
		panic("provision: a JSON template failed its probes")
	}
	return t
}

// invalidProtocolMessage follows the text Exchange and mailcow send. The
// protocol value is repeated only when it is a short run of letters and
// digits, as every real protocol name is; anything else is not echoed.
func invalidProtocolMessage(p *Provider, protocol string) string {
	supported := ProtocolAutodiscoverV1
	if p.ActiveSync != "" {
		supported += ", " + ProtocolActiveSync
	}
	if !isToken(protocol) {
		return fmt.Sprintf("The given protocol value is invalid. Supported values are '%s'", supported)
	}
	return fmt.Sprintf("The given protocol value '%s' is invalid. Supported values are '%s'", protocol, supported)
}

func isToken(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func marshalJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("json: marshaling a fixed struct failed: " + err.Error())
	}
	return append(b, '\n')
}
