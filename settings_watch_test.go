package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWatchSettings(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"MAILAUTOCONF_DNS_WATCH", "-1h"}, "DNS_WATCH=-1h0m0s: want an interval"},
		{[]string{"MAILAUTOCONF_DNS_WATCH", "often"}, "DNSWatch"},
		{[]string{"MAILAUTOCONF_DNS_WATCH_QPS", "-3"}, "DNS_WATCH_QPS=-3"},
		{[]string{"MAILAUTOCONF_DNS_WATCH_RECHECK", "0"}, "DNS_WATCH_RECHECK=0s"},
		{[]string{"MAILAUTOCONF_DNS_WATCH_RECHECK", "-2m"}, "DNS_WATCH_RECHECK=-2m0s"},
		{[]string{"MAILAUTOCONF_DNS_RESOLVERS", "192.0.2.53"}, `DNS_RESOLVERS: "192.0.2.53": want host:port`},
		{[]string{"MAILAUTOCONF_DNS_RESOLVERS", "192.0.2.53:53,:53"}, `DNS_RESOLVERS: ":53"`},
		{[]string{"MAILAUTOCONF_DNS_RESOLVERS", "192.0.2.53:dns"}, `"192.0.2.53:dns"`},
		{[]string{"MAILAUTOCONF_DNS_RESOLVERS", "192.0.2.53:70000"}, `"192.0.2.53:70000"`},
		{[]string{"MAILAUTOCONF_DNS_WATCH", "6h"}, "set MAILAUTOCONF_PUBLIC_HOST"},
		{[]string{"MAILAUTOCONF_DNS_WATCH", "6h", "MAILAUTOCONF_PUBLIC_IPV4", "2001:db8::1"}, "not an IPv4 address"},
	} {
		t.Run(strings.Join(tc.env, "="), func(t *testing.T) {
			for i := 0; i+1 < len(tc.env); i += 2 {
				t.Setenv(tc.env[i], tc.env[i+1])
			}
			if _, err := loadSettings(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadSettings() = %v, want an error with %q", err, tc.want)
			}
		})
	}
	s, err := loadSettings()
	if err != nil || s.DNSWatch != 0 || s.DNSWatchQPS != 50 || s.DNSWatchRecheck != 2*time.Minute || s.DNSResolvers != nil || s.AdminToken != "" {
		t.Errorf("defaults: loadSettings() = %+v, %v", s, err)
	}
	t.Setenv("MAILAUTOCONF_DNS_WATCH", "6h")
	t.Setenv("MAILAUTOCONF_DNS_WATCH_QPS", "0")
	t.Setenv("MAILAUTOCONF_DNS_RESOLVERS", "192.0.2.53:53, [2001:db8::53]:5353")
	t.Setenv("MAILAUTOCONF_PUBLIC_IPV4", "192.0.2.1")
	t.Setenv("MAILAUTOCONF_ADMIN_TOKEN", "t0ken")
	s, err = loadSettings()
	if err != nil || s.DNSWatch != 6*time.Hour || s.DNSWatchQPS != 0 || s.AdminToken != "t0ken" ||
		!slices.Equal(s.DNSResolvers, []string{"192.0.2.53:53", " [2001:db8::53]:5353"}) {
		t.Errorf("loadSettings() = %+v, %v", s, err)
	}
}
