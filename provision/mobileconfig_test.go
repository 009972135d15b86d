package provision

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"howett.net/plist"

	"mailautoconf/internal/i18n"
	"mailautoconf/internal/testutil/golden"
)

// mobileconfigCatalog holds one provider per variant the golden files
// cover, each serving its own domain.
const mobileconfigCatalog = `providers:
  - id: imap-only.test
    display_name: IMAP Only
    domains: [imap-only.test]
    incoming: [{protocol: imap, host: imap.imap-only.test, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.imap-only.test, port: 465, security: tls}]
  - id: pop3-only.test
    display_name: Pop Mail
    organization: Pop Mail GmbH
    domains: [pop3-only.test]
    incoming:
      - {protocol: pop3, host: pop.pop3-only.test, port: 995, security: tls, username: "%EMAILLOCALPART%"}
    outgoing:
      - {protocol: smtp, host: smtp.pop3-only.test, port: 587, security: starttls, username: "%EMAILLOCALPART%"}
      - {protocol: smtp, host: smtp.pop3-only.test, port: 465, security: tls, username: "%EMAILLOCALPART%"}
  - id: starttls-only.test
    domains: [starttls-only.test]
    incoming:
      - {protocol: imap, host: mail.starttls-only.test, port: 143, security: none}
      - {protocol: imap, host: mail.starttls-only.test, port: 143, security: starttls}
    outgoing:
      - {protocol: smtp, host: mail.starttls-only.test, port: 25, security: none}
      - {protocol: smtp, host: mail.starttls-only.test, port: 587, security: starttls, auth: [password-encrypted]}
  - id: dav-paths.test
    display_name: DAV <Paths> & Co
    short_name: DAV&Co
    domains: [dav-paths.test]
    incoming:
      - {protocol: imap, host: imap.dav-paths.test, port: 143, security: starttls, username: "%EMAILLOCALPART%+%EMAILDOMAIN%"}
      - {protocol: pop3, host: pop.dav-paths.test, port: 995, security: tls}
      - {protocol: imap, host: imap.dav-paths.test, port: 993, security: tls, username: "%EMAILLOCALPART%+%EMAILDOMAIN%"}
    outgoing: [{protocol: smtp, host: smtp.dav-paths.test, port: 465, security: tls}]
    caldav: https://cloud.dav-paths.test:8443/remote.php/dav/calendars/
    carddav: http://cloud.dav-paths.test/remote.php/dav/addressbooks/
`

func mobileconfigProviders(t testing.TB) *Catalog {
	t.Helper()
	c, err := Parse(Source{Name: "mobileconfig", Data: []byte(mobileconfigCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// profileCases are the golden files: every variant the issue names (IMAP,
// POP3-only, with and without DAV, STARTTLS-only) and a few more.
var profileCases = []struct {
	golden, addr string
	opts         ProfileOptions
}{
	{"demo-imap-dav", "fred@example.com", ProfileOptions{}},
	{"demo-pop3-named", "fred@example.net", ProfileOptions{Protocol: POP3, Name: "Fred Flintstone"}},
	{"imap-only", "ann@imap-only.test", ProfileOptions{Protocol: POP3}},
	{"pop3-only", "bob@pop3-only.test", ProfileOptions{}},
	{"starttls-only", "carol@starttls-only.test", ProfileOptions{}},
	{"dav-paths-markup", "o'brien+tag@dav-paths.test", ProfileOptions{Name: `Dan "<b>" & </string><key>x</key>`}},
	// The visible strings in other languages (internal/i18n): a
	// provider name with markup in a translated sentence, and POP3.
	{"dav-paths-markup-de", "o'brien+tag@dav-paths.test", ProfileOptions{Language: i18n.German}},
	{"demo-pop3-pl", "fred@example.net", ProfileOptions{Protocol: POP3, Language: i18n.Polish}},
	{"demo-imap-dav-fr", "fred@example.com", ProfileOptions{Language: i18n.French}},
}

func renderProfile(t testing.TB, addr string, opts ProfileOptions) []byte {
	t.Helper()
	a, err := ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	cat := mobileconfigProviders(t)
	if strings.HasPrefix(a.Domain, "example.") {
		cat = Demo()
	}
	p, err := cat.Lookup(a.Domain)
	if err != nil {
		t.Fatal(err)
	}
	out, err := mobileconfigDoc(p, a, opts)
	if err != nil {
		t.Fatalf("Mobileconfig(%s, %+v) = %v", addr, opts, err)
	}
	return out
}

func TestMobileconfigGolden(t *testing.T) {
	for _, tc := range profileCases {
		out := renderProfile(t, tc.addr, tc.opts)
		golden.Check(t, "mobileconfig/"+tc.golden+".mobileconfig", out)
		checkProfile(t, out, tc.addr, tc.opts.Name)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

// checkProfile asserts what holds for every profile we render: it parses
// as a plist, the mail payload is for addr with the given name, no
// password is present, and every UUID is a distinct name-based UUID.
func checkProfile(t testing.TB, doc []byte, addr, name string) map[string]any {
	t.Helper()
	var top map[string]any
	if _, err := plist.Unmarshal(doc, &top); err != nil {
		t.Fatalf("profile for %s does not parse: %v\n%s", addr, err, doc)
	}
	if bytes.Contains(doc, []byte("Password</key>")) && !bytes.Contains(doc, []byte("OutgoingPasswordSameAsIncomingPassword</key>")) {
		t.Errorf("profile for %s carries a password key", addr)
	}
	for _, k := range []string{"IncomingPassword", "OutgoingPassword", "CalDAVPassword", "CardDAVPassword"} {
		if bytes.Contains(doc, []byte("<key>"+k+"</key>")) {
			t.Errorf("profile for %s has %s", addr, k)
		}
	}
	uuids := map[string]bool{top["PayloadUUID"].(string): true}
	content, _ := top["PayloadContent"].([]any)
	if len(content) == 0 {
		t.Fatalf("profile for %s has no payloads", addr)
	}
	mail := content[0].(map[string]any)
	if got := mail["EmailAddress"]; got != addr {
		t.Errorf("EmailAddress = %v, want %s", got, addr)
	}
	if got, _ := mail["EmailAccountName"].(string); got != strings.TrimSpace(name) {
		t.Errorf("EmailAccountName = %q, want %q", got, name)
	}
	if mail["OutgoingPasswordSameAsIncomingPassword"] != true {
		t.Errorf("OutgoingPasswordSameAsIncomingPassword is not true")
	}
	for _, c := range content {
		u := c.(map[string]any)["PayloadUUID"].(string)
		if uuids[u] {
			t.Errorf("PayloadUUID %s used twice", u)
		}
		uuids[u] = true
	}
	for u := range uuids {
		if !uuidRE.MatchString(u) {
			t.Errorf("PayloadUUID %q is not an upper-case name-based UUID", u)
		}
	}
	return top
}

// profileIDs returns every PayloadUUID and PayloadIdentifier of a profile.
func profileIDs(t *testing.T, doc []byte) []string {
	t.Helper()
	var top map[string]any
	if _, err := plist.Unmarshal(doc, &top); err != nil {
		t.Fatal(err)
	}
	ids := []string{top["PayloadUUID"].(string), top["PayloadIdentifier"].(string)}
	for _, c := range top["PayloadContent"].([]any) {
		m := c.(map[string]any)
		ids = append(ids, m["PayloadUUID"].(string), m["PayloadIdentifier"].(string))
	}
	return ids
}

func TestMobileconfigIdentity(t *testing.T) {
	first := renderProfile(t, "fred@example.com", ProfileOptions{})
	if again := renderProfile(t, "fred@example.com", ProfileOptions{}); !bytes.Equal(first, again) {
		t.Fatal("two renderings of one profile differ")
	}
	ids := profileIDs(t, first)

	// Another protocol or name is the same profile: it replaces the
	// installed one.
	pop := profileIDs(t, renderProfile(t, "fred@example.com", ProfileOptions{Protocol: POP3, Name: "Fred"}))
	if strings.Join(pop, " ") != strings.Join(ids, " ") {
		t.Errorf("POP3 variant has other identifiers:\n%v\n%v", pop, ids)
	}

	// Any other address, even one differing in case or only in domain,
	// shares no identifier or UUID.
	for _, other := range []string{"Fred@example.com", "fred@example.net", "fred2@example.com", "ann@example.com"} {
		seen := map[string]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		for _, id := range profileIDs(t, renderProfile(t, other, ProfileOptions{})) {
			if seen[id] {
				t.Errorf("%s shares %s with fred@example.com", other, id)
			}
		}
	}
	id, u := ProfileID(Address{Local: "fred", Domain: "example.com"})
	if !strings.HasPrefix(id, "com.example.mailautoconf.") || !uuidRE.MatchString(u) {
		t.Errorf("ProfileID = %q, %q", id, u)
	}
}

func TestChooseAccount(t *testing.T) {
	cat := mobileconfigProviders(t)
	demo := Demo()
	tests := []struct {
		cat       *Catalog
		addr      string
		want      Protocol
		in, out   string // host:port
		user      string
		protocols string
	}{
		{demo, "a@example.com", "", "imap.example.com:993", "smtp.example.com:465", "a@example.com", "imap pop3"},
		{demo, "a@example.com", IMAP, "imap.example.com:993", "smtp.example.com:465", "a@example.com", "imap pop3"},
		{demo, "a@example.com", POP3, "pop.example.com:995", "smtp.example.com:465", "a@example.com", "imap pop3"},
		{cat, "a@imap-only.test", POP3, "imap.imap-only.test:993", "smtp.imap-only.test:465", "a@imap-only.test", "imap"},
		{cat, "a@pop3-only.test", IMAP, "pop.pop3-only.test:995", "smtp.pop3-only.test:465", "a", "pop3"},
		{cat, "a@starttls-only.test", "", "mail.starttls-only.test:143", "mail.starttls-only.test:587", "a@starttls-only.test", "imap"},
		// implicit TLS wins over catalog order
		{cat, "a@dav-paths.test", "", "imap.dav-paths.test:993", "smtp.dav-paths.test:465", "a+dav-paths.test", "imap pop3"},
	}
	for _, tc := range tests {
		a, _ := ParseAddress(tc.addr)
		p, err := tc.cat.Lookup(a.Domain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ChooseAccount(p, a, tc.want)
		if err != nil {
			t.Errorf("ChooseAccount(%s, %q) = %v", tc.addr, tc.want, err)
			continue
		}
		in := got.Incoming.Host + ":" + strconv.Itoa(got.Incoming.Port)
		out := got.Outgoing.Host + ":" + strconv.Itoa(got.Outgoing.Port)
		protos := joinProtocols(got.Protocols)
		if in != tc.in || out != tc.out || got.IncomingUsername != tc.user || protos != tc.protocols {
			t.Errorf("ChooseAccount(%s, %q) = %s %s %s [%s], want %s %s %s [%s]",
				tc.addr, tc.want, in, out, got.IncomingUsername, protos, tc.in, tc.out, tc.user, tc.protocols)
		}
	}
	p, _ := demo.Lookup("example.com")
	if _, err := ChooseAccount(p, Address{Local: "a", Domain: "example.com"}, "smtp"); err == nil {
		t.Error("ChooseAccount(smtp) succeeded")
	}
}

func joinProtocols(ps []Protocol) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, " ")
}

func TestMobileconfigSecurityAndAuth(t *testing.T) {
	var top map[string]any
	if _, err := plist.Unmarshal(renderProfile(t, "carol@starttls-only.test", ProfileOptions{}), &top); err != nil {
		t.Fatal(err)
	}
	mail := top["PayloadContent"].([]any)[0].(map[string]any)
	want := map[string]any{
		"IncomingMailServerPortNumber":     uint64(143),
		"IncomingMailServerUseSSL":         true, // STARTTLS still demands TLS (useSSL)
		"OutgoingMailServerPortNumber":     uint64(587),
		"OutgoingMailServerAuthentication": "EmailAuthCRAMMD5",
		"IncomingMailServerAuthentication": "EmailAuthPassword",
		"EmailAccountType":                 "EmailTypeIMAP",
	}
	for k, v := range want {
		if mail[k] != v {
			t.Errorf("%s = %#v, want %#v", k, mail[k], v)
		}
	}
}

func TestDAVEndpoint(t *testing.T) {
	tests := []struct {
		url, host string
		port      int
		tls       bool
		principal string
	}{
		{"https://dav.example.com/", "dav.example.com", 443, true, ""},
		{"https://dav.example.com", "dav.example.com", 443, true, ""},
		{"http://DAV.Example.com:8080/", "dav.example.com", 8080, false, ""},
		{"https://c.example.com:8443/remote.php/dav/", "c.example.com", 8443, true, "https://c.example.com:8443/remote.php/dav/"},
	}
	for _, tc := range tests {
		got := davEndpoint(tc.url)
		want := davTarget{tc.host, tc.port, tc.tls, tc.principal}
		if got != want {
			t.Errorf("davEndpoint(%q) = %+v, want %+v", tc.url, got, want)
		}
	}
}

func TestCheckAccountName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", true},
		{"Fred Flintstone", true},
		{"Jörg Müller-Lüdenscheidt", true},
		{"李小龙", true},
		{`O'Brien <&> "Dan"`, true},
		{strings.Repeat("x", 100), true},
		{strings.Repeat("x", 101), false},
		{"tab\there", false},
		{"new\nline", false},
		{"bidi\u202eoverride", false},
		{"nul\x00", false},
		{"bad \xff utf8", false},
	}
	for _, tc := range tests {
		if err := CheckAccountName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckAccountName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestParseProtocolChoice(t *testing.T) {
	tests := []struct {
		in   string
		want Protocol
		ok   bool
	}{
		{"", "", true}, {"imap", IMAP, true}, {"IMAP", IMAP, true}, {"pop3", POP3, true}, {"Pop3", POP3, true},
		{"pop", "", false}, {"smtp", "", false}, {"imap ", "", false},
	}
	for _, tc := range tests {
		got, err := ParseProtocolChoice(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseProtocolChoice(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseColor(t *testing.T) {
	tests := []struct{ in, want string }{
		{"#0a5fff", "#0a5fff"}, {"#0A5FFF", "#0a5fff"}, {"#abc", "#aabbcc"},
		{"0a5fff", ""}, {"#0a5ff", ""}, {"#0a5fffff", ""}, {"#ggg", ""}, {"red", ""}, {"#", ""},
		{"#12345;}", ""}, {"", ""},
	}
	for _, tc := range tests {
		got, ok := ParseColor(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ParseColor(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestCatalogColor(t *testing.T) {
	const base = `providers:
  - id: example.org
    domains: [example.org]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(base + "    color: \"#0A5FFF\"\n")})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Lookup("example.org"); p.Color != "#0a5fff" {
		t.Errorf("Color = %q, want #0a5fff", p.Color)
	}
	_, err = Parse(Source{Name: "c.yaml", Data: []byte(base + "    color: blue\n")})
	want := `c.yaml:6: providers[0].color: "blue" is not a colour: write "#rrggbb" or "#rgb" in hex, for example "#0a5fff"`
	if err == nil || err.Error() != want {
		t.Errorf("color: blue: error %v, want %s", err, want)
	}
}

// FuzzMobileconfig renders a profile for any address ParseAddress accepts
// and any name CheckAccountName accepts, and checks that the result is a
// well-formed plist for exactly that address and name, stable on a
// second rendering, with nothing of the input read as plist structure.
func FuzzMobileconfig(f *testing.F) {
	for _, tc := range profileCases {
		f.Add(tc.addr, tc.opts.Name, string(tc.opts.Protocol))
	}
	f.Add("x@example.com", "</string></dict>", "imap")
	f.Add("ü@bücher.example", "\u202e", "POP3")
	cat := mobileconfigProviders(f)
	demo := Demo()
	f.Fuzz(func(t *testing.T, addr, name, proto string) {
		a, err := ParseAddress(addr)
		if err != nil {
			return
		}
		want, err := ParseProtocolChoice(proto)
		if err != nil {
			return
		}
		// Serve every domain with one of the test providers, chosen
		// by the domain, so that the fuzzer explores all of them.
		providers := append(demo.Providers(), cat.Providers()...)
		p := providers[len(a.Domain)%len(providers)]
		out, err := mobileconfigDoc(p, a, ProfileOptions{Protocol: want, Name: name})
		if err != nil {
			if CheckAccountName(name) == nil {
				t.Fatalf("Mobileconfig(%q, %q) = %v", addr, name, err)
			}
			return
		}
		checkProfile(t, out, a.String(), name)
		again, _ := mobileconfigDoc(p, a, ProfileOptions{Protocol: want, Name: name})
		if !bytes.Equal(out, again) {
			t.Fatal("second rendering differs")
		}
	})
}

func TestProfileFileName(t *testing.T) {
	tests := []struct{ domain, want string }{
		{"example.com", "example.com.mobileconfig"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example.mobileconfig"},
		{`evil".com/..\x`, "evil.com..x.mobileconfig"},
	}
	for _, tc := range tests {
		if got := ProfileFileName(Address{Local: "a", Domain: tc.domain}); got != tc.want {
			t.Errorf("ProfileFileName(%q) = %q, want %q", tc.domain, got, tc.want)
		}
	}
}
