package handlers

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// queryAddress parses the address in query parameter name, or returns nil
// when the parameter is absent or empty.
func queryAddress(c echo.Context, name string) (*provision.Address, error) {
	v, err := singleQueryValue(c, name)
	if err != nil {
		return nil, err
	}
	return parseAddress(c, v)
}

// parseAddress parses address v, kept for the request (requestAddress),
// or returns nil when v is empty.
func parseAddress(c echo.Context, v string) (*provision.Address, error) {
	if v == "" {
		return nil, nil
	}
	a, err := provision.ParseAddress(v)
	if err != nil {
		return nil, err
	}
	return requestAddress(c, a), nil
}

// requestAddress returns a pointer to a copy of a, kept for the request:
// in its requestContext (no allocation) when it has one. The zero Address
// is nil.
func requestAddress(c echo.Context, a provision.Address) *provision.Address {
	if a == (provision.Address{}) {
		return nil
	}
	if rc, ok := c.(*requestContext); ok {
		rc.address = a
		return &rc.address
	}
	out := new(provision.Address)
	*out = a
	return out
}

// singleQueryValue returns the value of a parameter given at most once, in
// any letter case, or "".
func singleQueryValue(c echo.Context, name string) (string, error) {
	var v [1]string
	err := singleQueryValues(c, []string{name}, v[:])
	return v[0], err
}

// singleQueryValues is singleQueryValue for each of names at once, in
// one pass over the query: vals[i] gets the value of names[i] ("" when
// absent). A name given twice is an error, the first such in names.
func singleQueryValues(c echo.Context, names []string, vals []string) error {
	var seen, twice uint64 // bit i: names[i]
	for query := c.Request().URL.RawQuery; query != ""; {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		for i, name := range names {
			v, ok := pairValue(pair, name)
			switch {
			case !ok:
			case seen&(1<<i) != 0:
				twice |= 1 << i
			default:
				seen |= 1 << i
				vals[i] = v
			}
		}
	}
	for i, name := range names {
		if twice&(1<<i) != 0 {
			return fmt.Errorf("%w: %s given more than once", provision.ErrBadRequest, name)
		}
	}
	return nil
}

// queryValues returns the values of a query parameter whose name matches
// name in any letter case, in query order (pairValue).
func queryValues(c echo.Context, name string) []string {
	var out []string
	for query := c.Request().URL.RawQuery; query != ""; {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if v, ok := pairValue(pair, name); ok {
			out = append(out, v)
		}
	}
	return out
}

// hasQueryValue reports whether rawQuery has a parameter name, in any
// letter case (pairValue).
func hasQueryValue(rawQuery, name string) bool {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if _, ok := pairValue(pair, name); ok {
			return true
		}
	}
	return false
}

// pairValue returns the value of one query pair ("key=value") whose key
// matches name in any letter case; ok is false for any other pair and
// for one net/url.ParseQuery skips (a ';' in it, an invalid escape).
// Unlike ParseQuery, nothing but a matching value is unescaped or kept,
// so a huge query of other parameters costs a scan and no memory.
func pairValue(pair, name string) (v string, ok bool) {
	k, v, _ := strings.Cut(pair, "=")
	// A key that cannot unescape to name in any letter case: each ASCII
	// letter of name is one rune of at most 3 bytes (the Kelvin sign
	// folds to k), each byte at most 3 escaped.
	if len(k) < len(name) || len(k) > 9*len(name) {
		return "", false
	}
	if k, ok := queryUnescape(k); !ok || !strings.EqualFold(k, name) {
		return "", false
	}
	if strings.IndexByte(pair, ';') >= 0 {
		return "", false
	}
	return queryUnescape(v)
}

// queryUnescape is url.QueryUnescape in one pass, false where it fails: a
// '+' is a space, %XX the byte XX, and a '%' without two hex digits after
// it makes s invalid. A value with neither is s itself, with no copy.
func queryUnescape(s string) (string, bool) {
	i := 0
	for i < len(s) && s[i] != '%' && s[i] != '+' {
		i++
	}
	if i == len(s) {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", false
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unhex is the value of hex digit c.
func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// hostProvider finds the provider for a request that names no address:
// the Host header is "<prefix><domain>" or "<domain>", with or without a
// port.
func hostProvider(cat *provision.Catalog, host, prefix string) (*provision.Provider, string, error) {
	if strings.IndexByte(host, ':') >= 0 { // else SplitHostPort fails, at the cost of an error value
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	if host == "" {
		return nil, "", fmt.Errorf("%w: no address and no Host header", provision.ErrBadRequest)
	}
	if len(host) > len(prefix) && strings.EqualFold(host[:len(prefix)], prefix) {
		if p, d, err := cat.Resolve(host[len(prefix):]); err == nil {
			return p, d, nil
		}
	}
	p, d, err := cat.Resolve(host)
	if err != nil && !errors.Is(err, provision.ErrUnknownDomain) {
		return nil, "", fmt.Errorf("%w: Host is not a domain name", provision.ErrBadRequest)
	}
	return p, d, err
}

// userAgentHeader names the header the client family and Evolution's
// answer are read from.
const userAgentHeader = "User-Agent"

// headerValue is h.Get(name) for a name already in canonical form, as
// every header name constant here is: net/http stores a request's
// headers under their canonical names, and Get would canonicalize name
// again on every call.
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
