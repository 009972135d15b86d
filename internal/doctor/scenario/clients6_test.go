package scenario

import (
	"net/http"
	"strings"
	"testing"

	"mailautoconf/internal/doctor"
	"mailautoconf/provision"
)

// serveCatalog answers autoconfig (config-v1.1.xml and mail-v1.xml) from
// the YAML catalog src for example.com, as a deployment of that catalog
// would (handlers.mailV1 keeps the placeholders unless a directory gives
// the login); login, when set, is the directory's login for every
// address.
func serveCatalog(t *testing.T, src, login string) http.Handler {
	t.Helper()
	cat, err := provision.Parse(provision.Source{Name: "scenario.yaml", Data: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cat.Lookup("example.com")
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var addr *provision.Address
		if a, err := provision.ParseAddress(r.URL.Query().Get("emailaddress")); err == nil {
			a.Login = login
			addr = &a
		}
		if login == "" && strings.HasSuffix(r.URL.Path, doctor.MailV1Path) {
			addr = nil
		}
		body, err := cat.Autoconfig(nil, p, "example.com", addr, provision.Options{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		_, _ = w.Write(body)
	})
}

// wantReason checks that a client's reason (or fix, with fix set) holds
// every word.
func wantReason(t *testing.T, rep *doctor.Report, id string, fix bool, words ...string) {
	t.Helper()
	c := findClient(t, rep, id)
	text := c.Reason
	if fix {
		text = c.Fix
	}
	for _, w := range words {
		if !strings.Contains(text, w) {
			t.Errorf("%s: %q does not say %q", c.Name, text, w)
		}
	}
}

// TestScenarioGearyPOP3First: a provider that lists POP3 first breaks
// Geary, which reads only the first incomingServer; the clients that
// look for IMAP among the servers still pass.
func TestScenarioGearyPOP3First(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.autoconf = serveCatalog(t, `providers:
  - id: example.com
    domains: [example.com]
    incoming:
      - {protocol: pop3, host: pop.example.com, port: 995, security: tls}
      - {protocol: imap, host: imap.example.com, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.com, port: 465, security: tls}
`, "")
	rep := s.run(t, ca)
	wantStatus(t, rep, map[string]doctor.Status{
		"geary": doctor.Fail,
		"gnome": doctor.Pass, "nextcloud": doctor.Pass, "thunderbird-ios": doctor.Pass, "thunderbird": doctor.Pass,
	})
	wantReason(t, rep, "geary", false, "Geary", "Unsupported protocol", `"pop3"`)
	wantReason(t, rep, "geary", true, "IMAP server before any POP3 server")
}

// TestScenarioGNOMELogin: a login from a directory (%LOGIN%) reaches the
// document as a literal, which GNOME drops: a warning naming GNOME and
// the typing its users must do.
func TestScenarioGNOMELogin(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.autoconf = serveCatalog(t, `directories:
  - {name: users, type: postgres, url_env: USERS_DB_URL, login: "SELECT login FROM users WHERE email = $1"}
providers:
  - id: example.com
    domains: [example.com]
    login_directory: users
    incoming: [{protocol: imap, host: imap.example.com, port: 993, security: tls, username: "%LOGIN%"}]
    outgoing: [{protocol: smtp, host: smtp.example.com, port: 465, security: tls, username: "%LOGIN%"}]
`, "u1001")
	rep := s.run(t, ca)
	wantStatus(t, rep, map[string]doctor.Status{"gnome": doctor.Warn, "thunderbird": doctor.Pass, "nextcloud": doctor.Pass})
	wantReason(t, rep, "gnome", false, "GNOME drops it", "type their login name by hand", `"u1001"`)
}

// TestScenarioSubmissionsOnly: a provider that submits on 465 only
// publishes _submission as ".". Without _smtps, aerc takes SRV's answer
// with no SMTP server; Claws Mail, which asks only _submission, finds
// none either way.
func TestScenarioSubmissionsOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		smtps bool
		aerc  doctor.Status
	}{
		{"without _smtps", false, doctor.Fail},
		{"with _smtps", true, doctor.Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ca := newCA(t)
			s := newScenario(t, ca)
			delete(s.zone, "_submission._tcp.example.com.")
			s.zone.Add("_submission._tcp.example.com. 300 IN SRV 0 0 0 .")
			if !tc.smtps {
				delete(s.zone, "_smtps._tcp.example.com.")
			}
			rep := s.run(t, ca)
			wantStatus(t, rep, map[string]doctor.Status{"aerc": tc.aerc, "claws": doctor.Fail, "thunderbird": doctor.Pass})
			wantReason(t, rep, "claws", false, "Claws Mail asks only _submission._tcp")
			if tc.smtps {
				if out := findClient(t, rep, "aerc").Outgoing; out == nil || out.String() != "SMTP smtp.example.com:465 SSL" {
					t.Errorf("aerc outgoing = %v, want SMTP smtp.example.com:465 SSL from _smtps", out)
				}
				return
			}
			wantReason(t, rep, "aerc", false, "aerc configures from the SRV records alone", "no SMTP server")
			wantReason(t, rep, "aerc", true, "_smtps._tcp")
		})
	}
}
