package provision

import (
	"slices"
	"strings"
	"testing"
)

func TestTLSNames(t *testing.T) {
	const head = `providers:
  - id: example.com
    domains: [example.com]
    incoming: [{protocol: imap, host: imap.example.com, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.com, port: 465, security: tls}]
`
	tests := []struct {
		yaml    string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"    tls_names: [Mail.Example.COM, bücher.example.]\n", []string{"mail.example.com", "xn--bcher-kva.example"}, ""},
		{"    tls_names: ['*.example.com']\n", nil, "providers[0].tls_names[0]: \"*.example.com\": wildcards"},
		{"    tls_names: [localhost]\n", nil, "providers[0].tls_names[0]: \"localhost\" is not a host name"},
		{"    tls_names: [a.example, A.example]\n", nil, "providers[0].tls_names[1]: a.example is listed twice"},
		{"    tls_names: a.example\n", nil, "providers[0].tls_names"},
	}
	for _, tt := range tests {
		c, err := Parse(Source{Name: "c.yaml", Data: []byte(head + tt.yaml)})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(tls_names %q) error = %v, want %q", tt.yaml, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(tls_names %q): %v", tt.yaml, err)
			continue
		}
		if got := c.Providers()[0].TLSNames; !slices.Equal(got, tt.want) {
			t.Errorf("Parse(tls_names %q).TLSNames = %q, want %q", tt.yaml, got, tt.want)
		}
	}
}
