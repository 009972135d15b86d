package handlers

import (
	"bytes"
	"net/http"
	"testing"
)

// TestNewBuildsOnce: New builds each router once and hands the same one
// out every time; the plain router has the plain rules and the HTTPS one
// has not; both serve from one Handler's caches, so a profile made
// through the plain router is served from the cache through the other.
// Without Config.Plain the plain router is the router itself.
func TestNewBuildsOnce(t *testing.T) {
	cfg := newTestConfig(t, nil)
	cfg.Plain = &PlainRules{PublicHost: "mail.example.com"}
	h := New(cfg)
	if cfg.Profiles != nil {
		t.Error("New changed its argument")
	}
	r, p, o := h.Router(), h.PlainRouter(), h.OpsRouter()
	if r != h.Router() || p != h.PlainRouter() || o != h.OpsRouter() {
		t.Error("a router was built again")
	}
	if h.PlainRouter() == h.Router() {
		t.Fatal("with plain rules, the plain router is the HTTPS one")
	}
	const ad = "http://autodiscover.example.com/autodiscover/autodiscover.xml"
	wantStatus(t, serve(h.PlainRouter(), http.MethodGet, ad, ""), http.StatusFound)
	wantStatus(t, serve(h.Router(), http.MethodGet, ad, ""), http.StatusOK)

	const profile = "http://example.com/mobileconfig?email=fred@example.com"
	first := serve(h.PlainRouter(), http.MethodGet, profile, "")
	wantStatus(t, first, http.StatusOK)
	again := serve(h.Router(), http.MethodGet, profile, "")
	wantStatus(t, again, http.StatusOK)
	if n := h.cfg.Profiles.Len(); n != 1 || !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) {
		t.Errorf("the routers do not share the profile cache (%d cached)", n)
	}

	if only := New(newTestConfig(t, nil)); only.PlainRouter() != only.Router() {
		t.Error("without plain rules, the plain router is not the router")
	}
}
