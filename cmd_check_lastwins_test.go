package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestCheckWarnsLastWins: check names the servers FairEmail before 1.2269
// would configure for a provider with several of a type, and still
// succeeds.
func TestCheckWarnsLastWins(t *testing.T) {
	path := writeFile(t, "catalog.yaml", `providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
      - {protocol: imap, host: imap.example.org, port: 143, security: starttls}
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`)
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"check", path}, &stdout, io.Discard); err != nil {
		t.Fatalf("check = %v", err)
	}
	want := "warning: " + path + ":2: provider example.org lists several servers of a type: FairEmail before 1.2269"
	if !strings.Contains(stdout.String(), want) || !strings.Contains(stdout.String(), "IMAP imap.example.org:143 rather than imap.example.org:993") {
		t.Errorf("stdout = %q, want a warning naming 143", stdout.String())
	}
	if strings.Contains(stdout.String(), "SMTP smtp.example.org") {
		t.Errorf("stdout = %q: one SMTP server needs no last-wins warning", stdout.String())
	}
}
