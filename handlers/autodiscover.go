package handlers

import (
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

// Autodiscover answers carry the address or come from the Host alone; the
// POST ones are personal and never stored by caches.
const noStore = "no-store"

// autodiscoverPOST serves POX Autodiscover to Outlook and Thunderbird
// (docs/autodiscover.md). It never asks for credentials, and the
// Authorization header Thunderbird sends (with the user's password) is
// neither read nor logged.
func (h *Handler) autodiscoverPOST(c echo.Context) error {
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := readSmallBody(c, provision.MaxAutodiscoverRequest, (*buf)[:0])
	*buf = body[:0] // keep a grown buffer for the next request
	if err != nil {
		return err
	}
	cat := h.cfg.Catalog.Load()
	hostDomain := ""
	if _, d, err := hostProvider(cat, c.Request().Host, "autodiscover."); err == nil {
		hostDomain = d
	}
	out := getBuffer()
	defer putBuffer(out)
	ctx := c.Request().Context()
	r, err := cat.AnswerAutodiscover((*out)[:0], hostDomain, body, requestTime(c), func(p *provision.Provider, addr provision.Address) string {
		h.setLogin(ctx, p, &addr) // login.go
		return addr.Login
	})
	if err != nil {
		return err
	}
	*out = r.Body[:0] // keep a grown buffer
	noteRequest(c, r.Domain, requestAddress(c, r.Address))
	if r.Schema == provision.MobileSyncSchema {
		noteFormat(c, FormatMobileSync)
	}
	if r.Problem != nil {
		noteError(c, r.Problem)
	}
	return xmlBlob(c, noStores, r.Body)
}

// autodiscoverGET serves POX Autodiscover to clients that GET it with no
// body (Delta Chat, iOS, some Android apps, Outlook's redirect probe): the
// domain comes from the Host header, autodiscover.<domain> or <domain>.
func (h *Handler) autodiscoverGET(c echo.Context) error {
	cat := h.cfg.Catalog.Load()
	p, domain, err := hostProvider(cat, c.Request().Host, "autodiscover.")
	if err != nil {
		return err
	}
	noteRequest(c, domain, nil)
	buf := getBuffer()
	defer putBuffer(buf)
	if *buf, err = cat.Autodiscover((*buf)[:0], p, domain, nil, provision.Options{}); err != nil {
		return err
	}
	return xmlBlob(c, autoconfigCaches, *buf)
}

// autodiscoverJSONQuery serves /autodiscover/autodiscover.json?Email=…&Protocol=…
func (h *Handler) autodiscoverJSONQuery(c echo.Context) error {
	addr, err := queryAddress(c, "Email")
	if err != nil {
		return err
	}
	if addr == nil {
		return fmt.Errorf("%w: no Email parameter", provision.ErrBadRequest)
	}
	return h.autodiscoverJSON(c, addr)
}

// autodiscoverJSONPath serves /autodiscover/autodiscover.json/v1.0/<address>?Protocol=…
func (h *Handler) autodiscoverJSONPath(c echo.Context) error {
	raw := c.Param("*")
	if raw == "" {
		return fmt.Errorf("%w: no address in the path", provision.ErrBadRequest)
	}
	addr, err := provision.ParseAddress(raw)
	if err != nil {
		return err
	}
	return h.autodiscoverJSON(c, requestAddress(c, addr))
}

// autodiscoverJSON answers Autodiscover v2 (docs/autodiscover.md#autodiscoverjson) for addr.
// An unsupported protocol gets the InvalidProtocol JSON with status 400.
func (h *Handler) autodiscoverJSON(c echo.Context, addr *provision.Address) error {
	cat := h.cfg.Catalog.Load()
	p, err := cat.Lookup(addr.Domain)
	if err != nil {
		return err
	}
	protocol, err := singleQueryValue(c, "Protocol")
	if err != nil {
		return err
	}
	noteRequest(c, addr.Domain, addr)
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := cat.AutodiscoverJSON((*buf)[:0], p, addr.Domain, addr, provision.Options{Protocol: protocol, PublicHost: h.cfg.PublicHost})
	*buf = body[:0] // keep a grown buffer
	if err != nil {
		if len(body) == 0 {
			return err
		}
		noteError(c, err)
		return answer(c, http.StatusBadRequest, noStores, jsonContentTypes, body)
	}
	return answer(c, http.StatusOK, autoconfigCaches, jsonContentTypes, body)
}

// readSmallBody reads a request body of at most max bytes into b (whose
// memory the caller owns); a larger one is 413 without reading it all, and
// a body that breaks off is a 400.
func readSmallBody(c echo.Context, max int64, b []byte) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > max {
		return b, echo.ErrStatusRequestEntityTooLarge
	}
	lr := io.LimitedReader{R: r.Body, N: max + 1}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			if isMaxBytes(err) {
				return b, err // the global body limit: 413
			}
			return b, fmt.Errorf("%w: reading the request body failed", provision.ErrBadRequest)
		}
	}
	if int64(len(b)) > max {
		return b, echo.ErrStatusRequestEntityTooLarge
	}
	return b, nil
}
