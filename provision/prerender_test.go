package provision

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// prerenderCatalogs are catalogs whose every provider and domain the
// pre-rendered output is compared on: the golden-file variants, the
// Autodiscover redirect catalog, an IDN catalog, a provider whose names
// and login templates hold every character that needs escaping, and one
// with %LOGIN%.
func prerenderCatalogs(t testing.TB) map[string]*Catalog {
	t.Helper()
	ad, err := os.ReadFile(adCatalogFile)
	if err != nil {
		t.Fatal(err)
	}
	srcs := map[string]string{"ad": string(ad), "login": loginCatalog, "tricky": `providers:
  - id: tricky.example
    display_name: "Tom & Jerry's <\"Mail\">"
    short_name: "T&J's"
    domains: [tricky.example, bücher.example, xn--caf-dma.example]
    incoming:
      - {protocol: imap, host: imap.tricky.example, port: 993, security: tls, username: "%EMAILLOCALPART%+%EMAILDOMAIN%&<'\">"}
      - {protocol: pop3, host: pop.tricky.example, port: 995, security: tls, username: "x%EMAILADDRESS%x", pop3: {leave_on_server: false}}
    outgoing:
      - {protocol: smtp, host: smtp.tricky.example, port: 587, security: starttls, username: "%EMAILDOMAIN%\\%EMAILLOCALPART%", auth: [NTLM, password-encrypted]}
    caldav: "https://dav.tricky.example/cal?a=1&b='2'"
    carddav: "https://dav.tricky.example/card"
    webmail: "https://webmail.tricky.example/?x=<y>"
    activesync: "https://eas.tricky.example/Microsoft-Server-ActiveSync?a=1&b=2"
    oauth2: {issuer: login.tricky.example, scope: "a&b <c>", auth_url: "https://login.tricky.example/a?b=1&c=2", token_url: "https://login.tricky.example/t"}
    domain_redirects:
      xn--caf-dma.example: {redirect_address: "%EMAILLOCALPART%@tricky.example"}
`}
	for name, src := range variants {
		srcs[name] = src
	}
	out := map[string]*Catalog{"demo": Demo()}
	for name, src := range srcs {
		c, err := Parse(Source{Name: name, Data: []byte(src)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = c
	}
	return out
}

// prerenderLocals are local parts of the addresses compared: every
// character ParseAddress allows, apostrophes, non-ASCII letters and marks.
var prerenderLocals = []string{
	"alice", "o'neil", "O'Brien.Smith", "a+b", "!#$'*+-/=?^_`{|}~", "jürgen", "Ærø", "用户", "δοκιμή",
	"e\u0301t\u00e9", "x", strings.Repeat("l", 64), "q'''q", "0", "a.b.c",
}

// TestPrerenderMatchesEtree compares every pre-rendered document with the
// etree renderer's, for every provider, domain and address above.
func TestPrerenderMatchesEtree(t *testing.T) {
	compared := 0
	cats := prerenderCatalogs(t)
	for name, c := range cats {
		for _, p := range c.Providers() {
			if c.templates(p) == nil {
				t.Fatalf("%s: no templates for provider %s", name, p.ID)
			}
			for _, d := range p.Domains {
				check := func(what string, got, want []byte) {
					t.Helper()
					compared++
					if !bytes.Equal(got, want) {
						t.Errorf("%s %s %s: pre-rendered differs from etree\n--- pre-rendered:\n%s\n--- etree:\n%s", name, d, what, got, want)
					}
				}
				check("Thunderbird(nil)", rendered(c.Autoconfig(nil, p, d, nil, Options{})), etreeAutoconfig(p, d, nil))
				check("Autodiscover(nil)", rendered(c.Autodiscover(nil, p, d, nil, Options{})), etreeAutodiscover(p, d, nil))
				for _, local := range prerenderLocals {
					a, err := ParseAddress(local + "@" + d)
					if err != nil {
						t.Fatalf("ParseAddress(%s@%s): %v", local, d, err)
					}
					check("Thunderbird("+local+")", rendered(c.Autoconfig(nil, p, d, &a, Options{})), etreeAutoconfig(p, d, &a))
					check("Autodiscover("+local+")", rendered(c.Autodiscover(nil, p, d, &a, Options{})), etreeAutodiscover(p, d, &a))
					got, gotOK := mobileSync(c, p, a)
					want, wantOK := etreeMobileSync(p, a)
					if gotOK != wantOK {
						t.Errorf("%s etreeMobileSync(%s) ok = %v, want %v", name, a, gotOK, wantOK)
					}
					check("MobileSync("+local+")", got, want)
				}
			}
		}
	}
	// Every template made proved itself: none fell back to etree.
	for name, c := range cats {
		for _, p := range c.Providers() {
			tried := 0
			for i, l := range c.templates(p).all() {
				if l.tried {
					tried++
					if l.t == nil {
						t.Errorf("%s: provider %s: template %d failed its probes", name, p.ID, i)
					}
				}
			}
			if tried < 2 {
				t.Errorf("%s: provider %s: %d templates made", name, p.ID, tried)
			}
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, schema := range []AutodiscoverSchema{OutlookSchema, MobileSyncSchema} {
		for _, code := range []int{CodeInvalidRequest, CodeNoProvider, 999} {
			if got, want := AutodiscoverError(schema, code, now), autodiscoverErrorDoc(schema, code, errorTime(now)); !bytes.Equal(got, want) {
				t.Errorf("AutodiscoverError(%d, %d):\n%s\nwant\n%s", schema, code, got, want)
			}
			if code != 999 && errorTemplate(schema, code) == nil {
				t.Errorf("no template for error %d in schema %d", code, schema)
			}
		}
	}
	t.Logf("%d documents compared", compared)
}

// TestPrerenderGolden renders the golden files' cases through the
// catalog's templates: the golden files are the contract of both paths.
func TestPrerenderGolden(t *testing.T) {
	demoCat := Demo()
	demo, _ := demoCat.Lookup("example.com")
	alice := &Address{Local: "alice", Domain: "example.com"}
	read := func(name string) []byte {
		t.Helper()
		b, err := readGolden(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	same := func(name string, got []byte) {
		t.Helper()
		if want := read(name); !bytes.Equal(got, want) {
			t.Errorf("%s: pre-rendered output differs from the golden file\n%s", name, got)
		}
	}
	same("thunderbird/demo-placeholders.xml", rendered(demoCat.Autoconfig(nil, demo, "example.com", nil, Options{})))
	same("thunderbird/demo-filled.xml", rendered(demoCat.Autoconfig(nil, demo, "example.com", alice, Options{})))
	for name, src := range variants {
		c, err := Parse(Source{Name: name, Data: []byte(src)})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := c.Lookup("example.org")
		same("thunderbird/"+name+".xml", rendered(c.Autoconfig(nil, p, "example.org", &Address{Local: "bob", Domain: "example.org"}, Options{})))
	}
	cat := loadADCatalog(t)
	ad, _ := cat.Lookup("example.com")
	hoster, _ := cat.Lookup("hoster.net")
	same("autodiscover/settings-get.xml", rendered(cat.Autodiscover(nil, ad, "example.com", nil, Options{})))
	same("autodiscover/settings-get-templates.xml", rendered(cat.Autodiscover(nil, hoster, "hoster.net", nil, Options{})))
	same("autodiscover/redirect-addr-literal-get.xml", rendered(cat.Autodiscover(nil, hoster, "shared.example", nil, Options{})))
	same("autodiscover/redirect-url-get.xml", rendered(cat.Autodiscover(nil, hoster, "moved.example", nil, Options{})))
	for _, tc := range []struct{ name, host, body string }{
		{"settings-post.xml", "", outlookRequest("fred@example.com")},
		{"settings-post-templates.xml", "hoster.net", outlookRequest("fred@hoster.net")},
		{"redirect-addr.xml", "", outlookRequest("fred@old.example")},
		{"redirect-url.xml", "", outlookRequest("fred@moved.example")},
		{"error-600.xml", "example.com", "<Autodiscover/>"},
		{"mobilesync-settings.xml", "", mobileSyncRequest("fred@hoster.net")},
		{"mobilesync-redirect.xml", "", mobileSyncRequest("fred@old.example")},
		{"mobilesync-601.xml", "", mobileSyncRequest("fred@example.com")},
	} {
		r, err := cat.AnswerAutodiscover(nil, tc.host, []byte(tc.body), adNow, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		same("autodiscover/"+tc.name, r.Body)
	}
}

// TestPrerenderOtherProviders: a provider that is not one of the
// catalog's (a copy, or another catalog's) is rendered by etree, right.
func TestPrerenderOtherProviders(t *testing.T) {
	c := Demo()
	p, _ := c.Lookup("example.com")
	copied := *p
	copied.DisplayName = "Changed"
	got := rendered(c.Autoconfig(nil, &copied, "example.com", nil, Options{}))
	if !bytes.Equal(got, etreeAutoconfig(&copied, "example.com", nil)) || !bytes.Contains(got, []byte("Changed")) {
		t.Errorf("a copied provider was served another's template:\n%s", got)
	}
	var none *Catalog
	if !bytes.Equal(rendered(none.Autoconfig(nil, p, "example.com", nil, Options{})), etreeAutoconfig(p, "example.com", nil)) {
		t.Error("a nil catalog does not render like Thunderbird")
	}
}

// FuzzPrerender: for any address ParseAddress accepts, at any domain of
// the test catalogs, the pre-rendered documents are the etree renderer's,
// and well-formed with the address as the login name.
func FuzzPrerender(f *testing.F) {
	for _, l := range prerenderLocals {
		f.Add(l, 0)
	}
	cats := prerenderCatalogs(f)
	var all []*Catalog
	for _, name := range []string{"demo", "ad", "tricky", "imap-only", "pop3-only", "starttls-only", "oauth2"} {
		all = append(all, cats[name])
	}
	f.Fuzz(func(t *testing.T, local string, which int) {
		c := all[uint(which)%uint(len(all))]
		for _, p := range c.Providers() {
			d := p.Domains[uint(len(local))%uint(len(p.Domains))]
			a, err := ParseAddress(local + "@" + d)
			if err != nil {
				return
			}
			if got, want := rendered(c.Autoconfig(nil, p, d, &a, Options{})), etreeAutoconfig(p, d, &a); !bytes.Equal(got, want) {
				t.Fatalf("Thunderbird(%s): pre-rendered\n%s\netree\n%s", a, got, want)
			}
			if got, want := rendered(c.Autoconfig(nil, p, d, &a, Options{Servers: OnePerType})), autoconfigDoc(p, d, &a, OnePerType); !bytes.Equal(got, want) {
				t.Fatalf("ThunderbirdServers(%s, OnePerType): pre-rendered\n%s\netree\n%s", a, got, want)
			}
			if got, want := rendered(c.Autodiscover(nil, p, d, &a, Options{})), etreeAutodiscover(p, d, &a); !bytes.Equal(got, want) {
				t.Fatalf("Autodiscover(%s): pre-rendered\n%s\netree\n%s", a, got, want)
			}
			got, _ := mobileSync(c, p, a)
			if want, _ := etreeMobileSync(p, a); !bytes.Equal(got, want) {
				t.Fatalf("MobileSync(%s): pre-rendered\n%s\netree\n%s", a, got, want)
			}
			doc := parse(t, rendered(c.Autoconfig(nil, p, d, &a, Options{})))
			for _, u := range doc.FindElements("//incomingServer/username") {
				if !strings.Contains(u.Text(), a.Local) {
					t.Fatalf("username %q does not hold the local part %q", u.Text(), a.Local)
				}
			}
		}
	})
}

func readGolden(name string) ([]byte, error) {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		return nil, fmt.Errorf("%v (the golden files come from golden_test.go)", err)
	}
	return b, nil
}

// TestAutodiscoverJSONTemplates compares the spliced v2 answers with
// encoding/json's for every answer kind and odd protocol values.
func TestAutodiscoverJSONTemplates(t *testing.T) {
	cats := prerenderCatalogs(t)
	for _, name := range []string{"demo", "ad", "tricky"} {
		for _, p := range cats[name].Providers() {
			for _, d := range p.Domains {
				addr := Address{Local: "o'neil", Domain: d}
				for _, protocol := range []string{"AutodiscoverV1", "autodiscoverv1", "ActiveSync", "activesync", "Ews", "", "<x>&\"", "\u2028", "\xff"} {
					for _, public := range []string{"", "autoconfig.hoster.example"} {
						got, ok := autodiscoverJSON(p, addr, protocol, public)
						var want []byte
						switch {
						case strings.EqualFold(protocol, ProtocolAutodiscoverV1):
							host := public
							if host == "" {
								host = "autodiscover." + d
							}
							want = marshalJSON(jsonAnswer{ProtocolAutodiscoverV1, "https://" + host + AutodiscoverPath})
						case strings.EqualFold(protocol, ProtocolActiveSync) && p.ActiveSync != "":
							want = marshalJSON(jsonAnswer{ProtocolActiveSync, p.ActiveSync})
						default:
							want = marshalJSON(jsonError{"InvalidProtocol", invalidProtocolMessage(p, protocol)})
						}
						if !bytes.Equal(got, want) {
							t.Errorf("AutodiscoverJSON(%s, %q, %q) = %s, want %s", d, protocol, public, got, want)
						}
						if ok != !bytes.Contains(want, []byte("InvalidProtocol")) {
							t.Errorf("AutodiscoverJSON(%s, %q) ok = %v", d, protocol, ok)
						}
					}
				}
			}
		}
	}
}

// TestRenderBadInput: every renderer answers input it cannot render (no
// provider, a hand-made provider with no advertised incoming server, no
// address for a format about one account) with an error, never a panic,
// through templates or not.
func TestRenderBadInput(t *testing.T) {
	demoCat := Demo()
	demo, _ := demoCat.Lookup("example.com")
	noIncoming := &Provider{ID: "bare", Domains: []string{"bare.example"}, Incoming: []Server{{Protocol: IMAP, Host: "imap.bare.example", Port: 143, Security: None}}}
	alice := &Address{Local: "alice", Domain: "example.com"}
	type renderer func(*Catalog, []byte, *Provider, string, *Address, Options) ([]byte, error)
	formats := map[string]renderer{
		"Thunderbird": (*Catalog).Autoconfig, "Autodiscover": (*Catalog).Autodiscover, "MobileSync": (*Catalog).MobileSync,
		"AutodiscoverJSON": (*Catalog).AutodiscoverJSON, "Mobileconfig": (*Catalog).Mobileconfig,
	}
	needAddress := map[string]bool{"MobileSync": true, "AutodiscoverJSON": true, "Mobileconfig": true}
	for name, render := range formats {
		for _, c := range []*Catalog{nil, demoCat} {
			for _, tc := range []struct {
				what string
				p    *Provider
				addr *Address
				bad  bool
			}{
				{"no provider", nil, alice, true},
				{"no advertised incoming server", noIncoming, alice, true},
				{"no address", demo, nil, needAddress[name]},
			} {
				got, err := render(c, []byte("x"), tc.p, "example.com", tc.addr, Options{Servers: OnePerType})
				if tc.bad && (err == nil || string(got) != "x") {
					t.Errorf("%s, %s: %q, %v; want an error and dst as it was", name, tc.what, got, err)
				}
				if !tc.bad && err != nil {
					t.Errorf("%s, %s: %v", name, tc.what, err)
				}
			}
		}
	}
}
