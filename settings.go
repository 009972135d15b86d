package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/kelseyhightower/envconfig"

	"mailautoconf/internal/server"
	"mailautoconf/provision"
)

// envPrefix is the prefix of every setting's environment variable.
const envPrefix = "MAILAUTOCONF"

// loadSettings reads the settings (the fields of server.Config, each
// from its MAILAUTOCONF_* variable, once: no other code reads them),
// validates them and normalises PUBLIC_HOST. It refuses unknown
// MAILAUTOCONF_* variables, so that a misspelt setting is not silently
// ignored. Directories (issue 15) read the variables the catalog names
// for their URLs and passwords as the service runs, through Getenv.
func loadSettings() (*server.Config, error) {
	s := server.Config{Getenv: os.Getenv}
	if err := envconfig.Process(envPrefix, &s); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	known := settingNames(&s)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix+"_") && !slices.Contains(known, name) {
			return nil, fmt.Errorf("settings: unknown variable %s (known: %s)", name, strings.Join(known, ", "))
		}
	}
	switch s.LogFormat {
	case "text", "json":
	default:
		return nil, fmt.Errorf("settings: %s_LOG_FORMAT=%q: want text or json", envPrefix, s.LogFormat)
	}
	if _, err := server.ParseLevel(s.LogLevel); err != nil {
		return nil, err
	}
	if err := checkTLSSettings(&s); err != nil {
		return nil, err
	}
	if err := checkLimitSettings(&s); err != nil {
		return nil, err
	}
	if s.PublicHost != "" {
		// Autodiscover v2 answers put it into URLs clients follow.
		h, err := provision.NormalizeHost(s.PublicHost)
		if err != nil {
			return nil, fmt.Errorf("settings: %s_PUBLIC_HOST=%q: not a host name", envPrefix, s.PublicHost)
		}
		s.PublicHost = h
	}
	if err := checkWatchSettings(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// checkWatchSettings refuses DNS watch settings that make no sense
// (internal/dnswatch; docs/guide/watch.md), and a watch with nothing to
// compare the names with.
func checkWatchSettings(s *server.Config) error {
	switch {
	case s.DNSWatch < 0:
		return fmt.Errorf("settings: %s_DNS_WATCH=%v: want an interval (e.g. 6h), or 0 for off", envPrefix, s.DNSWatch)
	case s.DNSWatchQPS < 0:
		return fmt.Errorf("settings: %s_DNS_WATCH_QPS=%v: want queries a second, 0 for unpaced", envPrefix, s.DNSWatchQPS)
	case s.DNSWatchRecheck <= 0:
		return fmt.Errorf("settings: %s_DNS_WATCH_RECHECK=%v: want an interval (e.g. 2m)", envPrefix, s.DNSWatchRecheck)
	}
	for _, r := range s.DNSResolvers {
		host, port, err := net.SplitHostPort(strings.TrimSpace(r))
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return fmt.Errorf("settings: %s_DNS_RESOLVERS: %q: want host:port, e.g. 192.0.2.53:53 or [2001:db8::53]:53", envPrefix, r)
		}
	}
	if s.DNSWatch == 0 {
		return nil
	}
	t, err := dnsTarget(s.PublicHost, s.PublicIpv4, s.PublicIpv6)
	if err != nil {
		return fmt.Errorf("settings: %s_PUBLIC_IPV4/_IPV6: %v", envPrefix, err)
	}
	if t.Host == "" && len(t.IPv4)+len(t.IPv6) == 0 {
		return fmt.Errorf("settings: %[1]s_DNS_WATCH checks that the domains' names point at this service: set %[1]s_PUBLIC_HOST, or %[1]s_PUBLIC_IPV4/%[1]s_PUBLIC_IPV6", envPrefix)
	}
	return nil
}

// settingNames returns the environment variable of every setting, as
// envconfig itself derives them.
func settingNames(s *server.Config) []string {
	var b strings.Builder
	if err := envconfig.Usagef(envPrefix, s, &b, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		panic("envconfig usage template: " + err.Error())
	}
	return strings.Fields(b.String())
}

// printSettings writes every setting with its default and description.
func printSettings(w io.Writer) error {
	return envconfig.Usagef(envPrefix, &server.Config{}, w, `{{range .}}{{usage_key .}}
    {{usage_description .}}{{if usage_default .}} (default {{usage_default .}}){{end}}
{{end}}`)
}

// checkTLSSettings refuses HTTPS settings that contradict each other, at
// start rather than at the first handshake.
func checkTLSSettings(s *server.Config) error {
	static := s.TLSCert != "" || s.TLSKey != "" || s.TLSDir != ""
	switch {
	case (s.TLSCert == "") != (s.TLSKey == ""):
		return fmt.Errorf("settings: %[1]s_TLS_CERT and %[1]s_TLS_KEY go together", envPrefix)
	case s.TLSCert != "" && s.TLSDir != "":
		return fmt.Errorf("settings: %[1]s_TLS_CERT and %[1]s_TLS_DIR exclude each other", envPrefix)
	case static && s.TLSListen == "":
		return fmt.Errorf("settings: certificate files are set but %s_TLS_LISTEN is not: there is no HTTPS listener to use them", envPrefix)
	case s.SignWithTLS && s.TLSListen == "":
		return fmt.Errorf("settings: %[1]s_SIGN_WITH_TLS needs HTTPS (%[1]s_TLS_LISTEN)", envPrefix)
	case s.SignWithTLS && s.PublicHost == "":
		return fmt.Errorf("settings: %[1]s_SIGN_WITH_TLS signs with the certificate of %[1]s_PUBLIC_HOST, which is not set", envPrefix)
	}
	if err := checkACMESettings(s, static); err != nil {
		return err
	}
	if s.TLSListen != "" && !static {
		if s.DataDir == "" && s.Storage == "" {
			return fmt.Errorf("settings: HTTPS with ACME certificates needs %[1]s_DATA_DIR or %[1]s_STORAGE to keep them in (or give %[1]s_TLS_CERT/%[1]s_TLS_KEY or %[1]s_TLS_DIR)", envPrefix)
		}
		if u, err := url.Parse(s.AcmeDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("settings: %s_ACME_DIRECTORY=%q: want an https:// URL", envPrefix, s.AcmeDirectory)
		}
	}
	return nil
}

// storageSchemes are the schemes of MAILAUTOCONF_STORAGE that
// certstore.Open knows.
var storageSchemes = []string{"postgres", "postgresql", "redis", "rediss"}

// checkACMESettings refuses the shared storage and on-demand settings
// where they contradict the others. Its messages never repeat the
// storage URL: it may hold a password.
func checkACMESettings(s *server.Config, static bool) error {
	if s.Storage != "" {
		u, err := url.Parse(s.Storage)
		if err != nil || !slices.Contains(storageSchemes, u.Scheme) {
			return fmt.Errorf("settings: %s_STORAGE: want a postgres://, postgresql://, redis:// or rediss:// URL (its value is not repeated here: it may hold a password)", envPrefix)
		}
	}
	switch {
	case s.AcmeOrderRate < 1:
		return fmt.Errorf("settings: %s_ACME_ORDER_RATE=%d: want new orders a minute, 1 or more", envPrefix, s.AcmeOrderRate)
	case s.Storage != "" && static:
		return fmt.Errorf("settings: %[1]s_STORAGE keeps ACME certificates, but certificate files are set (%[1]s_TLS_CERT or %[1]s_TLS_DIR): choose one", envPrefix)
	case s.AcmeOnDemand && static:
		return fmt.Errorf("settings: %[1]s_ACME_ON_DEMAND obtains certificates from the ACME CA, but certificate files are set (%[1]s_TLS_CERT or %[1]s_TLS_DIR): choose one", envPrefix)
	case s.Storage != "" && s.TLSListen == "":
		return fmt.Errorf("settings: %[1]s_STORAGE keeps HTTPS certificates, but %[1]s_TLS_LISTEN is not set: there is no HTTPS listener", envPrefix)
	case s.AcmeOnDemand && s.TLSListen == "":
		return fmt.Errorf("settings: %[1]s_ACME_ON_DEMAND needs HTTPS (%[1]s_TLS_LISTEN)", envPrefix)
	}
	return nil
}

// checkLimitSettings refuses limits that make no sense.
func checkLimitSettings(s *server.Config) error {
	switch {
	case s.RateLimit < 0:
		return fmt.Errorf("settings: %s_RATE_LIMIT=%v: want requests a second, 0 for no limit", envPrefix, s.RateLimit)
	case s.RateBurst < 1:
		return fmt.Errorf("settings: %s_RATE_BURST=%d: want 1 or more", envPrefix, s.RateBurst)
	case s.MaxConnections < 0:
		return fmt.Errorf("settings: %s_MAX_CONNECTIONS=%d: want 0 (bounded by file descriptors) or more", envPrefix, s.MaxConnections)
	case s.MaxConnectionsPerClient < 1:
		return fmt.Errorf("settings: %s_MAX_CONNECTIONS_PER_CLIENT=%d: want 1 or more", envPrefix, s.MaxConnectionsPerClient)
	}
	return nil
}
