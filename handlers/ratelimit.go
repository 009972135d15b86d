package handlers

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// RateLimit limits the requests of each client, a token bucket per
// client IP address (MAILAUTOCONF_RATE_LIMIT, off by default): a client
// may send Burst requests at once and Rate a second after that; beyond,
// it gets 429 with Retry-After, the seconds until it may ask again.
//
// A client is the TCP peer: an IPv4 address, or an IPv6 /64 (one
// subscriber's network; a single host can use its whole /64). Behind a
// proxy every request comes from the proxy: limit there instead. The
// health probes are never limited.
//
// Memory is bounded: clients whose bucket has filled up again are
// forgotten (a fresh bucket is the same), and beyond maxClients at once
// new clients share one bucket, so a flood from many addresses is
// limited as one client rather than growing the table.
type RateLimit struct {
	rate  rate.Limit
	burst int
	max   int

	mu        sync.Mutex
	clients   map[netip.Prefix]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

// maxClients bounds the clients tracked at once (about 100 bytes each).
const maxClients = 100_000

// NewRateLimit returns a limit of perSecond requests a second per client
// with bursts of burst (at least 1), or nil when perSecond is 0 or less:
// no limit.
func NewRateLimit(perSecond float64, burst int) *RateLimit {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	return &RateLimit{
		rate:     rate.Limit(perSecond),
		burst:    burst,
		max:      maxClients,
		clients:  make(map[netip.Prefix]*rate.Limiter),
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// Allow reports whether a request of client at now may be answered, and
// if not, how long until one may.
func (l *RateLimit) Allow(client netip.Prefix, now time.Time) (bool, time.Duration) {
	lim := l.limiter(client, now)
	if lim.AllowN(now, 1) {
		return true, 0
	}
	// A bucket short of one token refills in (1-tokens)/rate seconds.
	wait := time.Duration((1 - lim.TokensAt(now)) / float64(l.rate) * float64(time.Second))
	return false, max(wait, 0)
}

// limiter returns client's bucket, making one if need be.
func (l *RateLimit) limiter(client netip.Prefix, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.clients[client]; ok {
		return lim
	}
	if len(l.clients) >= l.max || now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	if len(l.clients) >= l.max {
		return l.overflow
	}
	lim := rate.NewLimiter(l.rate, l.burst)
	l.clients[client] = lim
	return lim
}

// sweep forgets the clients whose bucket is full again.
func (l *RateLimit) sweep(now time.Time) {
	l.lastSweep = now
	for k, lim := range l.clients {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.clients, k)
		}
	}
}

// clientOf returns the client a request comes from: its TCP peer's IPv4
// address, or the /64 of its IPv6 address. A peer that does not parse
// (only in tests) is the zero prefix, one client.
func clientOf(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// check answers 429 to a client over its limit; the probes are never
// limited.
func (l *RateLimit) check(c echo.Context) error {
	if p := c.Path(); p == "/healthz" || p == "/readyz" {
		return nil
	}
	ok, wait := l.Allow(clientOf(c.Request().RemoteAddr), time.Now())
	if ok {
		return nil
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return echo.NewHTTPError(http.StatusTooManyRequests)
}
