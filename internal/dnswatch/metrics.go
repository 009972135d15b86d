package dnswatch

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the watch's series, read from it at each scrape: no
// per-domain label (issue 25), so 100,000 domains are a handful of
// series.
type metrics struct {
	w        *Watch
	domains  *prometheus.Desc
	last     *prometheus.Desc
	duration *prometheus.Desc
	queries  *prometheus.Desc
}

func newMetrics(w *Watch) *metrics {
	return &metrics{
		w: w,
		domains: prometheus.NewDesc("mailautoconf_dns_domains",
			"Served domains by the state of their DNS records at the DNS watch's last check: ok, missing, drift, conflict (docs/guide/dns.md#states), or unchecked (not checked yet).",
			[]string{"state"}, nil),
		last: prometheus.NewDesc("mailautoconf_dns_sweep_last_timestamp_seconds",
			"Unix time the DNS watch's last complete sweep of every domain ended; 0 before the first.", nil, nil),
		duration: prometheus.NewDesc("mailautoconf_dns_sweep_duration_seconds",
			"How long the DNS watch's last complete sweep took.", nil, nil),
		queries: prometheus.NewDesc("mailautoconf_dns_queries_total",
			"DNS queries the DNS watch has sent, sweeps and rechecks.", nil, nil),
	}
}

// Collectors returns the watch's metrics, for the server's registry
// (internal/metrics).
func (w *Watch) Collectors() []prometheus.Collector { return []prometheus.Collector{w.metrics} }

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.domains
	ch <- m.last
	ch <- m.duration
	ch <- m.queries
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	counts := m.w.Counts()
	for _, s := range States {
		ch <- prometheus.MustNewConstMetric(m.domains, prometheus.GaugeValue, float64(counts[s]), s)
	}
	end, took := m.w.LastSweep()
	last := 0.0
	if !end.IsZero() {
		last = float64(end.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(m.last, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(m.duration, prometheus.GaugeValue, took.Seconds())
	ch <- prometheus.MustNewConstMetric(m.queries, prometheus.CounterValue, float64(m.w.Queries()))
}
