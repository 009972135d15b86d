package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Routes lists every route of the service.
func (h *Handler) Routes(e *echo.Echo) {
	get := []string{http.MethodGet, http.MethodHead}

	// Thunderbird autoconfig (docs/autoconfig.md#urls-and-order; docs/autoconfig.md#http-rules).
	e.Match(get, "/mail/config-v1.1.xml", h.autoconfig)
	e.Match(get, "/.well-known/autoconfig/mail/config-v1.1.xml", h.autoconfig)
	e.Match(get, "/v1.1/mail/config-v1.1.xml", h.autoconfig) // the "Nine" app's spelling
	// GNOME Online Accounts' and SnappyMail's first URL: usernames stay
	// placeholders there (mailV1, docs/clients/gnome-online-accounts.md).
	e.Match(get, "/.well-known/mail-v1.xml", h.mailV1)
	e.Match(get, "/v1.1/:domain", h.ispdb)

	// Outlook Autodiscover (docs/autodiscover.md): POX by POST (Outlook,
	// Thunderbird) and by GET with no body (Delta Chat, iOS, Android
	// apps); v2 JSON in its query and path forms (docs/autodiscover.md#autodiscoverjson).
	e.POST("/autodiscover/autodiscover.xml", h.autodiscoverPOST)
	e.Match(get, "/autodiscover/autodiscover.xml", h.autodiscoverGET)
	e.Match(get, "/autodiscover/autodiscover.json", h.autodiscoverJSONQuery)
	e.Match(get, "/autodiscover/autodiscover.json/v1.0/*", h.autodiscoverJSONPath)

	// Apple configuration profiles (docs/apple-profiles.md) and the setup page
	// people open on their phone or computer, with its QR code and files.
	e.Match(get, "/mobileconfig", h.mobileconfig)
	e.Match(get, "/email.mobileconfig", h.mobileconfig)
	e.Match(get, "/apple", h.appleProfile)
	e.Match(get, "/", h.page)
	e.Match(get, "/qr.png", h.qrCode)
	e.Match(get, "/static/:file", h.static)

	// PACC (docs/pacc.md): ua-auto-config.<domain>, its digest in DNS.
	e.Match(get, "/.well-known/user-agent-configuration.json", h.pacc)

	e.Match(get, "/healthz", h.healthz)
	e.Match(get, "/readyz", h.readyz)
}

// routeFormat names the format a route serves, for the metrics and the
// request log; "" (no route matched) is FormatNone. A handler that learns
// more than its route tells (a POX POST in the mobilesync schema) sets the
// format itself with noteFormat.
func routeFormat(r string) string {
	// Every route is spelt in lower case (TestEveryRouteHasAFormat).
	switch {
	case r == "":
		return FormatNone
	case strings.HasSuffix(r, "/config-v1.1.xml") || strings.HasPrefix(r, "/v1.1/") || r == "/.well-known/mail-v1.xml":
		return FormatAutoconfig
	case r == "/.well-known/user-agent-configuration.json":
		return FormatPACC
	case strings.HasPrefix(r, "/autodiscover/autodiscover.json"):
		return FormatAutodiscoverJSON
	case strings.HasPrefix(r, "/autodiscover/"):
		return FormatAutodiscover
	case strings.Contains(r, "mobileconfig") || r == "/apple":
		return FormatMobileConfig
	case r == "/healthz" || r == "/readyz":
		return FormatHealth
	}
	return FormatPage
}

// newOps returns the operations listener's echo instance (OpsRouter).
func (h *Handler) newOps() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.errorHandler
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true, DisableErrorHandler: true}))
	get := []string{http.MethodGet, http.MethodHead}
	if h.cfg.MetricsHandler != nil {
		e.Match(get, "/metrics", echo.WrapHandler(h.cfg.MetricsHandler))
	}
	e.Match(get, "/healthz", h.healthz)
	e.Match(get, "/readyz", h.readyz)
	// The DNS watch's view of each domain (domains.go), behind
	// MAILAUTOCONF_ADMIN_TOKEN when set.
	e.Match(get, "/domains", h.domainsPage, h.requireToken)
	e.Match(get, "/api/v1/domains", h.domainsAPI, h.requireToken)
	e.Match(get, "/api/v1/domains/:domain", h.domainAPI, h.requireToken)
	return e
}

// canonicalPaths are matched case-insensitively: clients and documents
// spell them in several letter cases, and IIS, which clients were tested
// against, ignores case. Prefixes end in "/" and keep the rest as sent.
var canonicalPaths = []string{
	"/mail/config-v1.1.xml",
	"/.well-known/autoconfig/mail/config-v1.1.xml",
	"/v1.1/mail/config-v1.1.xml",
	"/.well-known/mail-v1.xml",
	"/v1.1/",
	"/mobileconfig",
	"/email.mobileconfig",
	"/apple",
	"/autodiscover/autodiscover.xml",
	"/autodiscover/autodiscover.json",
	"/autodiscover/autodiscover.json/v1.0/",
	"/.well-known/user-agent-configuration.json",
}

// canonicalPath rewrites a known path in any letter case to the spelling
// the router knows, before routing.
func canonicalPath(r *http.Request) {
	p := r.URL.Path
	for _, known := range canonicalPaths {
		if strings.HasSuffix(known, "/") {
			if len(p) > len(known) && strings.EqualFold(p[:len(known)], known) {
				p = known + p[len(known):]
				break
			}
		} else if strings.EqualFold(p, known) {
			p = known
			break
		}
	}
	if p != r.URL.Path {
		r.URL.Path = p
	}
	// Route on the decoded path only: an escaped slash in a domain then
	// never matches a route.
	r.URL.RawPath = ""
}
