package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/labstack/gommon/bytes"

	"mailautoconf/internal/server"
	"mailautoconf/provision"
)

// envPrefix is the prefix of every setting's environment variable.
const envPrefix = "MAILAUTOCONF"

// Settings are read from MAILAUTOCONF_* environment variables, once, by
// loadSettings: no other code reads them. Each field is one setting;
// split_words turns LogFormat into MAILAUTOCONF_LOG_FORMAT.
type Settings struct {
	Listen     string `default:":8080" desc:"address of the plain-HTTP listener"`
	Catalog    string `desc:"catalog YAML file, or directory of *.yaml files merged; unset serves the embedded demo catalog"`
	LogFormat  string `split_words:"true" default:"text" desc:"log format: text or json"`
	LogLevel   string `split_words:"true" default:"info" desc:"log level: debug, info, warn or error (full addresses are logged only at debug)"`
	PublicHost string `split_words:"true" desc:"host name clients reach the service at: the CNAME target of autoconfig.<domain> and autodiscover.<domain>"`
	PublicIpv4 string `split_words:"true" desc:"IPv4 addresses of the service, comma-separated: A records for autoconfig/autodiscover names (mailautoconf dns)"`
	PublicIpv6 string `split_words:"true" desc:"IPv6 addresses of the service, comma-separated: AAAA records for autoconfig/autodiscover names (mailautoconf dns)"`

	// LogFlush batches log lines into one write (internal/logbatch).
	LogFlush time.Duration `split_words:"true" default:"100ms" desc:"longest a log line waits to be written with others (one write per line costs more than a request); 0 writes each line at once"`

	// Limits on what the internet may send (internal/server/limits.go,
	// handlers/ratelimit.go).
	RateLimit               float64 `split_words:"true" desc:"requests a second each client IP address (IPv6: each /64) may make, beyond RATE_BURST at once; over it: 429 with Retry-After; unset or 0: no limit"`
	RateBurst               int     `split_words:"true" default:"20" desc:"requests a client may make at once before RATE_LIMIT applies"`
	MaxConnections          int     `split_words:"true" default:"10000" desc:"open connections per listener; beyond, new ones wait in the kernel's queue, and near it idle keep-alive connections are closed first; 0: bounded by the file descriptor limit"`
	MaxConnectionsPerClient int     `split_words:"true" default:"64" desc:"open connections per listener of one client (IPv4 address, IPv6 /64); beyond, its longest idle one is closed for the new one, or with none idle the new one is closed at once"`

	// HeapFloor lets the heap grow this far before the garbage collector
	// runs (internal/gcfloor).
	HeapFloor byteSize `split_words:"true" default:"32MiB" desc:"heap size below which the garbage collector waits (GOGC=100 above it; GOGC set in the environment overrides it); 0: Go's default"`

	// Operations (internal/server: reload.go, metrics.go): live reload
	// of the catalog, and the metrics and probes listener.
	CatalogWatch  bool   `split_words:"true" default:"true" desc:"reload the catalog when its files change (edits, renames, ConfigMap updates); SIGHUP reloads it in any case"`
	MetricsListen string `split_words:"true" desc:"address of the metrics and probes listener (/metrics, /healthz, /readyz), e.g. 127.0.0.1:9090; unset: off"`

	// HTTPS (internal/server/tls.go). TLS_LISTEN turns it on; certificates come from
	// TLS_CERT/TLS_KEY or TLS_DIR when set, else from the ACME CA.
	TLSListen     string `split_words:"true" desc:"address of the HTTPS listener (e.g. :443); unset: no HTTPS"`
	TLSCert       string `split_words:"true" desc:"certificate chain PEM file, instead of ACME (with TLS_KEY)"`
	TLSKey        string `split_words:"true" desc:"private key PEM file of TLS_CERT"`
	TLSDir        string `split_words:"true" desc:"directory of certificate/key PEM pairs chosen by SNI, instead of ACME"`
	DataDir       string `split_words:"true" desc:"directory keeping ACME account and certificates (required for ACME unless STORAGE is set)"`
	Storage       string `split_words:"true" desc:"URL of the certificate storage several replicas share, instead of DATA_DIR: postgres://, postgresql://, redis:// or rediss:// (internal/certstore); unset: DATA_DIR on disk"`
	AcmeOnDemand  bool   `split_words:"true" default:"false" desc:"obtain a name's certificate at its first TLS handshake instead of at start, for names the catalog or a directory serves at that moment; the handshake waits 4 s at most, the order goes on in the background"`
	AcmeOrderRate int    `split_words:"true" default:"10" desc:"with ACME_ON_DEMAND, new certificate orders a minute per replica; a handshake over it fails at once, and the client's next attempt tries again"`
	AcmeDirectory string `split_words:"true" default:"https://acme-v02.api.letsencrypt.org/directory" desc:"ACME directory URL"`
	AcmeEmail     string `split_words:"true" desc:"contact address of the ACME account"`
	AcmeCARoots   string `split_words:"true" desc:"PEM file of roots to trust for the ACME server itself (private or test CAs)"`
	SignWithTLS   bool   `split_words:"true" desc:"sign Apple profiles with the HTTPS certificate of PUBLIC_HOST when no signing pair is set"`

	// Apple profile signing (internal/server/signing.go): a certificate
	// and its key.
	SignCert string `split_words:"true" desc:"PEM file of the certificate signing Apple profiles, intermediates after it; unset: profiles are unsigned"`
	SignKey  string `split_words:"true" desc:"PEM file of the private key (RSA or ECDSA) of SIGN_CERT"`
}

// loadSettings reads the settings, validates them and normalises
// PUBLIC_HOST. It refuses unknown MAILAUTOCONF_* variables, so that a
// misspelt setting is not silently ignored.
func loadSettings() (*Settings, error) {
	var s Settings
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
	if _, err := parseLevel(s.LogLevel); err != nil {
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
	return &s, nil
}

// settingNames returns the environment variable of every setting, as
// envconfig itself derives them.
func settingNames(s *Settings) []string {
	var b strings.Builder
	if err := envconfig.Usagef(envPrefix, s, &b, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		panic("envconfig usage template: " + err.Error())
	}
	return strings.Fields(b.String())
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("settings: %s_LOG_LEVEL=%q: want debug, info, warn or error", envPrefix, s)
	}
	return l, nil
}

// printSettings writes every setting with its default and description.
func printSettings(w io.Writer) error {
	return envconfig.Usagef(envPrefix, &Settings{}, w, `{{range .}}{{usage_key .}}
    {{usage_description .}}{{if usage_default .}} (default {{usage_default .}}){{end}}
{{end}}`)
}

// checkTLSSettings refuses HTTPS settings that contradict each other, at
// start rather than at the first handshake.
func checkTLSSettings(s *Settings) error {
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
func checkACMESettings(s *Settings, static bool) error {
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
func checkLimitSettings(s *Settings) error {
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

// serverConfig is what serve gives internal/server: the settings, which
// loadSettings has validated and normalised.
func (s *Settings) serverConfig() server.Config {
	level, _ := parseLevel(s.LogLevel)
	return server.Config{
		Listen:       s.Listen,
		Catalog:      s.Catalog,
		CatalogWatch: s.CatalogWatch,

		LogFormat: s.LogFormat,
		LogLevel:  level,
		LogFlush:  s.LogFlush,
		HeapFloor: uint64(s.HeapFloor),

		PublicHost: s.PublicHost,

		RateLimit:               s.RateLimit,
		RateBurst:               s.RateBurst,
		MaxConnections:          s.MaxConnections,
		MaxConnectionsPerClient: s.MaxConnectionsPerClient,

		MetricsListen: s.MetricsListen,

		TLSListen:     s.TLSListen,
		TLSCert:       s.TLSCert,
		TLSKey:        s.TLSKey,
		TLSDir:        s.TLSDir,
		DataDir:       s.DataDir,
		Storage:       s.Storage,
		ACMEOnDemand:  s.AcmeOnDemand,
		ACMEOrderRate: s.AcmeOrderRate,
		ACMEDirectory: s.AcmeDirectory,
		ACMEEmail:     s.AcmeEmail,
		ACMECARoots:   s.AcmeCARoots,
		SignWithTLS:   s.SignWithTLS,

		SignCert: s.SignCert,
		SignKey:  s.SignKey,

		// Directories (issue 15): the catalog names the variables
		// holding their URLs and passwords, read as the service runs.
		Getenv: os.Getenv,
	}
}

// byteSize is a setting in bytes, written "32MiB", "64MB", "512K" or as
// a plain number.
type byteSize uint64

// Decode implements envconfig.Decoder.
func (b *byteSize) Decode(s string) error {
	n, err := bytes.Parse(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (e.g. 32MiB, 64MB, 0)", s)
	}
	*b = byteSize(n)
	return nil
}
