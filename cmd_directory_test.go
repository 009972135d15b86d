package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil/dbtest"
)

const cmdDirCatalog = `directories:
  - name: hosting
    type: postgres
    url_env: HOSTING_DB_URL
    domains: SELECT domain FROM domain WHERE active
    login: SELECT login FROM mail_user WHERE email = $1
providers:
  - id: hosting.example
    directory: hosting
    domains: [file.example]
    incoming:
      - {protocol: imap, host: imap.hosting.example, port: 993, security: tls, username: "%LOGIN%"}
    outgoing:
      - {protocol: smtp, host: smtp.hosting.example, port: 465, security: tls, username: "%LOGIN%"}
`

func cmdDirSetup(t *testing.T) (catalog string, pg *dbtest.PG) {
	t.Helper()
	pg = dbtest.NewPG(t)
	pg.Exec(t, `CREATE TABLE domain (domain text NOT NULL, active boolean NOT NULL DEFAULT true)`)
	pg.Exec(t, `CREATE TABLE mail_user (email text NOT NULL, login text)`)
	pg.Exec(t, `INSERT INTO domain (domain) VALUES ('one.example'), ('two.example')`)
	pg.Exec(t, `INSERT INTO mail_user VALUES ('alice@one.example', 'u1001')`)
	catalog = filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(catalog, []byte(cmdDirCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	return catalog, pg
}

// TestCheckDirectories: check connects to the directory with the
// environment, prints the count and a login lookup, never the URL or its
// password; --offline connects to nothing; an unreachable or unset
// directory fails the check, naming it.
func TestCheckDirectories(t *testing.T) {
	catalog, pg := cmdDirSetup(t)
	t.Setenv("HOSTING_DB_URL", pg.URL)
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		want    []string
		wantErr bool
	}{
		{"connected", []string{"check", catalog}, pg.URL, []string{"directory hosting (postgres): 2 domains read", "login of mailautoconf-check@one.example: not found"}, false},
		{"address", []string{"check", "--address", "alice@one.example", catalog}, pg.URL, []string{`login of alice@one.example: "u1001"`}, false},
		{"offline", []string{"check", "--offline", catalog}, "", []string{"ok, 1 providers, 1 domains"}, false},
		{"unset", []string{"check", catalog}, "", []string{"HOSTING_DB_URL"}, true},
		{"unreachable", []string{"check", catalog}, strings.Replace(pg.URL, "127.0.0.1:5432", "127.0.0.1:1", 1), []string{"domains: error"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HOSTING_DB_URL", tc.env)
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errb)
			if (err != nil) != tc.wantErr {
				t.Errorf("%v = %v, want error %v\n%s%s", tc.args, err, tc.wantErr, out.String(), errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%v: stdout lacks %q:\n%s", tc.args, w, out.String())
				}
			}
			if all := out.String() + errb.String() + tc.name; strings.Contains(all, dbtest.PGPassword) {
				t.Errorf("%v printed the password:\n%s", tc.args, all)
			}
		})
	}
}

// TestDNSDirectoryDomains: dns lists the directory's domains with the
// file ones, the directory read with the environment; with the directory
// unreachable it prints the file domains' records, names the directory on
// stderr and fails.
func TestDNSDirectoryDomains(t *testing.T) {
	catalog, pg := cmdDirSetup(t)
	t.Setenv("HOSTING_DB_URL", pg.URL)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"dns", "--catalog", catalog, "--public-host", "autoconfig.hoster.example"}, &out, &errb); err != nil {
		t.Fatalf("dns: %v\n%s", err, errb.String())
	}
	for _, d := range []string{"file.example", "one.example", "two.example"} {
		if !strings.Contains(out.String(), "autoconfig."+d+".") {
			t.Errorf("dns output lacks %s:\n%s", d, out.String())
		}
	}
	pg.Stop(t)
	out.Reset()
	errb.Reset()
	err := run(context.Background(), []string{"dns", "--catalog", catalog, "--public-host", "autoconfig.hoster.example"}, &out, &errb)
	if err == nil || !strings.Contains(errb.String(), "directory hosting") {
		t.Errorf("dns with the directory down: err %v, stderr %q; want a failure naming it", err, errb.String())
	}
	if !strings.Contains(out.String(), "autoconfig.file.example.") || strings.Contains(out.String(), "one.example") {
		t.Errorf("dns with the directory down: want the file domains only:\n%s", out.String())
	}
	if strings.Contains(errb.String(), dbtest.PGPassword) {
		t.Errorf("dns printed the password: %s", errb.String())
	}
}

// TestCheckDirectoryDuplicate: check, connected, refuses a catalog whose
// files list a domain its directory lists too, naming both, as serve
// refuses to start with it; a row that is another provider's service name
// is a warning. --offline cannot know.
func TestCheckDirectoryDuplicate(t *testing.T) {
	catalog, pg := cmdDirSetup(t)
	pg.Exec(t, `INSERT INTO domain (domain) VALUES ('autodiscover.other.example')`)
	withOther := cmdDirCatalog + `  - id: other.example
    domains: [other.example, one.example]
    incoming:
      - {protocol: imap, host: imap.other.example, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.other.example, port: 465, security: tls}
`
	if err := os.WriteFile(catalog, []byte(withOther), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOSTING_DB_URL", pg.URL)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"check", catalog}, &out, &errb)
	want := "directory hosting: one.example is already served by provider other.example (" + catalog + ":15)"
	if err == nil || !strings.Contains(errb.String(), want) {
		t.Errorf("check = %v, want a failure with %q\nstdout:\n%s\nstderr:\n%s", err, want, out.String(), errb.String())
	}
	warning := "warning: directory hosting: autodiscover.other.example is a service name of other.example, which provider other.example serves (" + catalog + ":15), skipped"
	if !strings.Contains(out.String(), warning) {
		t.Errorf("stdout lacks %q:\n%s", warning, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"check", "--offline", catalog}, &out, &errb); err != nil {
		t.Errorf("check --offline = %v", err)
	}
}

// TestServeRefusesDirectoryDuplicate: serve, with no copy of the list on
// disk, stops once the directory's first read lists a domain the files
// list too, with an error naming both, as check does.
func TestServeRefusesDirectoryDuplicate(t *testing.T) {
	catalog, pg := cmdDirSetup(t)
	dup := cmdDirCatalog + `  - id: other.example
    domains: [two.example]
    incoming:
      - {protocol: imap, host: imap.other.example, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.other.example, port: 465, security: tls}
`
	if err := os.WriteFile(catalog, []byte(dup), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOSTING_DB_URL", pg.URL)
	t.Setenv("MAILAUTOCONF_CATALOG", catalog)
	t.Setenv("MAILAUTOCONF_LISTEN", "127.0.0.1:0")
	t.Setenv("MAILAUTOCONF_DATA_DIR", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, io.Discard, io.Discard) }()
	want := "directory hosting: two.example is already served by provider other.example (" + catalog + ":15)"
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("serve = %v, want an error with %q", err, want)
		}
	case <-time.After(20 * time.Second):
		t.Error("serve did not stop within 20 s")
		cancel()
		<-done
	}
}
