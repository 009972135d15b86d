package handlers

import (
	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// autoconfig serves config-v1.1.xml. The domain comes from the
// emailaddress parameter when present (Thunderbird, Evolution, Delta Chat),
// otherwise from the Host header, since Thunderbird for Android and KMail
// send no address (docs/autoconfig.md#http-rules). Evolution, which keeps the last
// server of each type, gets the first of each only
// (provision.AutoconfigServers).
func (h *Handler) autoconfig(c echo.Context) error { return h.answerAutoconfig(c, false) }

// mailV1 serves /.well-known/mail-v1.xml, which GNOME Online Accounts and
// SnappyMail ask first: the config-v1.1.xml answer, except that the
// address is not filled into the usernames. GNOME takes a username only
// when it is exactly a placeholder and drops any other value, so a
// filled-in address would leave its login field empty
// (docs/clients/gnome-online-accounts.md). A login from a directory
// (%LOGIN%) is still filled in: no placeholder carries it, and an empty
// field is better than a wrong login.
func (h *Handler) mailV1(c echo.Context) error { return h.answerAutoconfig(c, true) }

// answerAutoconfig is autoconfig, and mailV1 when placeholders is set.
func (h *Handler) answerAutoconfig(c echo.Context, placeholders bool) error {
	addr, err := queryAddress(c, "emailaddress")
	if err != nil {
		return err
	}
	cat := h.cfg.Catalog.Load()
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
	personal := h.setLogin(c.Request().Context(), p, addr) // login.go
	which := provision.AutoconfigServers(headerValue(c.Request().Header, userAgentHeader), addr)
	fill := addr
	if placeholders && !personal {
		fill = nil
	}
	// Evolution gets one server per type: the answer depends on the
	// User-Agent, and a shared cache must know.
	c.Response().Header()[echo.HeaderVary] = userAgentVary
	buf := getBuffer()
	defer putBuffer(buf)
	if *buf, err = cat.Autoconfig((*buf)[:0], p, domain, fill, provision.Options{Servers: which}); err != nil {
		return err
	}
	return xmlBlob(c, userCaches(personal, autoconfigCaches), *buf)
}

// ispdb serves /v1.1/<domain>, the URL form of Mozilla's ISPDB, for
// clients and proxies configured to use this service as their database.
func (h *Handler) ispdb(c echo.Context) error {
	domain, err := provision.NormalizeDomain(c.Param("domain"))
	if err != nil {
		return err
	}
	cat := h.cfg.Catalog.Load()
	p, err := cat.Lookup(domain)
	if err != nil {
		return err
	}
	noteRequest(c, domain, nil)
	buf := getBuffer()
	defer putBuffer(buf)
	if *buf, err = cat.Autoconfig((*buf)[:0], p, domain, nil, provision.Options{}); err != nil {
		return err
	}
	return xmlBlob(c, autoconfigCaches, *buf)
}
