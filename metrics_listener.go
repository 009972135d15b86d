package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"mailautoconf/handlers"
)

// listenMetrics binds the operations listener (MAILAUTOCONF_METRICS_LISTEN):
// /metrics, /healthz and /readyz, apart from the public listener so that
// the metrics need not be public, and so that the probes are answered
// while clients hold every public connection. It has connection limits
// of its own, the same values as the public listeners'. None when the
// setting is unset.
func listenMetrics(s *Settings, h *handlers.Handler, log *slog.Logger) ([]served, error) {
	if s.MetricsListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", s.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics listener (%s_METRICS_LISTEN): %w", envPrefix, err)
	}
	log.Info("serving metrics and probes", "listen", ln.Addr().String())
	srv := newHTTPServer(h.OpsRouter(), log)
	return []served{{srv: srv, ln: guardConnections(ln, srv, connectionLimits(s, listenerCount(s)))}}, nil
}

// watchCertificates exports the expiry of the HTTPS certificates in the
// metrics; nothing without HTTPS.
func watchCertificates(m *handlers.Metrics, t *httpsService) {
	if t == nil {
		return
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

// cmdHealthcheck asks the service running on this host for /healthz and
// succeeds on a 200: the container image's HEALTHCHECK, since a
// distroless image has no curl. The URL defaults to the plain listener of
// MAILAUTOCONF_LISTEN on the loopback address.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var url string
	switch len(args) {
	case 0:
		s, err := loadSettings()
		if err != nil {
			return err
		}
		addr, err := loopback(s.Listen)
		if err != nil {
			return fmt.Errorf("%s_LISTEN=%q: %w", envPrefix, s.Listen, err)
		}
		url = "http://" + addr + "/healthz"
	case 1:
		url = args[0]
	default:
		return errors.New("usage: mailautoconf healthcheck [URL]")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, body)
	}
	_, err = stdout.Write(body)
	return err
}

// loopback turns a listen address into one to connect to on this host:
// an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes the
// loopback address of its family.
func loopback(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}
