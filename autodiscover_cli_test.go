package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"mailautoconf/provision"

	// -update: go test ./... -update rewrites golden files, and every test
	// binary must accept the flag.
	_ "mailautoconf/internal/testutil/golden"
)

func TestRenderAutodiscover(t *testing.T) {
	p, _ := provision.Demo().Lookup("example.com")
	addr := provision.Address{Local: "alice", Domain: "example.com"}
	var ref *provision.Catalog // renders without templates
	pox, err := ref.Autodiscover(nil, p, "example.com", &addr, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format, publicHost string
		want               []byte
	}{
		{"autodiscover", "", pox},
		{"autodiscover-json", "", []byte(`{"Protocol":"AutodiscoverV1","Url":"https://autodiscover.example.com/autodiscover/autodiscover.xml"}` + "\n")},
		{"autodiscover-json", "AD.Hoster.example.", []byte(`{"Protocol":"AutodiscoverV1","Url":"https://ad.hoster.example/autodiscover/autodiscover.xml"}` + "\n")},
	} {
		t.Setenv("MAILAUTOCONF_PUBLIC_HOST", tc.publicHost)
		var out bytes.Buffer
		err := run(context.Background(), []string{"render", "--email", "alice@example.com", "--format", tc.format}, &out, io.Discard)
		if err != nil {
			t.Fatalf("render --format %s: %v", tc.format, err)
		}
		if !bytes.Equal(out.Bytes(), tc.want) {
			t.Errorf("render --format %s (PUBLIC_HOST=%q):\n%s\nwant:\n%s", tc.format, tc.publicHost, out.Bytes(), tc.want)
		}
	}
	t.Setenv("MAILAUTOCONF_PUBLIC_HOST", "not a host")
	if err := run(context.Background(), []string{"render", "--email", "alice@example.com", "--format", "autodiscover-json"}, io.Discard, io.Discard); err == nil {
		t.Error("render with a bad PUBLIC_HOST succeeded")
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
