package provision

import (
	"strings"
	"testing"
)

// TestClientWarnings: each catalog that breaks a client we have read
// gets a warning naming that client; the demo gets none.
func TestClientWarnings(t *testing.T) {
	const head = `directories:
  - {name: users, type: postgres, url_env: USERS_DB_URL, login: "SELECT login FROM users WHERE email = $1"}
providers:
  - id: example.org
    domains: [example.org]
`
	imap := "      - {protocol: imap, host: imap.example.org, port: 993, security: tls}\n"
	pop3 := "      - {protocol: pop3, host: pop.example.org, port: 995, security: tls}\n"
	smtp465 := "    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]\n"
	smtp587 := "    outgoing: [{protocol: smtp, host: smtp.example.org, port: 587, security: starttls}]\n"
	tests := []struct {
		name, catalog string
		n             int      // how many warnings
		want          []string // words they say
	}{
		{"IMAP first, STARTTLS submission", head + "    incoming:\n" + imap + pop3 + smtp587, 0, nil},
		{"POP3 first", head + "    incoming:\n" + pop3 + imap + smtp587, 1, []string{"POP3 is listed before IMAP: Geary", "FairEmail"}},
		{"POP3 only", head + "    incoming:\n" + pop3 + smtp587, 1, []string{"no IMAP server: Geary, GNOME Online Accounts, aerc, Nextcloud Mail and Thunderbird for iOS"}},
		{"directory logins", head + "    login_directory: users\n    incoming:\n" + strings.Replace(imap, "security: tls}", `security: tls, username: "%LOGIN%"}`, 1) + smtp587, 1,
			[]string{"GNOME Online Accounts drops a username", "Geary"}},
		{"465 only", head + "    incoming:\n" + imap + smtp465, 1, []string{"Claws Mail asks only _submission._tcp", "aerc needs the _smtps._tcp record"}},
		{"IMAP on another port", head + "    incoming:\n" + strings.Replace(imap, "993", "1993", 1) + smtp587, 1, []string{"IMAP imap.example.org:1993: GNOME Online Accounts ignores the port and connects to 993"}},
		{"authentication iOS does not know", head + "    incoming:\n" + strings.Replace(imap, "security: tls}", "security: tls, auth: [GSSAPI, password-cleartext]}", 1) + smtp587, 1,
			[]string{"authentication GSSAPI: Thunderbird for iOS"}},
		{"JMAP", head + "    jmap: https://jmap.example.org/.well-known/jmap\n    incoming:\n" + imap + smtp587, 1, []string{"jmap: Thunderbird for iOS"}},
		{"EWS and OWA", head + "    ews: https://mail.example.org/EWS/Exchange.asmx\n    owa: https://mail.example.org/owa/\n    incoming:\n" + imap + smtp587, 1, []string{"ews, owa: Thunderbird for iOS", "type ews or owa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, err := Parse(Source{Name: "c.yaml", Data: []byte(tt.catalog)})
			if err != nil {
				t.Fatal(err)
			}
			got := ClientWarnings(cat.Providers()[0])
			if len(got) != tt.n {
				t.Fatalf("ClientWarnings = %q, want %d warnings saying %q", got, tt.n, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.Join(got, "\n"), w) {
					t.Errorf("ClientWarnings = %q, want one saying %q", got, w)
				}
			}
			for _, g := range got {
				if !strings.HasPrefix(g, "c.yaml:4: provider example.org: ") {
					t.Errorf("warning %q does not start with the file, line and provider", g)
				}
			}
		})
	}
	demo := Demo().Providers()[0]
	if w := ClientWarnings(demo); len(w) != 0 {
		t.Errorf("ClientWarnings(demo) = %q, want none", w)
	}
}
