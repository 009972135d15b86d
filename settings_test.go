package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"mailautoconf/internal/server"
)

func TestByteSizeDecode(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "32MiB": 32 << 20, "64MB": 64_000_000, "512K": 512_000, "1GiB": 1 << 30, "123": 123, " 8MiB ": 8 << 20} {
		var b server.ByteSize
		if err := b.Decode(in); err != nil || uint64(b) != want {
			t.Errorf("Decode(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-1MiB", "12 parsecs", "1.5.3MB"} {
		var b server.ByteSize
		if err := b.Decode(in); err == nil {
			t.Errorf("Decode(%q) = %d, want an error", in, b)
		}
	}
}

func TestLimitSettings(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"MAILAUTOCONF_RATE_LIMIT", "-1", "RATE_LIMIT"},
		{"MAILAUTOCONF_RATE_LIMIT", "many", "RateLimit"},
		{"MAILAUTOCONF_RATE_BURST", "0", "RATE_BURST"},
		{"MAILAUTOCONF_MAX_CONNECTIONS", "-5", "MAX_CONNECTIONS"},
		{"MAILAUTOCONF_MAX_CONNECTIONS_PER_CLIENT", "0", "MAX_CONNECTIONS_PER_CLIENT=0: want 1 or more"},
		{"MAILAUTOCONF_MAX_CONNECTIONS_PER_CLIENT", "-1", "MAX_CONNECTIONS_PER_CLIENT=-1: want 1 or more"},
		{"MAILAUTOCONF_MAX_CONNECTIONS_PER_CLIENT", "lots", "MaxConnectionsPerClient"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			if _, err := loadSettings(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadSettings() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
	t.Setenv("MAILAUTOCONF_RATE_LIMIT", "2.5")
	s, err := loadSettings()
	if err != nil || s.RateLimit != 2.5 || s.RateBurst != 20 || s.MaxConnections != 10000 || s.MaxConnectionsPerClient != 64 {
		t.Errorf("loadSettings() = %+v, %v", s, err)
	}
}

func TestTLSSettingsRefused(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TLS_LISTEN": ":0"}, "DATA_DIR"},
		{map[string]string{"TLS_LISTEN": ":0", "TLS_CERT": "a.pem"}, "TLS_CERT and MAILAUTOCONF_TLS_KEY go together"},
		{map[string]string{"TLS_LISTEN": ":0", "TLS_CERT": "a.pem", "TLS_KEY": "a.key", "TLS_DIR": "d"}, "exclude each other"},
		{map[string]string{"TLS_DIR": "d"}, "TLS_LISTEN is not"},
		{map[string]string{"TLS_LISTEN": ":0", "DATA_DIR": "d", "ACME_DIRECTORY": "http://ca.example/dir"}, "want an https:// URL"},
		{map[string]string{"SIGN_WITH_TLS": "true"}, "needs HTTPS"},
		{map[string]string{"SIGN_WITH_TLS": "true", "TLS_LISTEN": ":0", "DATA_DIR": "d"}, "PUBLIC_HOST"},
	} {
		for k, v := range tt.env {
			t.Setenv("MAILAUTOCONF_"+k, v)
		}
		_, err := loadSettings()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("loadSettings with %v = %v, want %q", tt.env, err, tt.want)
		}
		for k := range tt.env {
			os.Unsetenv("MAILAUTOCONF_" + k)
		}
	}
}

// TestStorageAndOnDemandSettings: MAILAUTOCONF_STORAGE stands in for
// DATA_DIR; ACME_ON_DEMAND and ACME_ORDER_RATE reach the server's Config;
// contradictions are refused, and no message repeats the storage URL or
// its password.
func TestStorageAndOnDemandSettings(t *testing.T) {
	const secret = "pw-s3cret"
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TLS_LISTEN": ":0", "STORAGE": "mysql://u:" + secret + "@db/x"}, "STORAGE: want a postgres://"},
		{map[string]string{"TLS_LISTEN": ":0", "STORAGE": "u:" + secret + "@db:5432/x"}, "STORAGE: want a postgres://"},
		{map[string]string{"TLS_LISTEN": ":0", "STORAGE": "postgres://u:" + secret + "@db/%zz"}, "STORAGE: want a postgres://"},
		{map[string]string{"TLS_LISTEN": ":0", "STORAGE": "/var/lib/mailautoconf"}, "STORAGE: want a postgres://"},
		{map[string]string{"STORAGE": "redis://:" + secret + "@cache:6379/0"}, "TLS_LISTEN is not set"},
		{map[string]string{"TLS_LISTEN": ":0", "TLS_DIR": "d", "STORAGE": "postgres://u:" + secret + "@db/x"}, "choose one"},
		{map[string]string{"TLS_LISTEN": ":0", "TLS_CERT": "a.pem", "TLS_KEY": "a.key", "ACME_ON_DEMAND": "true"}, "ACME_ON_DEMAND obtains certificates from the ACME CA"},
		{map[string]string{"ACME_ON_DEMAND": "true"}, "ACME_ON_DEMAND needs HTTPS"},
		{map[string]string{"ACME_ON_DEMAND": "sometimes"}, "AcmeOnDemand"},
		{map[string]string{"TLS_LISTEN": ":0", "DATA_DIR": "d", "ACME_ORDER_RATE": "0"}, "ACME_ORDER_RATE=0: want"},
		{map[string]string{"TLS_LISTEN": ":0", "DATA_DIR": "d", "ACME_ORDER_RATE": "-3"}, "ACME_ORDER_RATE=-3: want"},
		{map[string]string{"TLS_LISTEN": ":0", "DATA_DIR": "d", "ACME_ORDER_RATE": "fast"}, "AcmeOrderRate"},
	} {
		for k, v := range tt.env {
			t.Setenv("MAILAUTOCONF_"+k, v)
		}
		_, err := loadSettings()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("loadSettings with %v = %v, want %q", tt.env, err, tt.want)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("loadSettings with %v = %v: the storage password is in the message", tt.env, err)
		}
		for k := range tt.env {
			os.Unsetenv("MAILAUTOCONF_" + k)
		}
	}

	// Accepted: STORAGE without DATA_DIR, and with it (the container
	// image sets DATA_DIR); every scheme certstore opens.
	for _, url := range []string{"postgres://u:pw@db:5432/mail?sslmode=disable", "postgresql:///mail?host=/run/postgresql", "redis://cache:6379/0", "rediss://:pw@cache:6380/1?key_prefix=x:"} {
		t.Setenv("MAILAUTOCONF_TLS_LISTEN", ":0")
		t.Setenv("MAILAUTOCONF_STORAGE", url)
		t.Setenv("MAILAUTOCONF_ACME_ON_DEMAND", "true")
		t.Setenv("MAILAUTOCONF_ACME_ORDER_RATE", "25")
		s, err := loadSettings()
		if err != nil {
			t.Errorf("loadSettings with STORAGE=%s = %v", url, err)
			continue
		}
		cfg := s
		if cfg.Storage != url || !cfg.AcmeOnDemand || cfg.AcmeOrderRate != 25 || cfg.DataDir != "" {
			t.Errorf("loadSettings() = Storage %q, AcmeOnDemand %v, AcmeOrderRate %d, DataDir %q", cfg.Storage, cfg.AcmeOnDemand, cfg.AcmeOrderRate, cfg.DataDir)
		}
		t.Setenv("MAILAUTOCONF_DATA_DIR", "/var/lib/mailautoconf")
		if _, err := loadSettings(); err != nil {
			t.Errorf("loadSettings with STORAGE=%s and DATA_DIR = %v", url, err)
		}
		os.Unsetenv("MAILAUTOCONF_DATA_DIR")
	}
	os.Unsetenv("MAILAUTOCONF_STORAGE")
	os.Unsetenv("MAILAUTOCONF_ACME_ON_DEMAND")
	os.Unsetenv("MAILAUTOCONF_ACME_ORDER_RATE")

	// The defaults: no storage, certificates ahead of time, 10 orders a
	// minute.
	t.Setenv("MAILAUTOCONF_DATA_DIR", "d")
	s, err := loadSettings()
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s; cfg.Storage != "" || cfg.AcmeOnDemand || cfg.AcmeOrderRate != 10 {
		t.Errorf("defaults: Storage %q, AcmeOnDemand %v, AcmeOrderRate %d; want \"\", false, 10", cfg.Storage, cfg.AcmeOnDemand, cfg.AcmeOrderRate)
	}
}

func TestSettingsPublicHost(t *testing.T) {
	t.Setenv("MAILAUTOCONF_PUBLIC_HOST", "AutoDiscover.Hoster.Example.")
	s, err := loadSettings()
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicHost != "autodiscover.hoster.example" {
		t.Errorf("PublicHost = %q, want the normalized host name", s.PublicHost)
	}
	for _, bad := range []string{"https://hoster.example/", "hoster.example:443", "a b", "-x.example"} {
		t.Setenv("MAILAUTOCONF_PUBLIC_HOST", bad)
		if _, err := loadSettings(); err == nil || !strings.Contains(err.Error(), "PUBLIC_HOST") {
			t.Errorf("PUBLIC_HOST=%q: %v, want an error", bad, err)
		}
	}
}

// TestCommandsReadSettings: check and render take the catalog, the
// public host and the signing pair from the settings, read once and
// validated as serve, dns, doctor and healthcheck read them: a misspelt
// setting is refused by every command.
func TestCommandsReadSettings(t *testing.T) {
	t.Setenv("MAILAUTOCONF_CATALG", "catalog.yaml")
	for _, args := range [][]string{
		{"check", "catalog.yaml"},
		{"render", "--email", "alice@example.com"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "unknown variable MAILAUTOCONF_CATALG") {
			t.Errorf("run(%q) = %v, want the misspelt setting refused", args, err)
		}
	}
}
