//go:build pprof

package server

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// profilingBuilt says whether this build serves profiles.
const profilingBuilt = true

// withProfiling serves Go's profiles (net/http/pprof) under /debug/pprof/
// beside ops, the metrics listener's router. Only a binary built with
// -tags pprof has it (bench/README.md, profiles under load); the
// default build has no profiling endpoint anywhere (pprof_off.go), and
// the public listeners never do.
func withProfiling(ops http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			mux.ServeHTTP(w, r)
			return
		}
		ops.ServeHTTP(w, r)
	})
}
