package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mailautoconf/provision"
)

// TestMetricsReloadsAndCertificates: the catalog's series after loads,
// reloads and refusals, and the certificates' expiry read at scrape time.
func TestMetricsReloadsAndCertificates(t *testing.T) {
	m := New()
	cat := provision.Demo()
	m.CatalogLoaded(cat, time.Unix(100, 0))
	m.ReloadFailed()
	m.ReloadFailed()
	m.Reloaded(cat, time.Unix(200, 0))
	m.ReloadFailed()
	expiry := map[string]time.Time{
		"autoconfig.example.com": time.Unix(3000, 0),
		"autoconfig.example.net": {}, // no certificate yet: left out
	}
	m.WatchCertificates(func() map[string]time.Time { return expiry })
	want := `
# HELP mailautoconf_catalog_reloads_total Catalog reloads after start (SIGHUP or a change of its files), by result: success (swapped in) or failure (refused, the previous catalog kept).
# TYPE mailautoconf_catalog_reloads_total counter
mailautoconf_catalog_reloads_total{result="failure"} 3
mailautoconf_catalog_reloads_total{result="success"} 1
# HELP mailautoconf_catalog_last_success_timestamp_seconds Unix time the catalog now served was loaded (at start or by the last successful reload).
# TYPE mailautoconf_catalog_last_success_timestamp_seconds gauge
mailautoconf_catalog_last_success_timestamp_seconds 200
# HELP mailautoconf_catalog_last_reload_successful 1 when the last load or reload of the catalog succeeded, 0 when it was refused and an older catalog is served.
# TYPE mailautoconf_catalog_last_reload_successful gauge
mailautoconf_catalog_last_reload_successful 0
# HELP mailautoconf_catalog_providers Providers in the catalog served.
# TYPE mailautoconf_catalog_providers gauge
mailautoconf_catalog_providers 1
# HELP mailautoconf_certificate_expiry_timestamp_seconds Unix time the HTTPS certificate served for a name expires.
# TYPE mailautoconf_certificate_expiry_timestamp_seconds gauge
mailautoconf_certificate_expiry_timestamp_seconds{name="autoconfig.example.com"} 3000
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
		"mailautoconf_catalog_reloads_total", "mailautoconf_catalog_last_success_timestamp_seconds",
		"mailautoconf_catalog_last_reload_successful", "mailautoconf_catalog_providers",
		"mailautoconf_certificate_expiry_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	// A nil *Registry records nothing and does not panic.
	var none *Registry
	none.CatalogLoaded(cat, time.Now())
	none.Reloaded(cat, time.Now())
	none.ReloadFailed()
	none.Served(cat)
	none.WatchCertificates(nil)
	none.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"}))
}
