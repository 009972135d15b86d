package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/miekg/dns"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/authdns"
	"mailautoconf/internal/testutil/servetest"
	"mailautoconf/provision"
)

const updSecret = "c2VydmUtdXBkYXRlcy1zZWNyZXQtbmV2ZXItbG9nZ2VkIQ=="

// updCatalog is a hoster's catalog whose submission host is smtp, with
// dns_updates for the customer's zone and the hoster's.
func updCatalog(server, smtp string) string {
	return fmt.Sprintf(`providers:
  - id: hoster.test
    domains: [customer.example]
    pacc_txt: _ua-auto-config.hoster.test
    incoming: [{protocol: imap, host: imap.hoster.test, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: %s, port: 465, security: tls}]
dns_updates:
  - zones: [customer.example, hoster.test]
    server: %s
    tsig_key_env: TEST_TSIG_KEY
`, smtp, server)
}

func updServer(t *testing.T) *authdns.Server {
	return authdns.StartWithKey(t, &authdns.Key{Name: "mailautoconf", Algorithm: "hmac-sha256", Secret: updSecret},
		authdns.Zone{Origin: "customer.example.", Updatable: true, Text: authdns.ZoneText("customer.example.")},
		authdns.Zone{Origin: "hoster.test.", Updatable: true, Text: authdns.ZoneText("hoster.test.", "autoconfig.hoster.test. IN A 127.0.0.1")})
}

func updEnv(k string) string {
	if k == "TEST_TSIG_KEY" {
		return "mailautoconf:hmac-sha256:" + updSecret
	}
	return ""
}

func answer(t *testing.T, server, name string, qtype uint16) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	in, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(m, server)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, name) {
			out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
	}
	return out
}

// TestServeDNSUpdates: a provider change (a new SMTP host) in the
// catalog file reaches the zone within seconds, and the provider's one
// PACC TXT record then matches the SHA-256 of the bytes served now; the
// TSIG secret is in no log line.
func TestServeDNSUpdates(t *testing.T) {
	ns := updServer(t)
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	servetest.WriteInPlace(t, path, updCatalog(ns.Addr, "smtp1.hoster.test"))
	s := startServer(t, func(c *Config) {
		c.Catalog, c.PublicHost, c.Getenv = path, "autoconfig.hoster.test", updEnv
	})
	servetest.WriteRename(t, path, updCatalog(ns.Addr, "smtp2.hoster.test"))
	testutil.WaitFor(t, 10*time.Second, "the new SMTP host in the zone", func() bool {
		got := answer(t, ns.Addr, "_submissions._tcp.customer.example.", dns.TypeSRV)
		return len(got) == 1 && strings.HasSuffix(got[0], " smtp2.hoster.test.")
	})
	if got := answer(t, ns.Addr, "_ua-auto-config.customer.example.", dns.TypeCNAME); len(got) != 1 || got[0] != "_ua-auto-config.hoster.test." {
		t.Errorf("_ua-auto-config.customer.example CNAME = %v", got)
	}

	req, _ := http.NewRequest("GET", s.Base+"/.well-known/user-agent-configuration.json", nil)
	req.Host = "ua-auto-config.customer.example"
	var body []byte
	testutil.WaitFor(t, 10*time.Second, "the PACC TXT record to match the served document", func() bool {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "smtp2.hoster.test") {
			return false
		}
		sum := sha256.Sum256(body)
		want := `"v=UAAC1; a=sha256; d=` + base64.StdEncoding.EncodeToString(sum[:]) + `"`
		got := answer(t, ns.Addr, "_ua-auto-config.hoster.test.", dns.TypeTXT)
		return len(got) == 1 && got[0] == want
	})
	if strings.Contains(s.Logs.String(), updSecret) {
		t.Errorf("a log line holds the TSIG secret:\n%s", s.Logs.String())
	}
	if !strings.Contains(s.Logs.String(), "dns_updates: updated") {
		t.Errorf("no log line of the update:\n%s", s.Logs.String())
	}
	if got := servetest.MetricValue(t, s.Metrics, `mailautoconf_dns_updates_total{result="updated"}`); got != 2 {
		t.Errorf(`mailautoconf_dns_updates_total{result="updated"} = %v, want 2 (the domain and the pacc_txt name)`, got)
	}
}

// TestServeDNSUpdatesReplicas: two replicas on one storage, told of the
// same change, send one update: the second takes the lock after the
// first and finds nothing to do.
func TestServeDNSUpdatesReplicas(t *testing.T) {
	ns := updServer(t)
	parse := func(smtp string) *provision.Catalog {
		c, err := provision.Parse(provision.Source{Name: "c.yaml", Data: []byte(updCatalog(ns.Addr, smtp))})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	v1, v2 := parse("smtp1.hoster.test"), parse("smtp2.hoster.test")
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	cfg := Config{PublicHost: "autoconfig.hoster.test"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var replicas []*dnsPublisher
	for range 2 {
		p, err := newDNSPublisher(&cfg, v1, func() *provision.Catalog { return v2 }, slog.New(slog.DiscardHandler), updEnv)
		if err != nil || p == nil {
			t.Fatalf("newDNSPublisher = %v, %v", p, err)
		}
		p.lock = storage
		p.start(ctx)
		replicas = append(replicas, p)
	}
	for _, p := range replicas {
		p.catalogChanged(v2)
	}
	testutil.WaitFor(t, 10*time.Second, "both replicas to finish", func() bool {
		for _, p := range replicas {
			if p.pushed.Load() < 2 { // the domain and the pacc_txt name
				return false
			}
		}
		return true
	})
	if got := answer(t, ns.Addr, "_submissions._tcp.customer.example.", dns.TypeSRV); len(got) != 1 || !strings.HasSuffix(got[0], " smtp2.hoster.test.") {
		t.Errorf("_submissions = %v", got)
	}
	var sent []int64
	for _, p := range replicas {
		sent = append(sent, p.sent.Load())
	}
	if sent[0]+sent[1] != 2 {
		t.Errorf("the replicas sent %v update messages, want 2 in all (one per name), not twice each", sent)
	}
}

// TestServeDNSUpdatesBadKey: with the key's variable unset or the server
// refusing the key, serve logs why (never the secret) and goes on.
func TestServeDNSUpdatesBadKey(t *testing.T) {
	ns := updServer(t)
	v1, err := provision.Parse(provision.Source{Name: "c.yaml", Data: []byte(updCatalog(ns.Addr, "smtp1.hoster.test"))})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := provision.Parse(provision.Source{Name: "c.yaml", Data: []byte(updCatalog(ns.Addr, "smtp2.hoster.test"))})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="
	for _, tc := range []struct {
		name, env, want string
	}{
		{"unset", "", "TEST_TSIG_KEY is not set"},
		{"wrong secret", "mailautoconf:hmac-sha256:" + wrong, "did not accept the key (TSIG BADSIG)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testutil.SyncBuffer
			env := func(k string) string {
				if k == "TEST_TSIG_KEY" {
					return tc.env
				}
				return ""
			}
			p, err := newDNSPublisher(&Config{PublicHost: "autoconfig.hoster.test"}, v1, func() *provision.Catalog { return v2 }, slog.New(slog.NewTextHandler(&logs, nil)), env)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p.start(ctx)
			p.catalogChanged(v2)
			testutil.WaitFor(t, 10*time.Second, "the error logged", func() bool { return strings.Contains(logs.String(), tc.want) })
			if strings.Contains(logs.String(), wrong) || strings.Contains(logs.String(), updSecret) {
				t.Errorf("a log line holds a secret:\n%s", logs.String())
			}
			if got := answer(t, ns.Addr, "_submissions._tcp.customer.example.", dns.TypeSRV); len(got) != 0 {
				t.Errorf("_submissions = %v, want no change", got)
			}
		})
	}
}
