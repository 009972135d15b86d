package handlers

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

const (
	xmlContentType = "application/xml; charset=utf-8"
	// Settings change rarely, and clients ask once per account setup.
	autoconfigCache = "public, max-age=3600"
)

// autoconfig serves config-v1.1.xml. The domain comes from the
// emailaddress parameter when present (Thunderbird, Evolution, Delta Chat),
// otherwise from the Host header, since Thunderbird for Android and KMail
// send no address (PROTOCOLS.md §1.3).
func (h *Handler) autoconfig(c echo.Context) error {
	addr, err := queryAddress(c, "emailaddress")
	if err != nil {
		return err
	}
	cat := h.Catalog.Load()
	var p *provision.Provider
	var domain string
	if addr != nil {
		domain = addr.Domain
		p, err = cat.Lookup(domain)
	} else {
		p, domain, err = hostProvider(cat, c.Request().Host, "autoconfig.")
	}
	if err != nil {
		return err
	}
	noteRequest(c, domain, addr)
	return xmlBlob(c, autoconfigCache, cat.Thunderbird(p, domain, addr))
}

// ispdb serves /v1.1/<domain>, the URL form of Mozilla's ISPDB, for
// clients and proxies configured to use this service as their database.
func (h *Handler) ispdb(c echo.Context) error {
	domain, err := provision.NormalizeDomain(c.Param("domain"))
	if err != nil {
		return err
	}
	cat := h.Catalog.Load()
	p, err := cat.Lookup(domain)
	if err != nil {
		return err
	}
	noteRequest(c, domain, nil)
	return xmlBlob(c, autoconfigCache, cat.Thunderbird(p, domain, nil))
}

// queryAddress parses the address in query parameter name, or returns nil
// when the parameter is absent or empty.
func queryAddress(c echo.Context, name string) (*provision.Address, error) {
	values := queryValues(c, name)
	switch len(values) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("%w: %s given more than once", provision.ErrBadRequest, name)
	}
	if values[0] == "" {
		return nil, nil
	}
	a, err := provision.ParseAddress(values[0])
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// queryValues returns the values of a query parameter whose name matches
// name in any letter case. A query that does not parse is treated as
// absent parameters, as net/url does.
func queryValues(c echo.Context, name string) []string {
	var out []string
	for k, vs := range c.QueryParams() {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	return out
}

// hostProvider finds the provider for a request that names no address:
// the Host header is "<prefix><domain>" or "<domain>", with or without a
// port.
func hostProvider(cat *provision.Catalog, host, prefix string) (*provision.Provider, string, error) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		return nil, "", fmt.Errorf("%w: no address and no Host header", provision.ErrBadRequest)
	}
	if len(host) > len(prefix) && strings.EqualFold(host[:len(prefix)], prefix) {
		if d, err := provision.NormalizeDomain(host[len(prefix):]); err == nil {
			if p, err := cat.Lookup(d); err == nil {
				return p, d, nil
			}
		}
	}
	d, err := provision.NormalizeDomain(host)
	if err != nil {
		return nil, "", fmt.Errorf("%w: Host is not a domain name", provision.ErrBadRequest)
	}
	p, err := cat.Lookup(d)
	return p, d, err
}

// noteRequest records the domain and address for the request log.
func noteRequest(c echo.Context, domain string, addr *provision.Address) {
	c.Set(ctxDomain, domain)
	if addr != nil {
		c.Set(ctxAddress, addr.String())
	}
}

func xmlBlob(c echo.Context, cacheControl string, body []byte) error {
	c.Response().Header().Set(echo.HeaderCacheControl, cacheControl)
	return c.Blob(http.StatusOK, xmlContentType, body)
}
