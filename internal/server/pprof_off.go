//go:build !pprof

package server

import "net/http"

// withProfiling returns ops as it is: the default build serves no
// profiles (see pprof_on.go for the -tags pprof build).
func withProfiling(ops http.Handler) http.Handler { return ops }

// profilingBuilt says whether this build serves profiles.
const profilingBuilt = false
