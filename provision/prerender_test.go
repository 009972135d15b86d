package provision

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// prerenderCatalogs are catalogs whose every provider and domain the
// pre-rendered output is compared on: the golden-file variants, the
// Autodiscover redirect catalog, an IDN catalog, and a provider whose
// names and login templates hold every character that needs escaping.
func prerenderCatalogs(t testing.TB) map[string]*Catalog {
	t.Helper()
	srcs := map[string]string{"ad": adCatalog, "tricky": `providers:
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
				check("Thunderbird(nil)", c.Thunderbird(p, d, nil), Thunderbird(p, d, nil))
				check("Autodiscover(nil)", c.Autodiscover(p, d, nil), Autodiscover(p, d, nil))
				for _, local := range prerenderLocals {
					a, err := ParseAddress(local + "@" + d)
					if err != nil {
						t.Fatalf("ParseAddress(%s@%s): %v", local, d, err)
					}
					check("Thunderbird("+local+")", c.Thunderbird(p, d, &a), Thunderbird(p, d, &a))
					check("Autodiscover("+local+")", c.Autodiscover(p, d, &a), Autodiscover(p, d, &a))
					got, gotOK := c.MobileSync(p, a)
					want, wantOK := MobileSync(p, a)
					if gotOK != wantOK {
						t.Errorf("%s MobileSync(%s) ok = %v, want %v", name, a, gotOK, wantOK)
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
	same("thunderbird/demo-placeholders.xml", demoCat.Thunderbird(demo, "example.com", nil))
	same("thunderbird/demo-filled.xml", demoCat.Thunderbird(demo, "example.com", alice))
	for name, src := range variants {
		c, err := Parse(Source{Name: name, Data: []byte(src)})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := c.Lookup("example.org")
		same("thunderbird/"+name+".xml", c.Thunderbird(p, "example.org", &Address{Local: "bob", Domain: "example.org"}))
	}
	cat := loadADCatalog(t)
	ad, _ := cat.Lookup("example.com")
	hoster, _ := cat.Lookup("hoster.net")
	same("autodiscover/settings-get.xml", cat.Autodiscover(ad, "example.com", nil))
	same("autodiscover/settings-get-templates.xml", cat.Autodiscover(hoster, "hoster.net", nil))
	same("autodiscover/redirect-addr-literal-get.xml", cat.Autodiscover(hoster, "shared.example", nil))
	same("autodiscover/redirect-url-get.xml", cat.Autodiscover(hoster, "moved.example", nil))
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
		r, err := AnswerAutodiscover(cat, tc.host, []byte(tc.body), adNow)
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
	got := c.Thunderbird(&copied, "example.com", nil)
	if !bytes.Equal(got, Thunderbird(&copied, "example.com", nil)) || !bytes.Contains(got, []byte("Changed")) {
		t.Errorf("a copied provider was served another's template:\n%s", got)
	}
	var none *Catalog
	if !bytes.Equal(none.Thunderbird(p, "example.com", nil), Thunderbird(p, "example.com", nil)) {
		t.Error("a nil catalog does not render like Thunderbird")
	}
}

// TestAppendXMLText compares the splice's escaping with etree's, in text
// and in attribute values.
func TestAppendXMLText(t *testing.T) {
	for _, s := range xmlTextSeeds {
		checkXMLText(t, s)
	}
}

var xmlTextSeeds = []string{
	"plain", "a&b", "<x>", `"q"`, "o'neil", "tab\there", "nl\nhere", "cr\rhere", "\x00", "\x01\x1f", "\xff", "a\xc3",
	"\ufffd", "\ue000", "\uffff", "\ufffe", "\U0001F600", "\ud7ff", "jürgen", "]]>", "&amp;", "%EMAILADDRESS%",
}

func checkXMLText(t *testing.T, s string) {
	t.Helper()
	if s == "" {
		return
	}
	for _, attr := range []bool{false, true} {
		doc := etree.NewDocument()
		el := doc.CreateElement("a")
		want := "<a>" + string(appendXMLText(nil, s)) + "</a>"
		if attr {
			el.CreateAttr("v", s)
			want = `<a v="` + string(appendXMLText(nil, s)) + `"/>`
		} else {
			el.SetText(s)
		}
		got, err := doc.WriteToString()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("escaping %q (attribute %v): etree writes %q, the splice %q", s, attr, got, want)
		}
	}
}

// FuzzAppendXMLText: the splice escapes every string as etree does.
func FuzzAppendXMLText(f *testing.F) {
	for _, s := range xmlTextSeeds {
		f.Add(s)
	}
	f.Fuzz(checkXMLText)
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
			if got, want := c.Thunderbird(p, d, &a), Thunderbird(p, d, &a); !bytes.Equal(got, want) {
				t.Fatalf("Thunderbird(%s): pre-rendered\n%s\netree\n%s", a, got, want)
			}
			if got, want := c.AppendThunderbirdServers(nil, p, d, &a, OnePerType), ThunderbirdServers(p, d, &a, OnePerType); !bytes.Equal(got, want) {
				t.Fatalf("ThunderbirdServers(%s, OnePerType): pre-rendered\n%s\netree\n%s", a, got, want)
			}
			if got, want := c.Autodiscover(p, d, &a), Autodiscover(p, d, &a); !bytes.Equal(got, want) {
				t.Fatalf("Autodiscover(%s): pre-rendered\n%s\netree\n%s", a, got, want)
			}
			got, _ := c.MobileSync(p, a)
			if want, _ := MobileSync(p, a); !bytes.Equal(got, want) {
				t.Fatalf("MobileSync(%s): pre-rendered\n%s\netree\n%s", a, got, want)
			}
			doc := parse(t, c.Thunderbird(p, d, &a))
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
						got, ok := AutodiscoverJSON(p, addr, protocol, public)
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
