package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestProfilingEndpoint: the default build serves no /debug/pprof/ on
// the metrics listener's router; a -tags pprof build serves it there and
// still passes everything else to the router.
func TestProfilingEndpoint(t *testing.T) {
	ops := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "ops", http.StatusTeapot) })
	h := withProfiling(ops)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/debug/pprof/", profilingStatus},
		{"/debug/pprof/cmdline", profilingStatus},
		{"/metrics", http.StatusTeapot},
		{"/debug/pprofx", http.StatusTeapot},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1:9090"+tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.path, rec.Code, tc.want)
		}
	}
}

// profilingStatus is what withProfiling answers at /debug/pprof/ in this
// build: the router's own answer (418 in the test) unless built with
// -tags pprof.
var profilingStatus = func() int {
	if profilingBuilt {
		return http.StatusOK
	}
	return http.StatusTeapot
}()
