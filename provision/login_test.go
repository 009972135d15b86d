package provision

import (
	"bytes"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"howett.net/plist"

	"mailautoconf/internal/testutil/golden"
)

// loginCatalog has a provider whose logins come from a directory: %LOGIN%
// alone, %LOGIN% inside a longer template, and DAV accounts.
const loginCatalog = `directories:
  - {name: users, type: postgres, url_env: USERS_DB_URL, login: "SELECT login FROM users WHERE email = $1"}
providers:
  - id: login.example
    display_name: Login Mail
    domains: [example.org]
    login_directory: users
    incoming:
      - {protocol: imap, host: imap.example.org, port: 993, security: tls, username: "%LOGIN%"}
      - {protocol: pop3, host: pop.example.org, port: 995, security: tls, username: "%LOGIN%"}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 465, security: tls, username: "CORP\\%LOGIN%"}
    caldav: https://dav.example.org/
    carddav: https://dav.example.org/card/
`

func loginCat(t testing.TB) (*Catalog, *Provider) {
	t.Helper()
	c, err := Parse(Source{Name: "login.yaml", Data: []byte(loginCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Lookup("example.org")
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

func TestCheckLogin(t *testing.T) {
	for _, tc := range []struct {
		login string
		ok    bool
	}{
		{"alice", true}, {"CORP\\alice", true}, {"j.o'neil<&>\"x\"", true}, {"jürgen", true}, {"用户", true},
		{"alice@example.org", true}, {strings.Repeat("l", 256), true}, {"]]>", true},
		{"", false}, {strings.Repeat("l", 257), false}, {"a b", false}, {" alice", false}, {"alice\n", false},
		{"a\x00b", false}, {"a\tb", false}, {"\xff", false}, {"a\xc3", false}, {"%EMAILADDRESS%", false}, {"100%", false},
		{"a\u202eb", false}, {"a\u00a0b", false}, {"a\u2028b", false}, {"a\u200bb", false}, {"\ue000", false},
	} {
		if err := CheckLogin(tc.login); (err == nil) != tc.ok {
			t.Errorf("CheckLogin(%q) = %v, want ok %v", tc.login, err, tc.ok)
		} else if err != nil && strings.Contains(err.Error(), tc.login) && len(tc.login) > 2 {
			t.Errorf("CheckLogin(%q) = %v: the error shows the login", tc.login, err)
		}
	}
}

// TestLoginEveryFormat: %LOGIN% is the directory's login in every format
// that carries a user name, the address when the login is missing or
// refused, and %EMAILADDRESS% without an address; through templates and
// through the reference renderers alike.
func TestLoginEveryFormat(t *testing.T) {
	c, p := loginCat(t)
	const addr = "anna@example.org"
	for _, tc := range []struct {
		name, login, want string
	}{
		{"found", "anna42", "anna42"},
		{"markup", "j.o'neil<&>\"x\"", "j.o'neil<&>\"x\""},
		{"none", "", addr},
		{"refused: newline", "anna\n42", addr},
		{"refused: NUL", "anna\x00", addr},
		{"refused: too long", strings.Repeat("a", 300), addr},
		{"refused: placeholder", "%EMAILLOCALPART%", addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Address{Local: "anna", Domain: "example.org", Login: tc.login}
			for _, cat := range []*Catalog{c, nil} { // templates, then etree
				doc := parse(t, rendered(cat.Autoconfig(nil, p, "example.org", a, Options{})))
				users := doc.FindElements("//username")
				if len(users) != 5 { // imap, pop3, smtp, addressBook, calendar
					t.Fatalf("%d usernames", len(users))
				}
				for _, u := range users {
					if want := strings.TrimSuffix(u.Text(), tc.want); want != "" && want != "CORP\\" {
						t.Errorf("Thunderbird username %q, want %q", u.Text(), tc.want)
					}
				}
				doc = parse(t, rendered(cat.Autodiscover(nil, p, "example.org", a, Options{})))
				names := doc.FindElements("//LoginName")
				if len(names) != 3 || names[0].Text() != tc.want || names[2].Text() != "CORP\\"+tc.want {
					t.Errorf("Autodiscover LoginName %v, want %q", texts(names), tc.want)
				}
				if up := doc.FindElement("//UsePOPAuth"); up == nil || up.Text() != "off" {
					t.Errorf("UsePOPAuth = %v, want off (CORP\\%%LOGIN%% is not %%LOGIN%%)", up)
				}
				profile := rendered(cat.Mobileconfig(nil, p, "example.org", a, Options{}))
				var top struct {
					PayloadContent []map[string]any
				}
				if _, err := plist.Unmarshal(profile, &top); err != nil {
					t.Fatal(err)
				}
				m := top.PayloadContent
				if m[0]["IncomingMailServerUsername"] != tc.want || m[0]["OutgoingMailServerUsername"] != "CORP\\"+tc.want ||
					m[1]["CalDAVUsername"] != tc.want || m[2]["CardDAVUsername"] != tc.want || m[0]["EmailAddress"] != addr {
					t.Errorf("profile user names: %v %v %v %v", m[0]["IncomingMailServerUsername"], m[0]["OutgoingMailServerUsername"], m[1]["CalDAVUsername"], m[2]["CardDAVUsername"])
				}
			}
			// The setup page's settings table.
			acct, err := ChooseAccount(p, *a, POP3)
			if err != nil || acct.IncomingUsername != tc.want || acct.OutgoingUsername != "CORP\\"+tc.want || acct.Address.String() != addr {
				t.Errorf("ChooseAccount = %+v, %v", acct, err)
			}
			if got := ExpandUsername("x-%LOGIN%-%EMAILLOCALPART%", a); got != "x-"+tc.want+"-anna" {
				t.Errorf("ExpandUsername = %q", got)
			}
		})
	}
	// No address: the client fills %EMAILADDRESS%, never %LOGIN%.
	for _, cat := range []*Catalog{c, nil} {
		b := rendered(cat.Autoconfig(nil, p, "example.org", nil, Options{}))
		if bytes.Contains(b, []byte("%LOGIN%")) || !bytes.Contains(b, []byte("<username>CORP\\%EMAILADDRESS%</username>")) {
			t.Errorf("Thunderbird without an address:\n%s", b)
		}
		b = rendered(cat.Autodiscover(nil, p, "example.org", nil, Options{}))
		if bytes.Contains(b, []byte("%LOGIN%")) || !bytes.Contains(b, []byte("<LoginName>%EMAILADDRESS%</LoginName>")) {
			t.Errorf("Autodiscover GET:\n%s", b)
		}
	}
	if got := ExpandUsername("%LOGIN%", nil); got != PlaceholderAddress {
		t.Errorf("ExpandUsername(%%LOGIN%%, nil) = %q", got)
	}
	// Evolution's placeholder address gets the fallback, which Evolution
	// then replaces itself.
	evo := &Address{Local: EvolutionPlaceholder, Domain: "example.org"}
	b := rendered(c.Autoconfig(nil, p, "example.org", evo, Options{Servers: AutoconfigServers("", evo)}))
	if !bytes.Contains(b, []byte("<username>EVOLUTIONUSER@example.org</username>")) {
		t.Errorf("Evolution:\n%s", b)
	}
}

func texts(els []*etree.Element) []string {
	out := make([]string, len(els))
	for i, e := range els {
		out[i] = e.Text()
	}
	return out
}

// TestLoginGolden: the golden files of %LOGIN%, through the reference
// renderers and the templates.
func TestLoginGolden(t *testing.T) {
	c, p := loginCat(t)
	login := &Address{Local: "anna", Domain: "example.org", Login: "j.o'neil<&>"}
	refused := &Address{Local: "anna", Domain: "example.org", Login: "bad login\n"}
	both := func(name string, ref []byte, fast []byte) {
		t.Helper()
		golden.Check(t, name, ref)
		if !bytes.Equal(ref, fast) {
			t.Errorf("%s: the template renders\n%s", name, fast)
		}
	}
	both("thunderbird/login.xml", etreeAutoconfig(p, "example.org", login), rendered(c.Autoconfig(nil, p, "example.org", login, Options{})))
	both("thunderbird/login-refused.xml", etreeAutoconfig(p, "example.org", refused), rendered(c.Autoconfig(nil, p, "example.org", refused, Options{})))
	both("thunderbird/login-placeholders.xml", etreeAutoconfig(p, "example.org", nil), rendered(c.Autoconfig(nil, p, "example.org", nil, Options{})))
	both("thunderbird/login-one-per-type.xml", autoconfigDoc(p, "example.org", login, OnePerType), rendered(c.Autoconfig(nil, p, "example.org", login, Options{Servers: OnePerType})))
	both("autodiscover/settings-post-login.xml", etreeAutodiscover(p, "example.org", login), rendered(c.Autodiscover(nil, p, "example.org", login, Options{})))
	both("autodiscover/settings-get-login.xml", etreeAutodiscover(p, "example.org", nil), rendered(c.Autodiscover(nil, p, "example.org", nil, Options{})))
	profile, err := mobileconfigDoc(p, *login, ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	both("mobileconfig/login.mobileconfig", profile, rendered(c.Mobileconfig(nil, p, "example.org", login, Options{})))
	checkProfile(t, profile, "anna@example.org", "")
	for i, l := range c.templates(p).all() {
		if l.tried && l.t == nil {
			t.Errorf("template %d failed its probes: %%LOGIN%% is served by etree", i)
		}
	}
	if c.templates(p).autoconfig[1].t == nil || c.templates(p).settings[1].t == nil {
		t.Error("no template with an address was made")
	}
}

// FuzzLogin: for any address and any login value, the pre-rendered
// documents are the reference renderers', well-formed, and their user
// names are the login when CheckLogin accepts it and the address when it
// does not.
func FuzzLogin(f *testing.F) {
	for _, s := range []string{"anna42", "j.o'neil<&>\"x\"", "", "a\x00b", "]]>&amp;", "\xff", "jürgen\n", "%LOGIN%", "\ue000x0\ue001"} {
		f.Add("anna", s)
	}
	f.Add("o'neil", "CORP\\o'neil")
	c, p := loginCat(f)
	f.Fuzz(func(t *testing.T, local, login string) {
		a, err := ParseAddress(local + "@example.org")
		if err != nil {
			return
		}
		a.Login = login
		want := login
		if CheckLogin(login) != nil {
			want = a.String()
		}
		tb := rendered(c.Autoconfig(nil, p, "example.org", &a, Options{}))
		if ref := etreeAutoconfig(p, "example.org", &a); !bytes.Equal(tb, ref) {
			t.Fatalf("Thunderbird(%q): pre-rendered\n%s\netree\n%s", login, tb, ref)
		}
		if got, ref := rendered(c.Autoconfig(nil, p, "example.org", &a, Options{Servers: OnePerType})), autoconfigDoc(p, "example.org", withLogin(&a), OnePerType); !bytes.Equal(got, ref) {
			t.Fatalf("Thunderbird(%q, OnePerType): pre-rendered\n%s\netree\n%s", login, got, ref)
		}
		ad := rendered(c.Autodiscover(nil, p, "example.org", &a, Options{}))
		if ref := etreeAutodiscover(p, "example.org", &a); !bytes.Equal(ad, ref) {
			t.Fatalf("Autodiscover(%q): pre-rendered\n%s\netree\n%s", login, ad, ref)
		}
		if u := parse(t, tb).FindElement("//incomingServer/username"); u == nil || u.Text() != want {
			t.Fatalf("Thunderbird username for login %q = %v, want %q", login, u, want)
		}
		if u := parse(t, ad).FindElement("//LoginName"); u == nil || u.Text() != want {
			t.Fatalf("Autodiscover LoginName for login %q = %v, want %q", login, u, want)
		}
		var top struct{ PayloadContent []map[string]any }
		if _, err := plist.Unmarshal(rendered(c.Mobileconfig(nil, p, "example.org", &a, Options{})), &top); err != nil {
			t.Fatal(err)
		}
		if got := top.PayloadContent[0]["IncomingMailServerUsername"]; got != want {
			t.Fatalf("profile user name for login %q = %q, want %q", login, got, want)
		}
	})
}
