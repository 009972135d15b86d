package handlers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Readiness is a component whose state /readyz reports besides the
// catalog's (the HTTPS certificates, say).
type Readiness interface {
	// Ready says whether the service may take traffic, and describes the
	// component's state in lines of text.
	Ready() (ok bool, lines []string)
}

// ReadinessFunc adapts a function to Readiness.
type ReadinessFunc func() (bool, []string)

// Ready calls f.
func (f ReadinessFunc) Ready() (bool, []string) { return f() }

// readyz answers 200 when a catalog is loaded and every component is
// ready, else 503, with one line per fact in a text body for operators.
func (h *Handler) readyz(c echo.Context) error {
	ok := true
	var lines []string
	if cat := h.cfg.Catalog.Load(); cat == nil {
		ok = false
		lines = append(lines, "catalog: not loaded")
	} else {
		lines = append(lines, fmt.Sprintf("catalog: %d domains, %d providers", cat.DomainCount(), len(cat.Providers())))
	}
	for _, r := range h.cfg.Ready {
		rok, rlines := r.Ready()
		ok = ok && rok
		lines = append(lines, rlines...)
	}
	status, head := http.StatusOK, "ready"
	if !ok {
		status, head = http.StatusServiceUnavailable, "not ready"
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return plainText(c, status, head+"\n"+strings.Join(lines, "\n")+"\n")
}

// healthz answers the liveness probe: 200 whenever the process serves
// requests at all, with no catalog or component asked (readyz does).
func (h *Handler) healthz(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return plainText(c, http.StatusOK, "ok\n")
}
