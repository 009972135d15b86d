package main

import (
	"fmt"
	"net"

	"golang.org/x/net/netutil"
)

// What the service takes from a client, fixed: the values every phase
// of a request gets (serve.go's server timeouts) and these settings:
//
//   - MAILAUTOCONF_MAX_CONNECTIONS caps the connections each listener
//     holds open. Beyond it new connections wait in the kernel's accept
//     queue until one closes; slow ones close after readHeaderTimeout
//     (headers) or idleTimeout (between requests), so a flood of idle or
//     slow connections delays others at most that long and never
//     exhausts file descriptors.
//   - MAILAUTOCONF_RATE_LIMIT and RATE_BURST limit each client's
//     requests (handlers/ratelimit.go), off by default.

// limitConnections caps the connections ln has open at once; n <= 0
// leaves it unlimited.
func limitConnections(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, n)
}

// checkLimitSettings refuses limits that make no sense.
func checkLimitSettings(s *Settings) error {
	switch {
	case s.RateLimit < 0:
		return fmt.Errorf("settings: %s_RATE_LIMIT=%v: want requests a second, 0 for no limit", envPrefix, s.RateLimit)
	case s.RateBurst < 1:
		return fmt.Errorf("settings: %s_RATE_BURST=%d: want 1 or more", envPrefix, s.RateBurst)
	case s.MaxConnections < 0:
		return fmt.Errorf("settings: %s_MAX_CONNECTIONS=%d: want 0 (no limit) or more", envPrefix, s.MaxConnections)
	}
	return nil
}
