package provision

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"mailautoconf/internal/jsontext"
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
// for addr, served by p, asking for protocol. AutodiscoverV1 points at the
// POX endpoint on publicHost, or on autodiscover.<domain> when publicHost
// is "" (never on a host the request chose); ActiveSync gives the
// provider's ActiveSync URL when it has one. For any other protocol it
// returns the InvalidProtocol error body and false: the caller sends it
// with status 400.
func AutodiscoverJSON(p *Provider, addr Address, protocol, publicHost string) ([]byte, bool) {
	switch {
	case strings.EqualFold(protocol, ProtocolAutodiscoverV1):
		if publicHost != "" {
			return jsonTemplates().v1Public.render(fill{holeValue: publicHost}), true
		}
		return jsonTemplates().v1Domain.render(fill{holeValue: addr.Domain}), true
	case strings.EqualFold(protocol, ProtocolActiveSync) && p.ActiveSync != "":
		return jsonTemplates().activeSync.render(fill{holeValue: p.ActiveSync}), true
	}
	return jsonTemplates().invalid.render(fill{holeValue: invalidProtocolMessage(p, protocol)}), false
}

// jsonTemplates are the v2 answers rendered once by encoding/json with
// their one value as a hole (prerender.go): a request appends bytes and
// escapes the value as encoding/json does, without reflection.
// TestAutodiscoverJSONTemplates compares them with encoding/json.
var jsonTemplates = sync.OnceValue(func() (t struct{ v1Public, v1Domain, activeSync, invalid *template }) {
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

// compileJSON pre-renders the JSON of value(hole). A JSON template cannot
// fail its probes (encoding/json and jsontext.Marshal agree on every
// string, jsontext.FuzzEscape); if one ever did, the process would serve
// nothing right, so it stops at once.
func compileJSON(value func(string) any) *template {
	t := compile(func(f fill) []byte { return marshalJSON(value(f[holeValue])) }, jsontext.Marshal.Append, false)
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
