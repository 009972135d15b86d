package server

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"mailautoconf/handlers"
	"mailautoconf/internal/metrics"
)

// listenMetrics binds the operations listener at addr
// (MAILAUTOCONF_METRICS_LISTEN): /metrics, /healthz and /readyz, apart
// from the public listener so that the metrics need not be public, and
// so that the probes are answered while clients hold every public
// connection. It has connection limits of its own, the same values as
// the public listeners'. None when addr is empty.
func listenMetrics(addr string, limits connLimits, h *handlers.Handler, log *slog.Logger) ([]served, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener (%s_METRICS_LISTEN): %w", settingPrefix, err)
	}
	log.Info("serving metrics and probes", "listen", ln.Addr().String())
	srv := newHTTPServer(withProfiling(h.OpsRouter()), log)
	return []served{{srv: srv, ln: guardConnections(ln, srv, limits)}}, nil
}

// watchCertificates exports the expiry of the HTTPS certificates in the
// metrics, and with ACME the operations on their storage; nothing
// without HTTPS.
func watchCertificates(m *metrics.Registry, t *httpsService) {
	if t == nil {
		return
	}
	if t.storage != nil {
		m.Register(t.storage.Collectors()...)
	}
	m.WatchCertificates(func() map[string]time.Time {
		out := map[string]time.Time{}
		for _, st := range t.source.Status() {
			if !st.NotAfter.IsZero() {
				out[st.Name] = st.NotAfter
			}
		}
		return out
	})
}

// closeListeners closes the listeners of servers that never served (on
// an error before serving); closing one already shut down does nothing.
func closeListeners(servers []served) {
	for _, s := range servers {
		_ = s.ln.Close()
	}
}
