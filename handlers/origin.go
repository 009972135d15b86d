package handlers

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// qrOrigin returns the scheme://host[:port] a QR code of a profile URL
// may point at. A Host header is the client's to write: the request's own
// origin is used only when its host is one this service answers for (see
// ownsHost), else the public host's; with no public host such a request
// is refused. So no request, and no cache between, can make the service
// draw a code that sends a phone to a host someone else chose.
func (h *Handler) qrOrigin(c echo.Context, cat *provision.Catalog) (string, error) {
	origin, err := requestOrigin(c)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(origin)
	if err != nil {
		return "", fmt.Errorf("%w: Host is not a host name", provision.ErrBadRequest)
	}
	if ownsHost(cat, h.PublicHost, u.Hostname()) {
		return origin, nil
	}
	if h.PublicHost == "" {
		return "", fmt.Errorf("%w: Host is not a name this service answers for", provision.ErrBadRequest)
	}
	u.Host = h.PublicHost
	return u.String(), nil
}

// ownsHost reports whether host (lower case, from requestOrigin) is a name
// this service answers for: the public host; a served domain, or
// autoconfig. or autodiscover. in front of one; a provider's tls_names;
// localhost or an IP address (someone who reached the service by its
// address, as in a test).
func ownsHost(cat *provision.Catalog, publicHost, host string) bool {
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil || host == "localhost" || host == publicHost {
		return true
	}
	for _, prefix := range []string{"", "autoconfig.", "autodiscover."} {
		if d, ok := strings.CutPrefix(host, prefix); ok {
			if _, err := cat.Lookup(d); err == nil {
				return true
			}
		}
	}
	for _, p := range cat.Providers() {
		if slices.Contains(p.TLSNames, host) {
			return true
		}
	}
	return false
}
