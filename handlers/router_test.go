package handlers

import (
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestRouterUsePanics: a middleware given to the Router's Use or Pre
// would never run (Router.ServeHTTP runs echo's routing, not its chain),
// so both panic, with a message that says where the step goes instead.
func TestRouterUsePanics(t *testing.T) {
	r := New(newTestConfig(t, nil)).Router()
	noop := func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	for name, add := range map[string]func(...echo.MiddlewareFunc){"Use": r.Use, "Pre": r.Pre} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "never run") || !strings.Contains(msg, "Handler.serve") {
					t.Errorf("Router.%s: panic %q, want one saying the middleware never runs and where to add it", name, msg)
				}
			}()
			add(noop)
		}()
	}
}
