package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailautoconf/internal/importxml"
	"mailautoconf/provision"
)

// importDoc is a config-v1.1.xml for domain with one IMAP and one SMTP
// server of the given socketType, and a documentation link (dropped with
// a warning).
func importDoc(domain, socket string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="` + domain + `">
    <domain>` + domain + `</domain>
    <displayName>Mail of ` + domain + `</displayName>
    <incomingServer type="imap">
      <hostname>imap.` + domain + `</hostname>
      <port>993</port>
      <socketType>` + socket + `</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.` + domain + `</hostname>
      <port>465</port>
      <socketType>` + socket + `</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
    <documentation url="https://` + domain + `/help"><descr lang="en">Help</descr></documentation>
  </emailProvider>
</clientConfig>
`
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportCommand(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.example.xml": importDoc("a.example", "SSL"),
		"b.example.xml": importDoc("b.example", "STARTTLS"),
		"plain.xml":     importDoc("plain.example", "plain"),
		"junk.xml":      "<html><body>not autoconfig</body></html>",
		"big.xml":       strings.Repeat(" ", importxml.MaxSize+1),
	})
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return filepath.Join(dir, name) }

	tests := []struct {
		name      string
		args      []string
		fails     bool     // exit status 1
		providers []string // ids in the YAML on stdout; nil = no YAML
		stderr    []string // substrings of stderr
	}{
		{name: "two good files", args: []string{f("a.example.xml"), f("b.example.xml")}, providers: []string{"a.example", "b.example"},
			stderr: []string{"warning: " + f("a.example.xml") + ": clientConfig/emailProvider/documentation: dropped", "imported 2 of 2 files: 2 providers, 2 domains, 2 warnings"}},
		{name: "good and bad", args: []string{f("a.example.xml"), f("plain.xml"), f("junk.xml"), f("missing.xml"), f("sub"), f("big.xml")}, fails: true, providers: []string{"a.example"},
			stderr: []string{
				f("plain.xml") + ": not imported: no incoming IMAP or POP3 server with SSL or STARTTLS",
				f("junk.xml") + ": not imported: root element is <html>, not <clientConfig>",
				f("missing.xml") + ": not imported: no such file or directory",
				f("sub") + ": not imported: is a directory",
				f("big.xml") + ": not imported: larger than 1048576 bytes",
				"imported 1 of 6 files",
			}},
		{name: "same domain twice", args: []string{f("a.example.xml"), f("a.example.xml")}, fails: true, providers: []string{"a.example"},
			stderr: []string{"every domain is already served by provider a.example (" + f("a.example.xml") + ")"}},
		{name: "nothing importable", args: []string{f("junk.xml")}, fails: true, stderr: []string{"imported 0 of 1 files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"import"}, tt.args...), &out, &errb)
			if tt.fails != (err != nil) {
				t.Fatalf("import: error %v, want failure %v\nstderr:\n%s", err, tt.fails, errb.String())
			}
			if err != nil && !errors.As(err, new(exitError)) {
				t.Errorf("import: error %v, want an exitError (the report is on stderr)", err)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if tt.providers == nil {
				if out.Len() > 0 {
					t.Errorf("stdout = %q, want nothing", out.String())
				}
				return
			}
			cat, err := provision.Parse(provision.Source{Name: "stdout", Data: out.Bytes()})
			if err != nil {
				t.Fatalf("stdout does not load as a catalog: %v\n%s", err, out.String())
			}
			var ids []string
			for _, p := range cat.Providers() {
				ids = append(ids, p.ID)
			}
			if strings.Join(ids, " ") != strings.Join(tt.providers, " ") {
				t.Errorf("providers %v, want %v", ids, tt.providers)
			}
		})
	}
}

// TestImportCheckRoundTrip: what import prints, check accepts, as the
// migration steps of docs/guide/clients.md say.
func TestImportCheckRoundTrip(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.example.xml": importDoc("a.example", "SSL")})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"import", filepath.Join(dir, "a.example.xml")}, &out, &errb); err != nil {
		t.Fatalf("import: %v\n%s", err, errb.String())
	}
	catalog := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(catalog, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"check", catalog}, &out, &errb); err != nil {
		t.Fatalf("check of the imported catalog: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "ok, 1 providers, 1 domains") {
		t.Errorf("check: %q", out.String())
	}
}

func TestImportUsage(t *testing.T) {
	for _, args := range [][]string{{"import"}, {"import", "--frob", "x.xml"}} {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		if err == nil || errors.As(err, new(exitError)) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
		if out.Len() > 0 {
			t.Errorf("%v: stdout %q, want nothing", args, out.String())
		}
	}
}
