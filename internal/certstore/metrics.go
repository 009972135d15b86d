package certstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the operations of an Instrumented storage. Register its
// Collectors in the service's registry.
type Metrics struct {
	ops      *prometheus.CounterVec
	lockWait prometheus.Histogram
	up       prometheus.Gauge
	refusing prometheus.Gauge
}

// NewMetrics makes the storage's series:
// mailautoconf_storage_operations_total{op,result} (result ok, not_found
// or error), mailautoconf_storage_lock_wait_seconds,
// mailautoconf_storage_up and mailautoconf_storage_refusing.
func NewMetrics() *Metrics {
	return &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailautoconf_storage_operations_total",
			Help: "Operations on the certificate storage, by operation and result (ok, not_found, error).",
		}, []string{"op", "result"}),
		lockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mailautoconf_storage_lock_wait_seconds",
			Help:    "Time a replica waited to take a certificate storage lock (another replica holding it, or the storage down).",
			Buckets: []float64{0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300},
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailautoconf_storage_up",
			Help: "1 when the last operation on the certificate storage reached it, 0 when it failed.",
		}),
		refusing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailautoconf_storage_refusing",
			Help: "1 while the certificate storage answers an operation with an error (a Redis WRONGTYPE or READONLY reply, a PostgreSQL permission error, a full disk) and has not done it since.",
		}),
	}
}

// Collectors are the series to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.ops, m.lockWait, m.up, m.refusing}
}

// Instrumented is a Storage that counts its operations, logs when the
// backend becomes unreachable and reachable again, or starts and stops
// refusing operations, and reports it for /readyz. Every method passes
// through to the backend: it caches nothing (certmagic's in-memory
// certificate cache is what keeps handshakes off the storage).
//
// Unreachable and refusing are two states. A backend is unreachable when
// the last operation did not reach it (refused connection, timeout), and
// reachable again at the next one that did, a ping included. It refuses
// an operation when it answered it with an error (refused in
// certstore.go: a Redis that holds a key of the wrong type, a read-only
// replica, a database the user may not write); a ping, a lock or a read
// that succeeds meanwhile says nothing about that, so the refusal stays
// until the same operation succeeds. Each state's start and end is one
// log line, never one per operation.
type Instrumented struct {
	Storage
	m   *Metrics
	log *slog.Logger

	// calls counts every operation, for tests and benchmarks.
	calls atomic.Int64

	mu      sync.Mutex
	down    bool      // the last operation failed to reach the backend
	reached bool      // the backend did an operation once since start
	lastErr string    // the last error, why it is down or not reached
	checked time.Time // of the last Ready probe
	// refusals holds, for each operation whose last attempt the backend
	// refused, why; lastRefused is the operation refused last.
	refusals    map[string]string
	lastRefused string
}

// Instrument wraps s; m may be nil (nothing counted), log may be nil.
func Instrument(s Storage, m *Metrics, log *slog.Logger) *Instrumented {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Instrumented{Storage: s, m: m, log: log, refusals: map[string]string{}}
}

// Calls is the number of operations so far, pings included.
func (s *Instrumented) Calls() int64 { return s.calls.Load() }

// done records the outcome of one operation.
func (s *Instrumented) done(op string, err error) {
	s.calls.Add(1)
	result := "ok"
	switch {
	case err == nil:
	case isNotExist(err):
		result = "not_found"
	case errors.Is(err, context.Canceled):
		result = "canceled"
	default:
		result = "error"
	}
	if s.m != nil {
		s.m.ops.WithLabelValues(op, result).Inc()
	}
	if result == "canceled" {
		return // the caller gave up: nothing learnt of the backend
	}
	refusal := result == "error" && refused(err)
	unreachable := result == "error" && !refusal
	s.mu.Lock()
	wasDown, wasRefusing := s.down, len(s.refusals) > 0
	s.down = unreachable
	switch {
	case refusal:
		s.lastErr = oneLine(err)
		s.refusals[op], s.lastRefused = s.lastErr, op
	case unreachable:
		s.lastErr = oneLine(err)
	default:
		s.reached = true
		delete(s.refusals, op)
	}
	refusing := len(s.refusals) > 0
	s.mu.Unlock()
	if s.m != nil {
		s.m.up.Set(map[bool]float64{false: 1, true: 0}[unreachable])
		s.m.refusing.Set(map[bool]float64{false: 0, true: 1}[refusing])
	}
	switch {
	case unreachable && !wasDown:
		s.log.Error("certificate storage unreachable: serving the certificates held in memory; no order or renewal until it is back (retried)",
			"storage", s.String(), "op", op, "error", oneLine(err))
	case !unreachable && wasDown:
		s.log.Info("certificate storage reachable again", "storage", s.String())
	}
	switch {
	case refusing && !wasRefusing:
		s.log.Error("certificate storage refuses operations: serving the certificates held in memory; no order or renewal until it does them (retried)",
			"storage", s.String(), "op", op, "error", oneLine(err))
	case !refusing && wasRefusing:
		s.log.Info("certificate storage accepts operations again", "storage", s.String(), "op", op)
	}
}

func oneLine(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func (s *Instrumented) Store(ctx context.Context, key string, value []byte) error {
	err := s.Storage.Store(ctx, key, value)
	s.done("store", err)
	return err
}

func (s *Instrumented) Load(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Storage.Load(ctx, key)
	s.done("load", err)
	return v, err
}

func (s *Instrumented) Delete(ctx context.Context, key string) error {
	err := s.Storage.Delete(ctx, key)
	s.done("delete", err)
	return err
}

// Exists cannot tell a failure from absence (its signature has no
// error): it is counted as ok either way.
func (s *Instrumented) Exists(ctx context.Context, key string) bool {
	ok := s.Storage.Exists(ctx, key)
	s.calls.Add(1)
	if s.m != nil {
		s.m.ops.WithLabelValues("exists", "ok").Inc()
	}
	return ok
}

func (s *Instrumented) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	v, err := s.Storage.List(ctx, prefix, recursive)
	s.done("list", err)
	return v, err
}

func (s *Instrumented) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	v, err := s.Storage.Stat(ctx, key)
	s.done("stat", err)
	return v, err
}

func (s *Instrumented) Lock(ctx context.Context, name string) error {
	start := time.Now()
	err := s.Storage.Lock(ctx, name)
	if s.m != nil {
		s.m.lockWait.Observe(time.Since(start).Seconds())
	}
	s.done("lock", err)
	return err
}

func (s *Instrumented) Unlock(ctx context.Context, name string) error {
	err := s.Storage.Unlock(ctx, name)
	s.done("unlock", err)
	return err
}

func (s *Instrumented) Ping(ctx context.Context) error {
	err := s.Storage.Ping(ctx)
	s.done("ping", err)
	return err
}

// readyProbeEvery bounds how often Ready probes the backend: /readyz is
// asked by every load balancer and kubelet.
const readyProbeEvery = 2 * time.Second

// Ready is /readyz's report on the storage. A replica is not ready until
// the storage did an operation once (it would hold no certificate to
// serve); once it has, a storage unreachable or refusing operations is
// reported but leaves it ready: it serves what it holds in memory, and
// every replica sharing the storage has the same problem at the same
// moment, so unready would take the whole service down.
func (s *Instrumented) Ready() (bool, []string) {
	s.mu.Lock()
	probe := time.Since(s.checked) >= readyProbeEvery
	if probe {
		s.checked = time.Now()
	}
	s.mu.Unlock()
	if probe {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.Ping(ctx)
		cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.reached:
		return false, []string{fmt.Sprintf("certificate storage %s: not reached yet: %s", s.String(), s.lastErr)}
	case s.down:
		return true, []string{fmt.Sprintf("certificate storage %s: unreachable, serving the certificates held in memory: %s", s.String(), s.lastErr)}
	case len(s.refusals) > 0:
		ops := slices.Sorted(maps.Keys(s.refusals))
		return true, []string{fmt.Sprintf("certificate storage %s: refuses %s, serving the certificates held in memory: %s: %s",
			s.String(), strings.Join(ops, ", "), s.lastRefused, s.refusals[s.lastRefused])}
	}
	return true, []string{fmt.Sprintf("certificate storage %s: ok", s.String())}
}
