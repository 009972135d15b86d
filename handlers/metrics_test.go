package handlers

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mailautoconf/internal/metrics"
	"mailautoconf/provision"
)

// newMetricsConfig is newTestConfig with metrics and a log buffer at
// level.
func newMetricsConfig(t *testing.T, level slog.Level) (Config, *bytes.Buffer) {
	t.Helper()
	cfg, logs, _ := newMetricsRegistry(t, level)
	return cfg, logs
}

// newMetricsRegistry is newMetricsConfig with the process's registry
// serving the request series, as internal/server wires them.
func newMetricsRegistry(t *testing.T, level slog.Level) (Config, *bytes.Buffer, *metrics.Registry) {
	t.Helper()
	cfg := newTestConfig(t, nil)
	var logs bytes.Buffer
	logTo(&cfg, &logs, level)
	reg := metrics.New()
	cfg.Metrics = NewMetrics()
	reg.Register(cfg.Metrics.Collectors()...)
	reg.CatalogLoaded(cfg.Catalog.Load(), time.Unix(1700000000, 0))
	cfg.MetricsHandler = reg.Handler()
	return cfg, &logs, reg
}

const (
	uaThunderbird = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0"
	uaK9          = "okhttp/4.12.0"
)

// TestMetricsAfterKnownRequests: the counts by format, client family,
// status and known/unknown domain after a known set of requests, as the
// /metrics text shows them.
func TestMetricsAfterKnownRequests(t *testing.T) {
	cfg, _, reg := newMetricsRegistry(t, slog.LevelInfo)
	e := New(cfg).Router()
	for _, r := range []struct{ target, ua string }{
		{"http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice@example.com", uaThunderbird},
		{"http://example.net/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob@example.net", uaThunderbird},
		{"http://autoconfig.example.com/mail/config-v1.1.xml", uaK9},
		{"http://autoconfig.unknown.org/mail/config-v1.1.xml?emailaddress=carol@unknown.org", uaThunderbird},
		{"http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=not-an-address", uaThunderbird},
		{"http://autoconfig.example.com/mail/config-v1.1.xml", ""}, // Delta Chat sends no User-Agent
		{"http://example.com/healthz", "kube-probe/1.30"},
		{"http://example.com/wp-login.php", "Mozilla/5.0 (compatible; Googlebot/2.1)"},
	} {
		serve(e, http.MethodGet, r.target, "", "User-Agent", r.ua)
	}

	want := `
# HELP mailautoconf_requests_total Requests answered, by format, guessed client family, HTTP status and whether the domain is served (known, unknown, none).
# TYPE mailautoconf_requests_total counter
mailautoconf_requests_total{client="deltachat",domain="known",format="autoconfig",status="200"} 1
mailautoconf_requests_total{client="k9",domain="known",format="autoconfig",status="200"} 1
mailautoconf_requests_total{client="other",domain="none",format="health",status="200"} 1
mailautoconf_requests_total{client="other",domain="none",format="none",status="404"} 1
mailautoconf_requests_total{client="thunderbird",domain="known",format="autoconfig",status="200"} 2
mailautoconf_requests_total{client="thunderbird",domain="none",format="autoconfig",status="400"} 1
mailautoconf_requests_total{client="thunderbird",domain="unknown",format="autoconfig",status="404"} 1
# HELP mailautoconf_catalog_domains Mail domains in the catalog served.
# TYPE mailautoconf_catalog_domains gauge
mailautoconf_catalog_domains 2
# HELP mailautoconf_catalog_reloads_total Catalog reloads after start (SIGHUP or a change of its files), by result: success (swapped in) or failure (refused, the previous catalog kept).
# TYPE mailautoconf_catalog_reloads_total counter
mailautoconf_catalog_reloads_total{result="failure"} 0
mailautoconf_catalog_reloads_total{result="success"} 0
# HELP mailautoconf_catalog_last_success_timestamp_seconds Unix time the catalog now served was loaded (at start or by the last successful reload).
# TYPE mailautoconf_catalog_last_success_timestamp_seconds gauge
mailautoconf_catalog_last_success_timestamp_seconds 1.7e+09
`
	if err := testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(want),
		"mailautoconf_requests_total", "mailautoconf_catalog_domains",
		"mailautoconf_catalog_reloads_total", "mailautoconf_catalog_last_success_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if n := histogramCount(t, reg.Gatherer(), FormatAutoconfig); n != 6 {
		t.Errorf("mailautoconf_request_duration_seconds_count{format=autoconfig} = %d, want 6", n)
	}
}

// histogramCount reads the sample count of the latency histogram.
func histogramCount(t *testing.T, g prometheus.Gatherer, format string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mailautoconf_request_duration_seconds" {
			continue
		}
		for _, met := range mf.GetMetric() {
			for _, l := range met.GetLabel() {
				if l.GetName() == "format" && l.GetValue() == format {
					return met.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// TestMetricsLabelsBounded: whatever hosts, addresses, paths and
// User-Agents clients send, every label value comes from a closed set.
func TestMetricsLabelsBounded(t *testing.T) {
	cfg, _, reg := newMetricsRegistry(t, slog.LevelInfo)
	reg.WatchCertificates(func() map[string]time.Time { return nil })
	e := New(cfg).Router()
	for i, target := range []string{
		"http://autoconfig.a1.example/mail/config-v1.1.xml",
		"http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=zed@b2.example",
		"http://c3.example/v1.1/d4.example",
		"http://e5.example/autodiscover/autodiscover.xml",
		"http://f6.example/" + strings.Repeat("x", 300),
		"http://g7.example/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=%00",
	} {
		serve(e, http.MethodGet, target, "", "User-Agent", "agent-"+strings.Repeat("y", i))
	}
	serve(e, http.MethodPost, "http://autoconfig.example.com/mail/config-v1.1.xml", "x")

	allowed := map[string][]string{
		"format": Formats,
		"client": func() []string {
			var out []string
			for _, f := range ClientFamilies {
				out = append(out, string(f))
			}
			return out
		}(),
		"domain": {DomainKnown, DomainUnknown, DomainNone},
		"result": {"success", "failure"},
	}
	status := regexp.MustCompile(`^[1-5][0-9][0-9]$`)
	mfs, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "mailautoconf_") {
			continue
		}
		for _, met := range mf.GetMetric() {
			for _, l := range met.GetLabel() {
				switch name, v := l.GetName(), l.GetValue(); {
				case name == "status":
					if !status.MatchString(v) {
						t.Errorf("%s: status=%q", mf.GetName(), v)
					}
				case name == "le":
				default:
					if !slices.Contains(allowed[name], v) {
						t.Errorf("%s: label %s=%q is not from a closed set", mf.GetName(), name, v)
					}
				}
			}
		}
	}
}

// TestMetricsLint: names, help and units follow Prometheus conventions.
func TestMetricsLint(t *testing.T) {
	cfg, _, reg := newMetricsRegistry(t, slog.LevelInfo)
	serve(New(cfg).Router(), http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml", "")
	problems, err := testutil.GatherAndLint(reg.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "mailautoconf_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestMetricsMobileSync: a POX POST in the mobilesync schema counts as
// its own format, on the same route as the outlook schema.
func TestMetricsMobileSync(t *testing.T) {
	cfg, logs, reg := newMetricsRegistry(t, slog.LevelInfo)
	e := New(cfg).Router()
	const body = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/%s/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.com</EMailAddress>
    <AcceptableResponseSchema>%s</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
	for _, schema := range []struct{ ns, accept string }{
		{"mobilesync", "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"},
		{"outlook", "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"},
	} {
		rec := serve(e, http.MethodPost, "http://autodiscover.example.com/autodiscover/autodiscover.xml",
			fmt.Sprintf(body, schema.ns, schema.accept), "Content-Type", "text/xml", "User-Agent", "Apple-iPhone9C4/1602.92")
		wantStatus(t, rec, http.StatusOK)
	}
	want := `
# HELP mailautoconf_requests_total Requests answered, by format, guessed client family, HTTP status and whether the domain is served (known, unknown, none).
# TYPE mailautoconf_requests_total counter
mailautoconf_requests_total{client="apple",domain="known",format="autodiscover",status="200"} 1
mailautoconf_requests_total{client="apple",domain="known",format="mobilesync",status="200"} 1
`
	if err := testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(want), "mailautoconf_requests_total"); err != nil {
		t.Error(err)
	}
	if !strings.Contains(logs.String(), "format=mobilesync") {
		t.Errorf("log lacks format=mobilesync:\n%s", logs.String())
	}
}

// TestOpsListener: /metrics, /healthz and /readyz on the operations
// listener's router, which logs nothing.
func TestOpsListener(t *testing.T) {
	cfg, logs := newMetricsConfig(t, slog.LevelDebug)
	serve(New(cfg).Router(), http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml", "", "User-Agent", uaK9)
	logs.Reset()
	ops := New(cfg).OpsRouter()

	rec := serve(ops, http.MethodGet, "http://127.0.0.1:9090/metrics", "")
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	for _, want := range []string{
		`mailautoconf_requests_total{client="k9",domain="known",format="autoconfig",status="200"} 1`,
		`mailautoconf_request_duration_seconds_bucket{format="autoconfig",le="+Inf"} 1`,
		"mailautoconf_catalog_domains 2",
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	rec = serve(ops, http.MethodGet, "http://127.0.0.1:9090/healthz", "")
	wantStatus(t, rec, http.StatusOK)
	rec = serve(ops, http.MethodGet, "http://127.0.0.1:9090/readyz", "")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "catalog: 2 domains, 1 providers") {
		t.Errorf("/readyz body %q", rec.Body.String())
	}
	wantStatus(t, serve(ops, http.MethodGet, "http://127.0.0.1:9090/mail/config-v1.1.xml", ""), http.StatusNotFound)
	if logs.Len() != 0 {
		t.Errorf("operations listener logged:\n%s", logs.String())
	}

	// Not ready without a catalog, or when a component says so.
	var empty atomic.Pointer[provision.Catalog]
	ops2 := New(Config{Catalog: &empty, Log: cfg.Log, Ready: []Readiness{ReadinessFunc(func() (bool, []string) { return true, nil })}}).OpsRouter()
	if rec := serve(ops2, http.MethodGet, "http://127.0.0.1:9090/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz without a catalog: %d, want 503", rec.Code)
	}
	wantStatus(t, serve(ops2, http.MethodGet, "http://127.0.0.1:9090/metrics", ""), http.StatusNotFound)
}

// TestRequestLogLine: one line per request with method, route, format,
// status, duration, client, domain and request id; the address and the
// peer only at debug; never a header value.
func TestRequestLogLine(t *testing.T) {
	const secret = "Basic YWxpY2U6c2VjcmV0LXBhc3N3b3Jk"
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		cfg, logs := newMetricsConfig(t, level)
		e := New(cfg).Router()
		rec := serve(e, http.MethodGet, "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice@example.com", "",
			"User-Agent", uaThunderbird, "Authorization", secret, "X-Request-Id", "lb-4711.a_b")
		wantStatus(t, rec, http.StatusOK)
		line := logs.String()
		if strings.Count(line, "\n") != 1 {
			t.Fatalf("want one log line, got:\n%s", line)
		}
		for _, want := range []string{"msg=request", "method=GET", "route=/mail/config-v1.1.xml", "format=autoconfig",
			"status=200", "duration=", "client=thunderbird", "domain=example.com", "request_id=lb-4711.a_b"} {
			if !strings.Contains(line, want) {
				t.Errorf("level %v: log lacks %q:\n%s", level, want, line)
			}
		}
		if strings.Contains(line, "YWxpY2U6") || strings.Contains(line, "Authorization") {
			t.Errorf("level %v: Authorization logged:\n%s", level, line)
		}
		debugOnly := []string{"address=alice@example.com", "remote=192.0.2.1"}
		for _, s := range debugOnly {
			if got := strings.Contains(line, s); got != (level == slog.LevelDebug) {
				t.Errorf("level %v: %q in log = %v:\n%s", level, s, got, line)
			}
		}
	}

	// A client's malformed request id is replaced, not logged.
	cfg, logs := newMetricsConfig(t, slog.LevelInfo)
	serve(New(cfg).Router(), http.MethodGet, "http://example.com/healthz", "", "X-Request-Id", "evil id\" injected=1")
	if m := regexp.MustCompile(`request_id=([A-Z2-7]{26})\n`).FindStringSubmatch(logs.String()); m == nil || strings.Contains(logs.String(), "evil") {
		t.Errorf("malformed request id not replaced by a new one:\n%s", logs.String())
	}
}

// TestEveryRouteHasAFormat: each route of Routes maps to a format, so a
// new route shows in the metrics under its own name. Only pages fall to
// FormatPage by default: a new protocol route must be added to
// routeFormat.
func TestEveryRouteHasAFormat(t *testing.T) {
	e := New(newTestConfig(t, nil)).Router()
	for _, r := range e.Routes() {
		if r.Path != strings.ToLower(r.Path) {
			t.Errorf("route %s %s: not in lower case, as routeFormat reads routes", r.Method, r.Path)
		}
		f := routeFormat(r.Path)
		if !slices.Contains(Formats, f) || f == FormatNone {
			t.Errorf("route %s %s: format %q", r.Method, r.Path, f)
		}
		t.Logf("%-7s %-50s %s", r.Method, r.Path, f)
	}
	for route, want := range map[string]string{
		"":                                       FormatNone,
		"/mail/config-v1.1.xml":                  FormatAutoconfig,
		"/v1.1/:domain":                          FormatAutoconfig,
		"/autodiscover/autodiscover.xml":         FormatAutodiscover,
		"/autodiscover/autodiscover.json/v1.0/*": FormatAutodiscoverJSON,
		"/profile/:domain/:file.mobileconfig":    FormatMobileConfig,
		"/healthz":                               FormatHealth,
		"/":                                      FormatPage,
	} {
		if got := routeFormat(route); got != want {
			t.Errorf("routeFormat(%q) = %q, want %q", route, got, want)
		}
	}
}

// TestObserveRequestConcurrent: requests of many label combinations at
// once each count once in their own series (the series map is copied to
// add one while others read it).
func TestObserveRequestConcurrent(t *testing.T) {
	var none *Metrics // records nothing and does not panic
	none.observeRequest(FormatPage, ClientOther, 200, DomainNone, time.Second)

	m := NewMetrics()
	statuses := []int{200, 400, 404, 413, 429, 500}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 600 {
				m.observeRequest(FormatAutoconfig, ClientFamilies[(g+i)%len(ClientFamilies)], statuses[i%len(statuses)], DomainKnown, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	total := 0.0
	for _, s := range *m.series.Load() {
		total += testutil.ToFloat64(s.count)
	}
	if total != 8*600 {
		t.Errorf("%v requests counted, want %d", total, 8*600)
	}
	if n := len(*m.series.Load()); n != len(ClientFamilies)*len(statuses) {
		t.Errorf("%d series, want %d", n, len(ClientFamilies)*len(statuses))
	}
}
