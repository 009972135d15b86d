package handlers

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"mailautoconf/provision"
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

// Metrics are one server's Prometheus metrics, in a registry of their own
// (never the global one), so that every test and every server builds its
// own. Label values all come from closed sets: format, client family,
// status code, known/unknown domain, reload result; certificate names come
// from the catalog, never from requests. A nil *Metrics records nothing.
type Metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	reloads   *prometheus.CounterVec
	lastGood  prometheus.Gauge
	lastOK    prometheus.Gauge
	domains   prometheus.Gauge
	providers prometheus.Gauge

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

// NewMetrics returns the metrics of one server, with the Go runtime and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
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
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailautoconf_catalog_reloads_total",
			Help: "Catalog reloads after start (SIGHUP or a change of its files), by result: success (swapped in) or failure (refused, the previous catalog kept).",
		}, []string{"result"}),
		lastGood: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailautoconf_catalog_last_success_timestamp_seconds",
			Help: "Unix time the catalog now served was loaded (at start or by the last successful reload).",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailautoconf_catalog_last_reload_successful",
			Help: "1 when the last load or reload of the catalog succeeded, 0 when it was refused and an older catalog is served.",
		}),
		domains: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailautoconf_catalog_domains",
			Help: "Mail domains in the catalog served.",
		}),
		providers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailautoconf_catalog_providers",
			Help: "Providers in the catalog served.",
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.reloads, m.lastGood, m.lastOK, m.domains, m.providers,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Both results show from the start, so that rate() and alerts on
	// failures work before the first one.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m
}

// Register adds collectors of another component (the certificate
// storage's, say) to the metrics served. Their label values must come
// from closed sets too. Call it before serving; it panics on a
// collector already registered or a series of the same name, as
// prometheus.Registry.MustRegister does: a wiring mistake.
func (m *Metrics) Register(cs ...prometheus.Collector) {
	if m == nil {
		return
	}
	m.registry.MustRegister(cs...)
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		Registry:          m.registry, // promhttp_* metrics about the scrapes themselves
		ErrorHandling:     promhttp.ContinueOnError,
		Timeout:           5 * time.Second,
		EnableOpenMetrics: true,
	})
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

// CatalogLoaded records the catalog served from now on: at start, and
// after each successful reload (see Reloaded).
func (m *Metrics) CatalogLoaded(cat *provision.Catalog, at time.Time) {
	if m == nil || cat == nil {
		return
	}
	m.domains.Set(float64(cat.DomainCount()))
	m.providers.Set(float64(len(cat.Providers())))
	m.lastGood.Set(float64(at.UnixNano()) / 1e9)
	m.lastOK.Set(1)
}

// Reloaded records a successful reload that swapped in cat.
func (m *Metrics) Reloaded(cat *provision.Catalog, at time.Time) {
	if m == nil {
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.CatalogLoaded(cat, at)
}

// ReloadFailed records a refused reload; the previous catalog is still
// served.
func (m *Metrics) ReloadFailed() {
	if m == nil {
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
	m.lastOK.Set(0)
}

// WatchCertificates exports the expiry of each HTTPS certificate: expiry
// is called at every scrape and returns, by host name, the NotAfter of the
// certificate served (names without one are left out). The names are the
// catalog's (autoconfig.<d>, autodiscover.<d>, tls_names), so the series
// are bounded by the catalog, never by requests. Call it once, before
// serving.
func (m *Metrics) WatchCertificates(expiry func() map[string]time.Time) {
	if m == nil {
		return
	}
	m.registry.MustRegister(certCollector(expiry))
}

var certExpiryDesc = prometheus.NewDesc(
	"mailautoconf_certificate_expiry_timestamp_seconds",
	"Unix time the HTTPS certificate served for a name expires.",
	[]string{"name"}, nil,
)

// certCollector reads certificate expiries at scrape time, so that a
// renewal shows without any bookkeeping.
type certCollector func() map[string]time.Time

func (f certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- certExpiryDesc }

func (f certCollector) Collect(ch chan<- prometheus.Metric) {
	for name, notAfter := range f() {
		if notAfter.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, float64(notAfter.Unix()), name)
	}
}
