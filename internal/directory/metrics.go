package directory

import "github.com/prometheus/client_golang/prometheus"

// Lookup results, the values of the result label.
const (
	ResultCacheHit = "cache_hit"
	ResultFound    = "found"
	ResultNotFound = "not_found"
	ResultError    = "error"
	ResultTimeout  = "timeout"
)

var results = []string{ResultCacheHit, ResultFound, ResultNotFound, ResultError, ResultTimeout}

// metrics are a Set's Prometheus collectors. The directory's name (from
// the catalog) is the only label besides the lookup result: never an
// address or a login.
type metrics struct {
	domains   *prometheus.GaugeVec
	ready     *prometheus.GaugeVec
	failures  *prometheus.CounterVec
	lastGood  *prometheus.GaugeVec
	lookups   *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	cacheSize *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		domains: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailautoconf_directory_domains",
			Help: "Domains in the directory's last good domain list (as read, before the catalog's merge skips invalid or taken ones).",
		}, []string{"directory"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailautoconf_directory_ready",
			Help: "1 once the directory's domain list was read (from the server or from the copy on disk), else 0.",
		}, []string{"directory"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailautoconf_directory_refresh_failures_total",
			Help: "Failed attempts to read the directory's domain list; the last good list kept serving.",
		}, []string{"directory"}),
		lastGood: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailautoconf_directory_last_refresh_success_timestamp_seconds",
			Help: "Unix time the domain list served was read from the directory (0: never; a list from disk keeps the time it was read).",
		}, []string{"directory"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailautoconf_directory_lookups_total",
			Help: "Login lookups, by result: cache_hit, found, not_found, error, timeout (the last two answered the fallback, the address).",
		}, []string{"directory", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mailautoconf_directory_lookup_duration_seconds",
			Help:    "Time the directory took to answer a login query (cache misses only, including queries that outlived the timeout).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"directory"}),
		cacheSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailautoconf_directory_login_cache_entries",
			Help: "Entries in the directory's login cache, as of the last lookup that added one.",
		}, []string{"directory"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.domains, m.ready, m.failures, m.lastGood, m.lookups, m.latency, m.cacheSize}
}

// dirMetrics are one directory's series, resolved once so that a lookup
// pays no label hashing.
type dirMetrics struct {
	domains, ready, lastGood, cacheSize prometheus.Gauge
	failures                            prometheus.Counter
	lookups                             map[string]prometheus.Counter
	latency                             prometheus.Observer
}

func (m *metrics) dir(name string) dirMetrics {
	d := dirMetrics{
		domains:   m.domains.WithLabelValues(name),
		ready:     m.ready.WithLabelValues(name),
		lastGood:  m.lastGood.WithLabelValues(name),
		cacheSize: m.cacheSize.WithLabelValues(name),
		failures:  m.failures.WithLabelValues(name),
		latency:   m.latency.WithLabelValues(name),
		lookups:   make(map[string]prometheus.Counter, len(results)),
	}
	for _, r := range results {
		d.lookups[r] = m.lookups.WithLabelValues(name, r)
	}
	return d
}
