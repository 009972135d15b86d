package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestCheckWarnsTTL: check --offline says when a directory's cache_ttl
// and negative_ttl differ, and the one lifetime both kinds of answer get;
// the defaults (both 1m) need no warning.
func TestCheckWarnsTTL(t *testing.T) {
	for _, c := range []struct{ keys, want string }{
		{"    cache_ttl: 10m\n", "cache_ttl 10m0s and negative_ttl 1m0s differ: a login found and \"no such user\" are both kept 1m0s"},
		{"    cache_ttl: 5m\n    negative_ttl: 5m\n", ""},
		{"", ""},
	} {
		path := writeFile(t, "catalog.yaml", `directories:
  - name: hosting
    type: postgres
    url_env: HOSTING_URL
    login: SELECT login FROM mail_user WHERE email = $1
`+c.keys+`providers:
  - id: example.org
    domains: [example.org]
    login_directory: hosting
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls, username: "%LOGIN%"}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls, username: "%LOGIN%"}]
`)
		var stdout bytes.Buffer
		if err := run(context.Background(), []string{"check", "--offline", path}, &stdout, io.Discard); err != nil {
			t.Fatalf("check --offline with %q = %v", c.keys, err)
		}
		out := stdout.String()
		if c.want == "" && strings.Contains(out, "directory hosting") {
			t.Errorf("check with %q: stdout = %q, want no directory warning", c.keys, out)
		}
		if c.want != "" && !strings.Contains(out, "warning: "+path+":2: directory hosting: "+c.want) {
			t.Errorf("check with %q: stdout = %q, want %q", c.keys, out, c.want)
		}
	}
}
