package importxml

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"mailautoconf/internal/testutil/golden"

	"mailautoconf/provision"
)

// importCases reads testdata/import/*.xml in name order.
func importCases(t testing.TB) []provision.Source {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "import", "*.xml"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no testdata/import/*.xml (%v)", err)
	}
	var srcs []provision.Source
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, provision.Source{Name: filepath.Base(n), Data: data})
	}
	return srcs
}

// importReport is the golden form of an import: warnings, error, YAML.
func importReport(yamlDoc []byte, files ...File) []byte {
	var b bytes.Buffer
	for _, f := range files {
		for _, w := range f.Warnings {
			fmt.Fprintf(&b, "# warning: %s\n", w)
		}
		if f.Err != nil {
			fmt.Fprintf(&b, "# error: %s\n", f.Err)
		}
	}
	b.Write(yamlDoc)
	return b.Bytes()
}

// TestImportGolden imports each testdata/import file alone, and all of
// them together as `mailautoconf import testdata/import/*.xml` would.
func TestImportGolden(t *testing.T) {
	srcs := importCases(t)
	for _, src := range srcs {
		t.Run(src.Name, func(t *testing.T) {
			f := Document(src.Name, src.Data)
			var y []byte
			if f.Err == nil {
				y = MarshalCatalog(f.Providers)
			} else if f.Providers != nil {
				t.Errorf("Document(%s) failed but returned providers", src.Name)
			}
			golden.Check(t, filepath.Join("import", strings.TrimSuffix(src.Name, ".xml")+".golden"), importReport(y, f))
		})
	}
	y, files, err := Files(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("import", "all.golden"), importReport(y, files...))
}

func TestImportTable(t *testing.T) {
	const (
		in  = `<incomingServer type="imap"><hostname>imap.x.example</hostname><port>993</port><socketType>SSL</socketType><username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication></incomingServer>`
		out = `<outgoingServer type="smtp"><hostname>smtp.x.example</hostname><port>465</port><socketType>SSL</socketType><username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication></outgoingServer>`
	)
	// doc wraps the children of an emailProvider with id x.example.
	doc := func(inner string) string {
		return `<clientConfig version="1.1"><emailProvider id="x.example"><domain>x.example</domain>` + inner + `</emailProvider></clientConfig>`
	}
	tests := []struct {
		name string
		xml  string
		err  string   // substring of the error; "" = imported
		warn []string // substrings, each of some warning
		// check looks at the single imported provider.
		check func(t *testing.T, p *provision.Provider)
	}{
		{name: "minimal", xml: doc(in + out), check: func(t *testing.T, p *provision.Provider) {
			if p.ID != "x.example" || len(p.Incoming) != 1 || p.Incoming[0].Security != provision.TLS || p.Outgoing[0].Port != 465 {
				t.Errorf("got %+v", p)
			}
		}},
		{name: "BOM and ASCII in a latin1 declaration", xml: "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" + doc(in+out)},
		{name: "not XML", xml: "hello", err: "text outside the root element"},
		{name: "not XML either", xml: "{\"a\": 1} <", err: "not well-formed XML"},
		{name: "empty", xml: "", err: "no root element"},
		{name: "unclosed", xml: `<clientConfig><emailProvider id="x.example">`, err: "not well-formed XML"},
		{name: "invalid UTF-8", xml: doc("<displayName>caf\xe9</displayName>" + in + out), err: "not valid UTF-8"},
		{name: "latin1 declared, UTF-8 bytes", xml: `<?xml version="1.0" encoding="ISO-8859-1"?>` + doc("<displayName>café</displayName>"+in+out), err: `encoding "ISO-8859-1" declared`},
		{name: "DOCTYPE", xml: `<!DOCTYPE clientConfig>` + doc(in+out), err: "DOCTYPE"},
		{name: "DOCTYPE inside", xml: `<clientConfig><!DOCTYPE x><emailProvider/></clientConfig>`, err: "DOCTYPE"},
		{name: "undeclared entity", xml: doc(`<displayName>&evil;</displayName>` + in + out), err: "not well-formed XML"},
		{name: "two roots", xml: doc(in+out) + "<clientConfig/>", err: "more than one root"},
		{name: "text after root", xml: doc(in+out) + "junk", err: "text outside"},
		{name: "other root", xml: `<Autodiscover/>`, err: "not <clientConfig>"},
		{name: "prefixed root", xml: `<a:clientConfig xmlns:a="urn:x"><emailProvider id="x.example"/></a:clientConfig>`, err: "<a:clientConfig>"},
		{name: "no emailProvider", xml: `<clientConfig/>`, err: "no clientConfig/emailProvider"},
		{name: "no id", xml: strings.Replace(doc(in+out), ` id="x.example"`, "", 1), err: "has no id"},
		{name: "id not a host", xml: strings.Replace(doc(in+out), `x.example"`, `x example"`, 1), err: `id "x example" is not a host name`},
		{name: "id upper case", xml: strings.Replace(doc(in+out), `id="x.example"`, `id="X.Example."`, 1), check: func(t *testing.T, p *provision.Provider) {
			if p.ID != "x.example" {
				t.Errorf("ID = %q, want x.example", p.ID)
			}
		}},
		{name: "no valid domain", xml: strings.Replace(doc(in+out), "<domain>x.example</domain>", "<domain>x</domain><domain/>", 1), err: "no <domain>", warn: []string{`"x": dropped: not a domain name`, "domain[2]: dropped: empty"}},
		{name: "IDN domain", xml: doc(`<domain>Bücher.example</domain>` + in + out), check: func(t *testing.T, p *provision.Provider) {
			if !slices.Equal(p.Domains, []string{"x.example", "xn--bcher-kva.example"}) {
				t.Errorf("Domains = %v", p.Domains)
			}
		}},
		{name: "too large", xml: doc(in + out + "<!--" + strings.Repeat("x", MaxSize) + "-->"), err: "larger than"},
		{name: "second emailProvider", xml: strings.Replace(doc(in+out), "</clientConfig>", `<emailProvider id="y.example"/></clientConfig>`, 1), warn: []string{"emailProvider[2]: dropped: clients read only the first"}},
		{name: "no outgoing", xml: doc(in), err: "no outgoing SMTP server"},
		{name: "type IMAP", xml: doc(strings.Replace(in, `"imap"`, `"IMAP"`, 1) + out), err: "no incoming", warn: []string{`type "IMAP" is not imap or pop3`}},
		{name: "jmap", xml: doc(`<incomingServer type="jmap"><url>https://x.example/jmap</url></incomingServer>` + in + out), warn: []string{`type "jmap": the catalog has no JMAP servers`}},
		{name: "outgoing not smtp", xml: doc(in + strings.Replace(out, `"smtp"`, `"ews"`, 1)), err: "no outgoing", warn: []string{`type "ews": outgoing servers must be smtp`}},
		{name: "IP address host", xml: doc(strings.Replace(in, "imap.x.example", "192.0.2.1", 1) + in + out), warn: []string{`hostname "192.0.2.1": not a host name`}},
		{name: "underscore host", xml: doc(strings.Replace(in, "imap.x.example", "imap_1.x.example", 1) + in + out), warn: []string{`hostname "imap_1.x.example"`}},
		{name: "local part in host", xml: doc(strings.Replace(in, "imap.x.example", "%EMAILLOCALPART%.x.example", 1) + in + out), warn: []string{"a placeholder other than %EMAILDOMAIN%"}},
		{name: "domain placeholder inside a label", xml: doc(strings.Replace(in, "imap.x.example", "imap-%EMAILDOMAIN%", 1) + in + out), warn: []string{"must stand for whole labels"}},
		{name: "domain placeholder, one domain", xml: doc(strings.Replace(in, "imap.x.example", "imap.%EMAILDOMAIN%", 1) + out), check: func(t *testing.T, p *provision.Provider) {
			if p.ID != "x.example" || p.Incoming[0].Host != "imap.x.example" {
				t.Errorf("got id %s host %s, want x.example, imap.x.example", p.ID, p.Incoming[0].Host)
			}
		}},
		{name: "port 0", xml: doc(strings.Replace(in, "993", "0", 1) + out), err: "no incoming", warn: []string{`port "0" is not a port`}},
		{name: "port text", xml: doc(strings.Replace(in, "993", "993abc", 1) + in + out), warn: []string{`port "993abc" is not a port`}},
		{name: "no port", xml: doc(strings.Replace(in, "<port>993</port>", "", 1) + in + out), warn: []string{"dropped: no port"}},
		{name: "socketType lower case", xml: doc(strings.Replace(in, "SSL", "ssl", 1) + in + out), warn: []string{`"ssl": dropped: not SSL, STARTTLS or plain`, "dropped: no socketType"}},
		{name: "second socketType", xml: doc(strings.Replace(in, "<socketType>SSL</socketType>", "<socketType>TLS</socketType><socketType>STARTTLS</socketType><socketType>SSL</socketType>", 1) + out), warn: []string{`"TLS": dropped`, `"SSL": dropped: socketType given twice`}, check: func(t *testing.T, p *provision.Provider) {
			if p.Incoming[0].Security != provision.STARTTLS {
				t.Errorf("Security = %s, want the first known value, starttls", p.Incoming[0].Security)
			}
		}},
		{name: "plain kept", xml: doc(strings.Replace(in, "SSL", "plain", 1) + in + out), check: func(t *testing.T, p *provision.Provider) {
			if len(p.Incoming) != 2 || p.Incoming[0].Security != provision.None {
				t.Errorf("Incoming = %+v, want the plain server kept first", p.Incoming)
			}
		}},
		{name: "auth aliases and unknown", xml: doc(strings.Replace(in, "<authentication>password-cleartext</authentication>", "<authentication>secure</authentication><authentication>CRAM-MD5</authentication><authentication>plain</authentication><authentication>password-encrypted</authentication><authentication system=\"sasl\">SCRAM-SHA-256</authentication>", 1) + out),
			warn: []string{`"CRAM-MD5": dropped: not a known authentication`, `"password-encrypted": dropped: listed twice`, `"SCRAM-SHA-256" (system="sasl"): dropped`},
			check: func(t *testing.T, p *provision.Provider) {
				if want := []string{"password-encrypted", "password-cleartext"}; !slices.Equal(p.Incoming[0].Auth, want) {
					t.Errorf("Auth = %v, want %v", p.Incoming[0].Auth, want)
				}
			}},
		{name: "no authentication", xml: doc(strings.Replace(in, "<authentication>password-cleartext</authentication>", "", 1) + in + out), warn: []string{"dropped: no usable authentication"}},
		{name: "smtp auth none", xml: doc(in + strings.Replace(out, "password-cleartext", "none", 1)), err: "authentication none only, and the catalog needs password-cleartext or password-encrypted"},
		{name: "no username", xml: doc(in + strings.Replace(out, "<username>%EMAILADDRESS%</username>", "", 1)), warn: []string{"no username: the catalog's default %EMAILADDRESS% is used"}},
		{name: "realname username", xml: doc(strings.Replace(in, "%EMAILADDRESS%", "%REALNAME%", 1) + in + out), warn: []string{"dropped: username:"}},
		{name: "username with space", xml: doc(strings.Replace(in, "%EMAILADDRESS%", "a b", 1) + in + out), warn: []string{"no white space"}},
		{name: "value with elements", xml: doc(strings.Replace(in, "<port>993</port>", "<port><b>993</b></port>", 1) + in + out), warn: []string{"port: dropped: holds elements"}},
		{name: "password never kept", xml: doc(strings.Replace(in, "</incomingServer>", "<password>secret</password></incomingServer>", 1) + out), warn: []string{"password: dropped: the catalog never hands out passwords"}},
		{name: "pop3 on imap", xml: doc(strings.Replace(in, "</incomingServer>", "<pop3><leaveMessagesOnServer>true</leaveMessagesOnServer></pop3></incomingServer>", 1) + out), warn: []string{"dropped: POP3 options on a imap server"}},
		{name: "pop3 bad values", xml: doc(strings.NewReplacer(`"imap"`, `"pop3"`, "</incomingServer>", "<pop3><leaveMessagesOnServer>yes</leaveMessagesOnServer><daysToLeaveMessagesOnServer>0</daysToLeaveMessagesOnServer><checkInterval/><frob/></pop3></incomingServer>").Replace(in) + out),
			warn: []string{`"yes": dropped: not true or false`, `"0": dropped: not a whole number from 1 to 36500`, "checkInterval: dropped: no minutes attribute", "frob: dropped: unknown POP3 option"},
			check: func(t *testing.T, p *provision.Provider) {
				if p.Incoming[0].POP3 != nil {
					t.Errorf("POP3 = %+v, want nil", p.Incoming[0].POP3)
				}
			}},
		{name: "long display name", xml: doc("<displayName>" + strings.Repeat("n", 61) + "</displayName>" + in + out), warn: []string{"longer than 60 characters"}, check: func(t *testing.T, p *provision.Provider) {
			if p.DisplayName != "x.example" {
				t.Errorf("DisplayName = %q, want the id", p.DisplayName)
			}
		}},
		{name: "display name with newline", xml: doc("<displayName>a&#10;b</displayName>" + in + out), warn: []string{"control characters"}},
		{name: "display name with address", xml: doc("<displayName>%EMAILADDRESS%</displayName>" + in + out), warn: []string{"no placeholders in names"}},
		{name: "displayName twice", xml: doc("<displayName>One</displayName><displayName>Two</displayName>" + in + out), warn: []string{"displayName[2]: dropped: given twice"}, check: func(t *testing.T, p *provision.Provider) {
			if p.DisplayName != "One" {
				t.Errorf("DisplayName = %q, want One", p.DisplayName)
			}
		}},
		{name: "webmail javascript", xml: strings.Replace(doc(in+out), "</clientConfig>", `<webMail><loginPage url="javascript:alert(1)"/></webMail></clientConfig>`, 1), warn: []string{`"javascript:alert(1)": dropped: not an absolute http(s) URL`}},
		{name: "webmail with credentials", xml: strings.Replace(doc(in+out), "</clientConfig>", `<webMail><loginPage url="https://u:p@x.example/"/></webMail></clientConfig>`, 1), warn: []string{"not an absolute http(s) URL"}},
		{name: "webmail with address", xml: strings.Replace(doc(in+out), "</clientConfig>", `<webMail><loginPage url="https://x.example/?u=%EMAILADDRESS%"/></webMail></clientConfig>`, 1), warn: []string{"no placeholders in URLs except"}},
		{name: "oauth2 incomplete", xml: strings.Replace(doc(in+out), "</clientConfig>", `<oAuth2><issuer>login.x.example</issuer><scope>mail</scope></oAuth2></clientConfig>`, 1), warn: []string{"oAuth2: dropped: the catalog needs a valid issuer, scope, authURL and tokenURL"}, check: func(t *testing.T, p *provision.Provider) {
			if p.OAuth2 != nil {
				t.Errorf("OAuth2 = %+v, want nil", p.OAuth2)
			}
		}},
		{name: "addressbook draft form", xml: strings.Replace(doc(in+out), "</clientConfig>", `<addressbook type="carddav"><url>https://dav.x.example/</url><username>%EMAILLOCALPART%</username><authentication>http-digest</authentication></addressbook><calendar type="webdav"/></clientConfig>`, 1),
			warn: []string{`username: "%EMAILLOCALPART%": dropped: the catalog uses the first incoming server's username (%EMAILADDRESS%)`, `"http-digest": dropped: the catalog always uses http-basic`, `calendar: type "webdav": dropped`},
			check: func(t *testing.T, p *provision.Provider) {
				if p.CardDAV != "https://dav.x.example/" || p.CalDAV != "" {
					t.Errorf("CardDAV %q CalDAV %q", p.CardDAV, p.CalDAV)
				}
			}},
		{name: "unknown elements", xml: strings.Replace(doc("<displayNameShort>X</displayNameShort>"+in+out), "</clientConfig>", "<frob/></clientConfig>", 1), warn: []string{"emailProvider/displayNameShort: dropped: unknown element", "clientConfig/frob: dropped: unknown element"}},
		{name: "domain listed twice", xml: doc("<domain>X.example</domain>" + in + out), warn: []string{"domain[2]: x.example: dropped: listed twice"}},
		{name: "mx domain", xml: doc(`<domain purpose="mx">mx.x.example</domain>` + in + out), warn: []string{`purpose="mx"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Document("t.xml", []byte(tt.xml))
			switch {
			case tt.err == "" && f.Err != nil:
				t.Fatalf("Document = %v, want no error", f.Err)
			case tt.err != "" && f.Err == nil:
				t.Fatalf("Document imported %d providers, want error %q", len(f.Providers), tt.err)
			case tt.err != "" && !strings.Contains(f.Err.Error(), tt.err):
				t.Fatalf("Document error = %v, want it to contain %q", f.Err, tt.err)
			}
			if f.Err != nil {
				var ie *Error
				if !errors.As(f.Err, &ie) || ie.File != "t.xml" || !strings.HasPrefix(f.Err.Error(), "t.xml: ") {
					t.Errorf("error %v does not name the file", f.Err)
				}
			}
			for _, w := range tt.warn {
				if !slices.ContainsFunc(f.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no warning contains %q; warnings:\n%s", w, strings.Join(f.Warnings, "\n"))
				}
			}
			for _, w := range f.Warnings {
				if !strings.HasPrefix(w, "t.xml: ") {
					t.Errorf("warning %q does not start with the file name", w)
				}
			}
			if tt.check != nil && f.Err == nil {
				if len(f.Providers) != 1 {
					t.Fatalf("got %d providers, want 1", len(f.Providers))
				}
				tt.check(t, f.Providers[0])
			}
		})
	}
}

// TestImportSeveral covers what only Files sees: domains and ids used by
// two files.
func TestImportSeveral(t *testing.T) {
	minimal := mustRead(t, "testdata/import/minimal.xml")
	sameID := mustRead(t, "testdata/import/same-id.xml")

	y, files, err := Files(provision.Source{Name: "minimal.xml", Data: minimal}, provision.Source{Name: "same-id.xml", Data: sameID})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := provision.Parse(provision.Source{Name: "imported", Data: y})
	if err != nil {
		t.Fatalf("Parse(imported) = %v\n%s", err, y)
	}
	if p, _ := cat.Lookup("min.example"); p == nil || p.ID != "min.example" || p.Incoming[0].Protocol != provision.IMAP {
		t.Errorf("min.example is served by %+v, want the first file's provider", p)
	}
	if p, _ := cat.Lookup("second.example"); p == nil || p.ID != "same-id" {
		t.Errorf("second.example is served by %+v, want the renamed provider same-id", p)
	}
	for _, w := range []string{"domain min.example: dropped: already served by provider min.example (minimal.xml)", "emailProvider id min.example: renamed to same-id"} {
		if !slices.ContainsFunc(files[1].Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no warning of same-id.xml contains %q:\n%s", w, strings.Join(files[1].Warnings, "\n"))
		}
	}

	// The same file twice: the second adds nothing and is not imported.
	y, files, err = Files(provision.Source{Name: "a.xml", Data: minimal}, provision.Source{Name: "b.xml", Data: minimal})
	if err != nil {
		t.Fatal(err)
	}
	if files[0].Err != nil || files[1].Err == nil || !strings.Contains(files[1].Err.Error(), "b.xml: not imported: every domain is already served by provider min.example (a.xml)") {
		t.Errorf("errors = %v, %v; want only b.xml to fail", files[0].Err, files[1].Err)
	}
	if _, err := provision.Parse(provision.Source{Name: "imported", Data: y}); err != nil {
		t.Errorf("Parse(imported) = %v", err)
	}

	// Nothing importable: no YAML at all (an empty catalog is invalid).
	y, files, err = Files(provision.Source{Name: "bad.xml", Data: []byte("<x/>")})
	if err != nil || y != nil || files[0].Err == nil {
		t.Errorf("Files(bad) = %q, %v, %v; want no YAML and a file error", y, files[0].Err, err)
	}

	// A file named after the id keeps it, whichever comes first.
	zoho := func(id string) []byte {
		return bytes.ReplaceAll(minimal, []byte("min.example"), []byte(id))
	}
	_, files, err = Files(
		provision.Source{Name: "zoho.eu.xml", Data: bytes.Replace(zoho("zoho.eu"), []byte(`id="zoho.eu"`), []byte(`id="zoho.com"`), 1)},
		provision.Source{Name: "zoho.com.xml", Data: zoho("zoho.com")},
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := files[0].Providers[0].ID + " " + files[1].Providers[0].ID; got != "zoho.eu zoho.com" {
		t.Errorf("ids = %s, want zoho.eu zoho.com", got)
	}
}

// TestImportSplit checks that %EMAILDOMAIN% outside usernames becomes one
// provider per domain with the placeholder filled in.
func TestImportSplit(t *testing.T) {
	f := Document("placeholder-host.xml", mustRead(t, "testdata/import/placeholder-host.xml"))
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	var got []string
	for _, p := range f.Providers {
		got = append(got, fmt.Sprintf("%s %v %s %q %s %s", p.ID, p.Domains, p.Incoming[0].Host, p.DisplayName, p.Webmail, p.Incoming[0].Username))
	}
	want := []string{
		`alpha.example [alpha.example] mail.alpha.example "alpha.example Mail" https://webmail.alpha.example/ %EMAILLOCALPART%.%EMAILDOMAIN%`,
		`beta.example [beta.example] mail.beta.example "beta.example Mail" https://webmail.beta.example/ %EMAILLOCALPART%.%EMAILDOMAIN%`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("providers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzImport: whatever Document accepts is a catalog the loader accepts
// and reads back unchanged, every domain of it renders to well-formed
// autoconfig XML that lists the provider's advertised servers, and
// importing is deterministic.
func FuzzImport(f *testing.F) {
	for _, src := range importCases(f) {
		f.Add(src.Data)
	}
	f.Add([]byte(`<clientConfig><emailProvider id="a.example"><domain>a.example</domain><incomingServer type="pop3"><hostname>%EMAILDOMAIN%</hostname><port>995</port><socketType>SSL</socketType><username>%EMAILLOCALPART%</username><authentication>plain</authentication><pop3><leaveMessagesOnServer>false</leaveMessagesOnServer></pop3></incomingServer><outgoingServer type="smtp"><hostname>smtp.a.example</hostname><port>587</port><socketType>STARTTLS</socketType><username>a&amp;b</username><authentication>password-encrypted</authentication></outgoingServer></emailProvider><oAuth2><issuer>i.a.example</issuer><scope>s</scope><authURL>https://i.a.example/a</authURL><tokenURL>https://i.a.example/t</tokenURL></oAuth2></clientConfig>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		imp := Document("fuzz.xml", data)
		for _, w := range imp.Warnings {
			if !strings.HasPrefix(w, "fuzz.xml: ") || strings.Contains(w, "\n") {
				t.Fatalf("warning %q: not one line naming the file", w)
			}
		}
		if imp.Err != nil {
			if imp.Providers != nil {
				t.Fatal("an error with providers")
			}
			return
		}
		y := MarshalCatalog(imp.Providers)
		if again := Document("fuzz.xml", data); again.Err != nil || !bytes.Equal(MarshalCatalog(again.Providers), y) {
			t.Fatal("importing twice gave different results")
		}
		cat, err := provision.Parse(provision.Source{Name: "fuzz.yaml", Data: y})
		if err != nil {
			t.Fatalf("accepted input yields a catalog Parse refuses: %v\n%s", err, y)
		}
		// Writing and reading again changes nothing: no value is
		// mangled by YAML quoting.
		for i, p := range cat.Providers() {
			a, b := *p, *imp.Providers[i]
			a.Source, b.Source = "", ""
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("provider %d changed on a second round trip:\n%+v\n%+v", i, a, b)
			}
		}
		for _, p := range cat.Providers() {
			for _, d := range p.Domains {
				if got, err := cat.Lookup(d); err != nil || got != p {
					t.Fatalf("Lookup(%s) = %v, %v", d, got, err)
				}
				doc := etree.NewDocument()
				if err := doc.ReadFromBytes(etreeAutoconfig(p, d, nil)); err != nil {
					t.Fatalf("Thunderbird(%s) is not well-formed: %v", d, err)
				}
				hosts := doc.FindElements("//incomingServer/hostname")
				if len(hosts) != len(p.AdvertisedIncoming()) {
					t.Fatalf("rendered %d incoming servers, want %d", len(hosts), len(p.AdvertisedIncoming()))
				}
				for i, h := range hosts {
					if h.Text() != p.AdvertisedIncoming()[i].Host {
						t.Fatalf("incoming host %q, want %q", h.Text(), p.AdvertisedIncoming()[i].Host)
					}
				}
			}
		}
	})
}
