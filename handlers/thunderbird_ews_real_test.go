package handlers

import (
	"net/http/httptest"
	"strings"
	"testing"

	"mailautoconf/provision"
)

// TestThunderbirdEWS runs Thunderbird's own readFromXML (the installed
// 153.8, thunderbird_real_test.go) on the service's answers for a
// provider with ews and owa URLs (provision/exchange.go): it accepts
// every variant, keeps IMAP as the incoming server and SMTP as the
// outgoing one, and offers EWS and OWA as alternatives at their hosts.
// It also reads the mail-v1.xml answer, whose usernames are
// placeholders.
func TestThunderbirdEWS(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	cat, err := provision.Parse(provision.Source{Name: "ews.yaml", Data: []byte(`providers:
  - id: example.org
    domains: [example.org]
    ews: https://ews.example.org/EWS/Exchange.asmx
    owa: https://owa.example.org/owa/
    incoming:
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
      - {protocol: pop3, host: pop.example.org, port: 995, security: tls}
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(newTestConfig(t, cat)).Router())
	t.Cleanup(srv.Close)
	tests := []struct {
		name, host, path, lookup string
	}{
		{"address", "", "/mail/config-v1.1.xml?emailaddress=alice@example.org", "isp"},
		{"no address", "autoconfig.example.org", "/mail/config-v1.1.xml", "isp"},
		{"ispdb", "", "/v1.1/example.org", "db"},
		{"mail-v1.xml", "autoconfig.example.org", "/.well-known/mail-v1.xml?emailaddress=alice@example.org", "isp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := tbGet(t, srv, tt.host, tt.path)
			if !strings.Contains(string(body), `<incomingServer type="ews">`) || !strings.Contains(string(body), `<incomingServer type="owa">`) {
				t.Fatalf("GET %s has no ews and owa servers:\n%s", tt.path, body)
			}
			r, err := thunderbirdReplay(t, tt.lookup, resp.StatusCode, resp.Header.Get("Content-Type"), body, "alice@example.org")
			if err != nil {
				t.Fatalf("Thunderbird %s rejects GET %s: %v\nlog: %q\n%s", r.Thunderbird, tt.path, err, r.Log, body)
			}
			c := r.Config
			if c.Incoming.Type != "imap" || c.Incoming.Hostname != "imap.example.org" || c.Outgoing.Type != "smtp" {
				t.Errorf("Thunderbird %s picks %s and %s, want IMAP and SMTP", r.Thunderbird, c.Incoming, c.Outgoing)
			}
			var alts []string
			for _, s := range c.IncomingAlternatives {
				alts = append(alts, s.Type+" "+s.Hostname+" "+s.Username)
			}
			want := "pop3 pop.example.org alice@example.org|ews ews.example.org alice@example.org|owa owa.example.org alice@example.org"
			if got := strings.Join(alts, "|"); got != want {
				t.Errorf("Thunderbird %s alternatives:\n\t%s\nwant\n\t%s", r.Thunderbird, got, want)
			}
		})
	}
}
