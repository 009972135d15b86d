package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestCheckWarnsClients: check names the client a catalog breaks
// (docs/clients/), here Geary for a provider that lists POP3 first.
func TestCheckWarnsClients(t *testing.T) {
	path := writeFile(t, "catalog.yaml", `providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: pop3, host: pop.example.org, port: 995, security: tls}
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 587, security: starttls}]
`)
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"check", path}, &stdout, io.Discard); err != nil {
		t.Fatalf("check = %v", err)
	}
	want := "warning: " + path + ":2: provider example.org: POP3 is listed before IMAP: Geary reads only the first incomingServer"
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
}
