package provision

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Autodiscover v2 protocol names we answer, in the spelling we answer
// with. Requests match them in any letter case (PROTOCOLS.md §2.8).
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

// AutodiscoverJSON answers an Autodiscover v2 request (PROTOCOLS.md §2.8)
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
// fail its probes (encoding/json and appendJSONText agree on every
// string, FuzzAppendJSONText); if one ever did, the process would serve
// nothing right, so it stops at once.
func compileJSON(value func(string) any) *template {
	t := compile(func(f fill) []byte { return marshalJSON(value(f[holeValue])) }, appendJSONText, false)
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

// appendJSONText appends s escaped as encoding/json escapes the inside of
// a string (with HTML escaping, as json.Marshal does): quote, backslash
// and control characters, < > &, U+2028 and U+2029, and each byte of
// invalid UTF-8 as \ufffd.
func appendJSONText(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[last:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			last = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[last:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[last:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		last = i
	}
	return append(b, s[last:]...)
}

func marshalJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("json: marshaling a fixed struct failed: " + err.Error())
	}
	return append(b, '\n')
}
