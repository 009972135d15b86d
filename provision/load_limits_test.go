package provision

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"mailautoconf/internal/yamlcheck"
)

// aliasedProviders is a catalog whose first provider, of n domains, is
// anchored and then aliased times more: every alias serves the same
// domains again.
func aliasedProviders(n, times int) string {
	var b strings.Builder
	b.WriteString("providers:\n  - &p\n    id: mail.example.org\n    domains:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - d%d.example\n", i)
	}
	b.WriteString("    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]\n")
	b.WriteString("    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]\n")
	for range times {
		b.WriteString("  - *p\n")
	}
	return b.String()
}

// laughs is the "billion laughs" shape: each level a list of ten aliases
// of the level below, the last level the domains of a provider.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("providers:\n  - id: mail.example.org\n    incoming: &l0 [{protocol: imap, host: imap.example.org, port: 993, security: tls}]\n")
	b.WriteString("    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]\n")
	b.WriteString("    organization: [")
	for i := 1; i <= levels; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "&l%d [", i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]")
	}
	fmt.Fprintf(&b, "]\n    domains: *l%d\n", levels)
	return b.String()
}

func TestParseAliasBudget(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // the only error, or "" for a valid catalog
	}{
		// 2,000 domains aliased 200 times: 400,000 domains to walk
		// and as many "already served" errors before the budget.
		{"anchor of many domains aliased many times", aliasedProviders(2000, 200),
			"c.yaml:2018: aliases add more than 22300 nodes to the 2230 written (at most 10 times the nodes written, or 10000): write the repeated part out, or alias smaller parts"},
		{"nested aliases", laughs(9),
			"c.yaml:5: aliases add more than 10000 nodes to the 131 written (at most 10 times the nodes written, or 10000): write the repeated part out, or alias smaller parts"},
		{"alias inside its own anchor", strings.Replace(base, "[example.org]", "&a [example.org, *a]", 1),
			"c.yaml:3: alias *a names a node that holds it"},
		{"mapping holding its own alias", strings.Replace(base, "  - id: mail.example.org", "  - &m\n    id: mail.example.org\n    organization: *m", 1),
			"c.yaml:4: alias *m names a node that holds it"},
		{"shared servers are fine", sharedServers(2000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse(Source{Name: "c.yaml", Data: []byte(tt.yaml)})
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Parse took %v", d)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse = %v, want a catalog", firstLineOf(err))
				}
				return
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a *LoadError", err)
			}
			if got := le.Error(); got != tt.want {
				t.Errorf("Parse =\n%s\nwant\n%s", firstLineOf(le), tt.want)
			}
		})
	}
}

// sharedServers is n providers that share the first one's server lists.
func sharedServers(n int) string {
	var b strings.Builder
	b.WriteString("providers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: p%d.example.org\n    domains: [p%d.example.org, q%d.example.org]\n", i, i, i)
		if i == 0 {
			b.WriteString("    incoming: &in\n      - {protocol: imap, host: imap.example.org, port: 993, security: tls}\n      - {protocol: pop3, host: pop.example.org, port: 995, security: tls}\n")
			b.WriteString("    outgoing: &out [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]\n")
			continue
		}
		b.WriteString("    incoming: *in\n    outgoing: *out\n")
	}
	return b.String()
}

func firstLineOf(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + fmt.Sprintf(" (and %d more lines)", strings.Count(s, "\n"))
	}
	return s
}

func TestParseErrorCap(t *testing.T) {
	bad := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, ", -bad%d.example", i)
		}
		return strings.Replace(base, "[example.org]", "[example.org"+b.String()+"]", 1)
	}
	// 300 providers claiming one domain: crossCheck's errors count too.
	var clash strings.Builder
	clash.WriteString(base)
	for i := range 300 {
		fmt.Fprintf(&clash, "  - {id: p%d.example.org, domains: [example.org], incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}], outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]}\n", i)
	}
	tests := []struct {
		name, yaml string
		listed     int
		last       string
	}{
		{"100 errors: all listed", bad(100), 100, `c.yaml:3: providers[0].domains[100]: "-bad99.example" is not a domain name`},
		{"101 errors", bad(101), 100, "and 1 more error, not listed"},
		{"5000 errors", bad(5000), 100, "and 4900 more errors, not listed"},
		{"crossCheck errors", clash.String(), 100, "and 200 more errors, not listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "c.yaml", Data: []byte(tt.yaml)})
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a *LoadError", err)
			}
			lines := strings.Split(le.Error(), "\n")
			if len(le.Errs) != tt.listed {
				t.Errorf("%d errors listed, want %d", len(le.Errs), tt.listed)
			}
			if last := lines[len(lines)-1]; last != tt.last {
				t.Errorf("last line %q, want %q", last, tt.last)
			}
			if want := tt.listed + 1; tt.listed == 100 && strings.HasPrefix(tt.last, "and ") && len(lines) != want {
				t.Errorf("%d lines, want %d", len(lines), want)
			}
		})
	}
}

// TestParseLongValues puts one long value wherever a message quotes the
// catalog: every message stays short and shows where the value was cut.
func TestParseLongValues(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	wide := strings.Repeat("é", 1<<18) // 2 bytes each: cut between runes
	tests := []struct {
		name, yaml, want string
	}{
		{"domain", strings.Replace(base, "[example.org]", "[example.org, "+long+"]", 1),
			`c.yaml:3: providers[0].domains[1]: "` + strings.Repeat("x", 80) + `"… (1048576 bytes) is not a domain name`},
		{"multibyte domain", strings.Replace(base, "[example.org]", "[example.org, "+wide+"]", 1),
			`c.yaml:3: providers[0].domains[1]: "` + strings.Repeat("é", 80) + `"… (524288 bytes) is not a domain name`},
		{"host", strings.Replace(base, "host: imap.example.org", "host: "+long, 1),
			`c.yaml:5: providers[0].incoming[0].host: "` + strings.Repeat("x", 80) + `"… (1048576 bytes) is not a host name: not a host name`},
		// A plain key is at most 1024 characters (YAML 1.2.2, example 7.22):
		// a longer one is written as an explicit "? key".
		{"unknown key", strings.Replace(base, "    domains:", "    ? "+long+"\n    : 1\n    domains:", 1),
			`c.yaml:3: providers[0]."` + strings.Repeat("x", 80) + `"… (1048576 bytes): unknown key (known: id, display_name, short_name, organization, domains, incoming, outgoing, caldav, carddav, webmail, oauth2, color, activesync, redirect_address, redirect_url, domain_redirects, tls_names, jmap, managesieve, logo, help, directory, login_directory, ews, owa, texts, pacc_txt)`},
		{"port", strings.Replace(base, "port: 993", "port: "+strings.Repeat("9", 1<<20), 1),
			`c.yaml:5: providers[0].incoming[0].port: "` + strings.Repeat("9", 80) + `"… (1048576 bytes) is not a whole number`},
		{"username", strings.Replace(base, "security: tls}", "security: tls, username: \"%EMAILLOCALPART% "+long+"\"}", 1),
			`c.yaml:5: providers[0].incoming[0].username: longer than 320 bytes`},
		{"username under its limit", strings.Replace(base, "security: tls}", "security: tls, username: \"%X"+strings.Repeat("y", 300)+"\"}", 1),
			`c.yaml:5: providers[0].incoming[0].username: "%X` + strings.Repeat("y", 78) + `"… (302 bytes): % only in %EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN% or %LOGIN%`},
		{"url", strings.Replace(base, "    incoming:", "    caldav: "+long+"\n    incoming:", 1),
			`c.yaml:4: providers[0].caldav: "` + strings.Repeat("x", 80) + `"… (1048576 bytes) is not an absolute http(s) URL`},
		{"colour", strings.Replace(base, "    incoming:", "    color: "+long+"\n    incoming:", 1),
			`c.yaml:4: providers[0].color: "` + strings.Repeat("x", 80) + `"… (1048576 bytes) is not a colour: write "#rrggbb" or "#rgb" in hex, for example "#0a5fff"`},
		{"domains not a list", strings.Replace(base, "[example.org]", long, 1),
			`c.yaml:3: providers[0].domains: must be a list, not "` + strings.Repeat("x", 80) + `"… (1048576 bytes)`},
		{"unknown anchor", strings.Replace(base, "[example.org]", "*"+long, 1),
			`c.yaml: YAML syntax: unknown anchor '` + strings.Repeat("x", 64) + `… (1048604 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "c.yaml", Data: []byte(tt.yaml)})
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a *LoadError", err)
			}
			got := le.Error()
			// The bound: a value cut to 80 characters, plus the fixed
			// list of a provider's known keys (ews and owa took it past
			// 400).
			if len(got) > 450 || !utf8.ValidString(got) {
				t.Errorf("message of %d bytes (valid UTF-8: %v): %.300q", len(got), utf8.ValidString(got), got)
			}
			if got != tt.want {
				t.Errorf("Parse =\n%.400s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{strings.Repeat("a", 80), `"` + strings.Repeat("a", 80) + `"`},
		{strings.Repeat("a", 81), `"` + strings.Repeat("a", 80) + `"… (81 bytes)`},
		{strings.Repeat("€", 81), `"` + strings.Repeat("€", 80) + `"… (243 bytes)`},
		{strings.Repeat("\xff", 90), `"` + strings.Repeat(`\xff`, 80) + `"… (90 bytes)`},
		{"a\nb", `"a\nb"`},
	}
	for _, tt := range tests {
		if got := yamlcheck.Quote(tt.in); got != tt.want {
			t.Errorf("yamlcheck.Quote(%.20q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
