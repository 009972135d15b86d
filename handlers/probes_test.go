package handlers

import (
	"net/http"
	"testing"
)

func TestHealthz(t *testing.T) {
	rec := serve(newTestEcho(t, nil), http.MethodGet, "http://svc.example/healthz", "")
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.String() != "ok\n" {
		t.Errorf("body %q", rec.Body)
	}
}
