package provision

import (
	"encoding/json"
	"fmt"
	"strings"
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
	host := publicHost
	if host == "" {
		host = "autodiscover." + addr.Domain
	}
	var a jsonAnswer
	switch {
	case strings.EqualFold(protocol, ProtocolAutodiscoverV1):
		a = jsonAnswer{ProtocolAutodiscoverV1, "https://" + host + AutodiscoverPath}
	case strings.EqualFold(protocol, ProtocolActiveSync) && p.ActiveSync != "":
		a = jsonAnswer{ProtocolActiveSync, p.ActiveSync}
	default:
		return marshalJSON(jsonError{
			ErrorCode:    "InvalidProtocol",
			ErrorMessage: invalidProtocolMessage(p, protocol),
		}), false
	}
	return marshalJSON(a), true
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
