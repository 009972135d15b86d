package handlers

import (
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// PlainRules are what the plain-HTTP listener does differently from the
// HTTPS one when the service serves HTTPS itself (docs/autoconfig.md#http-rules; docs/autodiscover.md#where-clients-look).
// Autoconfig is answered on both: Thunderbird, K-9 and KMail fall back to
// plain HTTP, and KMail uses nothing else.
type PlainRules struct {
	// PublicHost receives Outlook's "HTTP redirect" method: every
	// /autodiscover/... request gets a 302 to
	// https://PublicHost/autodiscover/autodiscover.xml, so customer
	// domains work without a certificate of their own. "" answers
	// /autodiscover/... on plain HTTP from the routes.
	PublicHost string
	// HasCertificate reports whether HTTPS serves a valid certificate for
	// host; the page / on such a host redirects to HTTPS.
	HasCertificate func(host string) bool
}

// autodiscoverPrefix is matched in any letter case, as the routes are.
const autodiscoverPrefix = "/autodiscover/"

// middleware applies the rules before the routes (Handler.PlainRouter).
// No HSTS header is ever sent: with includeSubDomains it would break
// plain-HTTP autoconfig on sibling names, and without it it would still
// stop the HTTP fallback of a host whose certificate later fails.
func (rules PlainRules) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p := r.URL.Path
		if rules.PublicHost != "" && hasPrefixFold(p, autodiscoverPrefix) {
			c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
			return c.Redirect(http.StatusFound, "https://"+rules.PublicHost+"/autodiscover/autodiscover.xml")
		}
		if p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && rules.HasCertificate != nil {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.ToLower(strings.TrimSuffix(host, "."))
			// Only a name we hold a certificate for goes into Location:
			// the Host header is the client's to choose.
			if host != "" && rules.HasCertificate(host) {
				target := "https://" + host + "/"
				if r.URL.RawQuery != "" {
					target += "?" + r.URL.RawQuery
				}
				c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
				return c.Redirect(http.StatusFound, target)
			}
		}
		return next(c)
	}
}
