package handlers

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// qrOrigin returns the scheme://host a QR code of addr's profile URL
// points at. A Host header is the client's to write, and a phone follows
// the code to wherever it points, so the request picks at most which of
// the names this service answers for *addr* it gets, never an address,
// a port or another provider's name:
//
//   - the Host itself when it is the public host, the address's domain,
//     autoconfig. or autodiscover. in front of it, or one of its
//     provider's tls_names;
//   - else the public host (MAILAUTOCONF_PUBLIC_HOST);
//   - else autoconfig.<domain of the address>, the name clients look the
//     domain up at (the dns command sets it up to point here).
//
// Each is https on the default port: the listener's own port is not what
// a proxy or a port mapping in front shows the phone. The one exception is
// a demo on a developer's machine: Host localhost, on plain HTTP, with no
// public host, keeps http and its port (a phone scanning it reaches
// only itself). An IP literal is never used: an address someone put in a
// Host header proves nothing about who answers there.
func (h *Handler) qrOrigin(c echo.Context, p *provision.Provider, addr provision.Address) (string, error) {
	host, port, err := requestHost(c)
	if err != nil {
		return "", err
	}
	switch {
	case host == h.cfg.PublicHost || answersFor(p, addr.Domain, host):
		return "https://" + host, nil
	case h.cfg.PublicHost != "":
		return "https://" + h.cfg.PublicHost, nil
	case host == "localhost" && !requestHTTPS(c):
		if port != "" {
			return "http://localhost:" + port, nil
		}
		return "http://localhost", nil
	}
	return "https://autoconfig." + addr.Domain, nil
}

// answersFor reports whether host (lower case, A-labels) is a name this
// service answers for an address at domain of provider p: the domain,
// autoconfig. or autodiscover. in front of it, or one of p's tls_names.
// Another domain, even of the same provider, is not: its owner's DNS
// decides where its names point.
func answersFor(p *provision.Provider, domain, host string) bool {
	switch host {
	case "":
		return false
	case domain, "autoconfig." + domain, "autodiscover." + domain:
		return true
	}
	return slices.Contains(p.TLSNames, host)
}

// requestHost returns the request's Host header as a host name or IP
// address (lower case, A-labels; an IPv6 address without brackets) and
// its port, if any; a Host that is neither is a 400.
func requestHost(c echo.Context) (host, port string, err error) {
	host = c.Request().Host
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	}
	bad := fmt.Errorf("%w: Host is not a host name", provision.ErrBadRequest)
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", "", bad
		}
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		return ip.String(), port, nil
	}
	if host, err = provision.NormalizeHost(host); err != nil {
		return "", "", bad
	}
	return host, port, nil
}

// requestHTTPS reports whether the request came over HTTPS: to this
// listener, or to a proxy that says so in X-Forwarded-Proto.
func requestHTTPS(c echo.Context) bool {
	r := c.Request()
	return r.TLS != nil || strings.EqualFold(r.Header.Get(echo.HeaderXForwardedProto), "https")
}
