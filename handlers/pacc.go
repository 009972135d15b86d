package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// pacc serves /.well-known/user-agent-configuration.json, the PACC
// document (docs/pacc.md). A PACC request carries no address: the domain
// comes from the Host header, ua-auto-config.<domain> or <domain>. A
// provider with no server PACC can describe is not served here (404,
// provision.(*Catalog).PACC).
func (h *Handler) pacc(c echo.Context) error {
	cat := h.cfg.Catalog.Load()
	p, domain, err := hostProvider(cat, c.Request().Host, "ua-auto-config.")
	if err != nil {
		return err
	}
	noteRequest(c, domain, nil)
	buf := getBuffer()
	defer putBuffer(buf)
	if *buf, err = cat.PACC((*buf)[:0], p, domain, nil, provision.Options{}); err != nil {
		return err
	}
	// The body must be the bytes whose digest DNS publishes: no
	// compression or transformation on the way (RFC 9111 §5.2.2.6).
	return answer(c, http.StatusOK, paccCaches, jsonContentTypes, *buf)
}

// paccCache lets caches keep the document as long as autoconfig's, and
// forbids them to transform it.
const paccCache = "public, max-age=3600, no-transform"
