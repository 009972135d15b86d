// Package metrics is the process's Prometheus registry: the series of the
// catalog served (its size, its loads and reloads), the expiry of the
// HTTPS certificates, the Go runtime's and the process's, and the
// collectors other components register (the HTTP requests' of package
// handlers, the directories', the certificate storage's). It serves them
// all on the operations listener (Handler).
//
// The registry is one server's, never the global one, so that every test
// and every server builds its own. Label values all come from closed
// sets: reload result, and certificate names from the catalog, never
// from requests. It records nothing about requests itself.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"mailautoconf/provision"
)

// Registry holds one server's metrics. A nil *Registry records and
// registers nothing.
type Registry struct {
	registry  *prometheus.Registry
	reloads   *prometheus.CounterVec
	lastGood  prometheus.Gauge
	lastOK    prometheus.Gauge
	domains   prometheus.Gauge
	providers prometheus.Gauge
}

// New returns the metrics of one server, with the Go runtime and process
// collectors.
func New() *Registry {
	r := &Registry{
		registry: prometheus.NewRegistry(),
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
	r.registry.MustRegister(r.reloads, r.lastGood, r.lastOK, r.domains, r.providers,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Both results show from the start, so that rate() and alerts on
	// failures work before the first one.
	r.reloads.WithLabelValues("success")
	r.reloads.WithLabelValues("failure")
	return r
}

// Register adds collectors of another component (the requests' of
// package handlers, the certificate storage's) to the metrics served.
// Their label values must come from closed sets too. Call it before
// serving; it panics on a collector already registered or a series of
// the same name, as prometheus.Registry.MustRegister does: a wiring
// mistake.
func (r *Registry) Register(cs ...prometheus.Collector) {
	if r == nil {
		return
	}
	r.registry.MustRegister(cs...)
}

// TryRegister is Register that returns an error, having registered none
// of cs, instead of panicking: for collectors that come and go with the
// catalog (a directory Set's, replaced at a reload that changes the
// directories).
func (r *Registry) TryRegister(cs ...prometheus.Collector) error {
	if r == nil {
		return nil
	}
	for i, c := range cs {
		if err := r.registry.Register(c); err != nil {
			r.Unregister(cs[:i]...)
			return err
		}
	}
	return nil
}

// Unregister removes collectors TryRegister added, before others of the same
// names take their place (a reload that changes the directories).
func (r *Registry) Unregister(cs ...prometheus.Collector) {
	if r == nil {
		return
	}
	for _, c := range cs {
		r.registry.Unregister(c)
	}
}

// Gatherer returns the registry to read, as Handler serves it.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.registry }

// Handler serves the metrics in the Prometheus exposition formats.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.registry, promhttp.HandlerOpts{
		Registry:          r.registry, // promhttp_* metrics about the scrapes themselves
		ErrorHandling:     promhttp.ContinueOnError,
		Timeout:           5 * time.Second,
		EnableOpenMetrics: true,
	})
}

// CatalogLoaded records the catalog served from now on: at start, and
// after each successful reload (see Reloaded).
func (r *Registry) CatalogLoaded(cat *provision.Catalog, at time.Time) {
	if r == nil || cat == nil {
		return
	}
	r.Served(cat)
	r.lastGood.Set(float64(at.UnixNano()) / 1e9)
	r.lastOK.Set(1)
}

// Served records the size of the catalog now served, swapped in without a
// reload of the files (a directory's new domain list).
func (r *Registry) Served(cat *provision.Catalog) {
	if r == nil || cat == nil {
		return
	}
	r.domains.Set(float64(cat.DomainCount()))
	r.providers.Set(float64(len(cat.Providers())))
}

// Reloaded records a successful reload that swapped in cat.
func (r *Registry) Reloaded(cat *provision.Catalog, at time.Time) {
	if r == nil {
		return
	}
	r.reloads.WithLabelValues("success").Inc()
	r.CatalogLoaded(cat, at)
}

// ReloadFailed records a refused reload; the previous catalog is still
// served.
func (r *Registry) ReloadFailed() {
	if r == nil {
		return
	}
	r.reloads.WithLabelValues("failure").Inc()
	r.lastOK.Set(0)
}

// WatchCertificates exports the expiry of each HTTPS certificate: expiry
// is called at every scrape and returns, by host name, the NotAfter of the
// certificate served (names without one are left out). The names are the
// catalog's (autoconfig.<d>, autodiscover.<d>, tls_names), so the series
// are bounded by the catalog, never by requests. Call it once, before
// serving.
func (r *Registry) WatchCertificates(expiry func() map[string]time.Time) {
	if r == nil {
		return
	}
	r.registry.MustRegister(certCollector(expiry))
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
