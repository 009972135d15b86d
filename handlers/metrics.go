package handlers

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Formats of requests: the values of the format label and of the request
// log's format attribute. routeFormat maps each route to one.
const (
	FormatAutoconfig       = "autoconfig"
	FormatAutodiscover     = "autodiscover"
	FormatAutodiscoverJSON = "autodiscover-json"
	FormatMobileSync       = "mobilesync"
	FormatMobileConfig     = "mobileconfig"
	FormatPage             = "page"
	FormatHealth           = "health"
	FormatPACC             = "pacc"
	// FormatNone: no route matched (scanners, typos).
	FormatNone = "none"
)

// Formats lists every value of the format label.
var Formats = []string{
	FormatAutoconfig, FormatAutodiscover, FormatAutodiscoverJSON, FormatMobileSync,
	FormatMobileConfig, FormatPage, FormatHealth, FormatPACC, FormatNone,
}

// Values of the domain label: whether the request named a domain the
// catalog serves. The domain itself is never a label: requests choose it,
// and a label per value would let anyone grow the metrics without bound.
const (
	DomainKnown   = "known"
	DomainUnknown = "unknown"
	DomainNone    = "none"
)

// Metrics are the HTTP request series of one server: a counter by
// format, client family, status and known/unknown domain, and a duration
// histogram by format, all from closed sets of label values. The
// process's registry (internal/metrics) serves them, with the catalog's,
// the certificates' and the runtime's: Collectors gives them to it. A nil
// *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// series remembers the request counter and duration histogram of
	// each label combination seen, so that a request does not pay for
	// WithLabelValues' hashing, checks and status string. The
	// combinations are as bounded as the labels, so the map is read
	// without a lock and copied, under seriesMu, to add one: a request
	// costs one lookup of a typed map.
	series   atomic.Pointer[map[requestKey]*requestSeries]
	seriesMu sync.Mutex
}

type requestKey struct {
	format, client, domain string
	status                 int
}

type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// NewMetrics returns the request series of one server, registered
// nowhere yet (Collectors).
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailautoconf_requests_total",
			Help: "Requests answered, by format, guessed client family, HTTP status and whether the domain is served (known, unknown, none).",
		}, []string{"format", "client", "status", "domain"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mailautoconf_request_duration_seconds",
			Help: "Time from the request's arrival at the router to its answer, by format.",
			// Answers come from memory: most take well under a
			// millisecond; the top buckets catch a stalled machine.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"format"}),
	}
}

// Collectors returns the request series, for the process's registry
// (internal/metrics) to serve.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration}
}

// observeRequest counts one answered request.
func (m *Metrics) observeRequest(format string, client ClientFamily, status int, domain string, d time.Duration) {
	if m == nil {
		return
	}
	key := requestKey{format: format, client: string(client), domain: domain, status: status}
	s := m.requestSeries(key)
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// requestSeries returns key's series, made on its first request.
func (m *Metrics) requestSeries(key requestKey) *requestSeries {
	if all := m.series.Load(); all != nil {
		if s, ok := (*all)[key]; ok {
			return s
		}
	}
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	old := m.series.Load()
	if old != nil {
		if s, ok := (*old)[key]; ok {
			return s // added while this request waited
		}
	}
	s := &requestSeries{
		count:    m.requests.WithLabelValues(key.format, key.client, strconv.Itoa(key.status), key.domain),
		duration: m.duration.WithLabelValues(key.format),
	}
	all := make(map[requestKey]*requestSeries, 1)
	if old != nil {
		all = maps.Clone(*old)
	}
	all[key] = s
	m.series.Store(&all)
	return s
}
