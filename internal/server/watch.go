package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/dnswatch"
	"mailautoconf/internal/metrics"
	"mailautoconf/provision"
)

// dnsWatch is serve's DNS watch (MAILAUTOCONF_DNS_WATCH, internal/dnswatch)
// and the ACME manager it tells when names start to point at us. A nil
// *dnsWatch is the watch off.
type dnsWatch struct {
	w   *dnswatch.Watch
	log *slog.Logger
	// changed is called when names start to point at us: the ACME
	// manager's DNSChanged, once HTTPS is started.
	changed atomic.Pointer[func()]
}

// newDNSWatch builds the DNS watch of cfg over the catalog served, its
// metrics in reg; nil when cfg.DNSWatch is 0. drifted, when set, hears
// of the domains found missing or drifted (dnsupdates.go). Run starts it (start) once
// the listeners are up.
func newDNSWatch(cfg *Config, current *atomic.Pointer[provision.Catalog], reg *metrics.Registry, log *slog.Logger, drifted func(string)) (*dnsWatch, error) {
	if cfg.DNSWatch <= 0 {
		return nil, nil
	}
	target, err := watchTarget(cfg)
	if err != nil {
		return nil, err
	}
	d := &dnsWatch{log: log}
	w, err := dnswatch.New(dnswatch.Config{
		Interval:  cfg.DNSWatch,
		Recheck:   cfg.DNSWatchRecheck,
		QPS:       cfg.DNSWatchQPS,
		Resolvers: cfg.DNSResolvers,
		Target:    target,
		Catalog:   current.Load,
		Probe:     dnscheck.HTTPProbe(0, dnscheck.PublicDialer(0), dnscheck.Ours(func(d string) (*provision.Provider, error) { return current.Load().Lookup(d) })),
		Log:       log,
		Drifted:   drifted,
		PointsAtUs: func(names []string) {
			log.Info("DNS watch: names now point at this service", "names", len(names), "first", names[0])
			if f := d.changed.Load(); f != nil {
				(*f)()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("DNS watch (%s_DNS_WATCH): %w", settingPrefix, err)
	}
	d.w = w
	reg.Register(w.Collectors()...)
	return d, nil
}

// watchTarget is where the domains' discovery names should lead:
// PUBLIC_HOST, PUBLIC_IPV4 and PUBLIC_IPV6 (validated by the root
// package).
func watchTarget(cfg *Config) (dnsrecords.Target, error) {
	t := dnsrecords.Target{Host: cfg.PublicHost}
	for _, list := range []struct {
		name, value string
		v4          bool
	}{{"PUBLIC_IPV4", cfg.PublicIpv4, true}, {"PUBLIC_IPV6", cfg.PublicIpv6, false}} {
		for _, f := range strings.Split(list.value, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			a, err := netip.ParseAddr(f)
			if err != nil || a.Is4() != list.v4 || a.Is4In6() {
				return t, fmt.Errorf("settings: %s_%s: %q is not an IPv%s address", settingPrefix, list.name, f, map[bool]string{true: "4", false: "6"}[list.v4])
			}
			if list.v4 {
				t.IPv4 = append(t.IPv4, a)
			} else {
				t.IPv6 = append(t.IPv6, a)
			}
		}
	}
	if t.Host == "" && len(t.IPv4)+len(t.IPv6) == 0 {
		return t, fmt.Errorf("settings: %[1]s_DNS_WATCH checks that names point at this service: set %[1]s_PUBLIC_HOST, or %[1]s_PUBLIC_IPV4/%[1]s_PUBLIC_IPV6", settingPrefix)
	}
	return t, nil
}

// gate is the ACME gate (certs.ACMEOptions.DNSGate); nil with the watch
// off.
func (d *dnsWatch) gate() func(string) bool {
	if d == nil {
		return nil
	}
	return d.w.Gate
}

// watch is the watch /domains shows; nil when off.
func (d *dnsWatch) watch() *dnswatch.Watch {
	if d == nil {
		return nil
	}
	return d.w
}

// start runs the watch until ctx ends, telling https's ACME manager when
// names start to point at us. Nothing when d is nil.
func (d *dnsWatch) start(ctx context.Context, https *httpsService) {
	if d == nil {
		return
	}
	if https != nil && https.acme != nil {
		f := https.acme.DNSChanged
		d.changed.Store(&f)
	}
	go d.w.Run(ctx)
}
