package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"mailautoconf/internal/testutil/golden"
)

// settingsDoc is the one written list of the settings. Its table, between
// the two markers, is a copy of what `mailautoconf help` prints, made by
// go test -run '^TestSettingsDoc$' -update . from help's own output.
const (
	settingsDoc   = "docs/guide/settings.md"
	settingsBegin = "<!-- settings: generated from `mailautoconf help` by go test -run '^TestSettingsDoc$' -update . (settings_doc_test.go); do not edit -->\n"
	settingsEnd   = "<!-- end of settings -->\n"
)

// settingPages names, for a setting, the page that explains it (its
// path relative to docs/guide/); a setting without one has an empty cell.
var settingPages = map[string]struct{ label, path string }{
	"MAILAUTOCONF_LISTEN":                     {"deployment", "../../deploy/README.md#production-deployment"},
	"MAILAUTOCONF_CATALOG":                    {"catalog", "catalog.md"},
	"MAILAUTOCONF_LOG_FORMAT":                 {"operations", "operations.md#logs"},
	"MAILAUTOCONF_LOG_LEVEL":                  {"operations", "operations.md#logs"},
	"MAILAUTOCONF_LOG_FLUSH":                  {"operations", "operations.md#logs"},
	"MAILAUTOCONF_PUBLIC_HOST":                {"HTTPS", "https.md"},
	"MAILAUTOCONF_PUBLIC_IPV4":                {"DNS", "dns.md"},
	"MAILAUTOCONF_PUBLIC_IPV6":                {"DNS", "dns.md"},
	"MAILAUTOCONF_RATE_LIMIT":                 {"hardening", "hardening.md"},
	"MAILAUTOCONF_RATE_BURST":                 {"hardening", "hardening.md"},
	"MAILAUTOCONF_MAX_CONNECTIONS":            {"hardening", "hardening.md"},
	"MAILAUTOCONF_MAX_CONNECTIONS_PER_CLIENT": {"hardening", "hardening.md"},
	"MAILAUTOCONF_HEAP_FLOOR":                 {"architecture", "../../ARCHITECTURE.md#the-fast-path"},
	"MAILAUTOCONF_DNS_WATCH":                  {"DNS watch", "watch.md"},
	"MAILAUTOCONF_DNS_WATCH_QPS":              {"DNS watch", "watch.md#pace"},
	"MAILAUTOCONF_DNS_WATCH_RECHECK":          {"DNS watch", "watch.md#waiting-for-dns"},
	"MAILAUTOCONF_DNS_RESOLVERS":              {"DNS watch", "watch.md#resolvers"},
	"MAILAUTOCONF_ADMIN_TOKEN":                {"DNS watch", "watch.md#the-token"},
	"MAILAUTOCONF_CATALOG_WATCH":              {"operations", "operations.md#reloading-the-catalog"},
	"MAILAUTOCONF_METRICS_LISTEN":             {"operations", "operations.md#metrics"},
	"MAILAUTOCONF_TLS_LISTEN":                 {"HTTPS", "https.md"},
	"MAILAUTOCONF_TLS_CERT":                   {"HTTPS", "https.md"},
	"MAILAUTOCONF_TLS_KEY":                    {"HTTPS", "https.md"},
	"MAILAUTOCONF_TLS_DIR":                    {"HTTPS", "https.md"},
	"MAILAUTOCONF_DATA_DIR":                   {"deployment", "../../deploy/README.md#production-deployment"},
	"MAILAUTOCONF_STORAGE":                    {"replicas", "replicas.md#several-replicas"},
	"MAILAUTOCONF_ACME_ON_DEMAND":             {"replicas", "replicas.md#several-replicas"},
	"MAILAUTOCONF_ACME_ORDER_RATE":            {"replicas", "replicas.md#several-replicas"},
	"MAILAUTOCONF_ACME_DIRECTORY":             {"HTTPS", "https.md"},
	"MAILAUTOCONF_ACME_EMAIL":                 {"HTTPS", "https.md"},
	"MAILAUTOCONF_ACME_CA_ROOTS":              {"HTTPS", "https.md"},
	"MAILAUTOCONF_SIGN_WITH_TLS":              {"HTTPS", "https.md#signing-profiles-with-the-https-certificate"},
	"MAILAUTOCONF_SIGN_CERT":                  {"clients", "clients.md#signing"},
	"MAILAUTOCONF_SIGN_KEY":                   {"clients", "clients.md#signing"},
}

// helpSetting is one setting as `mailautoconf help` prints it.
type helpSetting struct{ name, def, desc string }

var helpDefault = regexp.MustCompile(` \(default (.*)\)$`)

// helpSettings runs `mailautoconf help` and reads its settings: a line
// with the variable, then its description indented, ending in
// "(default D)" when it has one.
func helpSettings(t *testing.T) []helpSetting {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(out.String(), "\nSettings (environment variables):\n")
	if !ok {
		t.Fatalf("help prints no settings:\n%s", out.String())
	}
	var settings []helpSetting
	for _, line := range strings.Split(strings.TrimRight(list, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, envPrefix+"_"):
			settings = append(settings, helpSetting{name: line})
		case strings.HasPrefix(line, "    ") && len(settings) > 0 && settings[len(settings)-1].desc == "":
			s := &settings[len(settings)-1]
			s.desc = strings.TrimSpace(line)
			if m := helpDefault.FindStringSubmatchIndex(s.desc); m != nil {
				s.def = s.desc[m[2]:m[3]]
				s.desc = s.desc[:m[0]]
			}
		default:
			t.Fatalf("help's settings: unexpected line %q", line)
		}
	}
	if len(settings) == 0 {
		t.Fatal("help lists no settings")
	}
	return settings
}

// markdownCell escapes what Markdown would read as markup in a table
// cell: a pipe, an HTML tag's bracket, emphasis.
var markdownCell = strings.NewReplacer("|", `\|`, "<", `\<`, "*", `\*`)

// settingsTable renders help's settings as the Markdown table of
// settingsDoc.
func settingsTable(t *testing.T) string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Meaning | More |\n|---|---|---|---|\n")
	known := map[string]bool{}
	for _, s := range helpSettings(t) {
		known[s.name] = true
		def := "(none)"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		more := ""
		if p, ok := settingPages[s.name]; ok {
			more = fmt.Sprintf("[%s](%s)", p.label, p.path)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.name, def, markdownCell.Replace(s.desc), more)
	}
	for name := range settingPages {
		if !known[name] {
			t.Errorf("settingPages names %s, which help does not list", name)
		}
	}
	return b.String()
}

// TestSettingsDoc: the settings written out in docs/guide/settings.md are
// exactly those `mailautoconf help` prints, with the same defaults and
// descriptions; -update rewrites the table from help.
func TestSettingsDoc(t *testing.T) {
	data, err := os.ReadFile(settingsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	start := strings.Index(doc, settingsBegin)
	end := strings.Index(doc, settingsEnd)
	if start < 0 || end < start {
		t.Fatalf("%s: no settings between the markers %q and %q", settingsDoc, settingsBegin, settingsEnd)
	}
	start += len(settingsBegin)
	want := settingsTable(t)
	if *golden.Update {
		doc = doc[:start] + want + doc[end:]
		if err := os.WriteFile(settingsDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := doc[start:end]; got != want {
		t.Errorf("%s differs from `mailautoconf help` (go test -run '^TestSettingsDoc$' -update . rewrites it)\n--- doc:\n%s\n--- help:\n%s", settingsDoc, got, want)
	}
}
