package importxml

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"mailautoconf/provision"
)

// TestMarshalRoundTrip writes catalogs and reads them back: the providers
// must come back equal.
func TestMarshalRoundTrip(t *testing.T) {
	yes, no, days, minutes := true, false, 30, 15
	tricky := &provision.Provider{
		ID: "x.example", DisplayName: "yes", ShortName: "123", Organization: "#not a comment: 'quoted' \"too\"",
		Domains: []string{"a.example", "b.example", "c.example", "d.example", "e.example"},
		Incoming: []provision.Server{
			{Protocol: provision.IMAP, Host: "imap.x.example", Port: 993, Security: provision.TLS, Auth: []string{"OAuth2", "password-cleartext"}, Username: "%EMAILLOCALPART%"},
			{Protocol: provision.POP3, Host: "pop.x.example", Port: 110, Security: provision.None, Auth: []string{"password-encrypted"}, Username: "%EMAILADDRESS%",
				POP3: &provision.POP3Options{LeaveOnServer: &yes, DaysOnServer: &days, DownloadOnCheck: &no, CheckInterval: &minutes}},
		},
		Outgoing: []provision.Server{{Protocol: provision.SMTP, Host: "smtp.x.example", Port: 587, Security: provision.STARTTLS, Auth: []string{"password-cleartext"}, Username: "%EMAILLOCALPART%@%EMAILDOMAIN%"}},
		CalDAV:   "https://dav.x.example/cal?a=1&b=%41", CardDAV: "http://dav.x.example/", Webmail: "https://x.example/#login",
		OAuth2:   &provision.OAuth2{Issuer: "login.x.example", Scope: "a b: c", AuthURL: "https://login.x.example/a", TokenURL: "https://login.x.example/t"},
		TLSNames: []string{"webmail.x.example"},
	}
	cases := map[string][]*provision.Provider{
		"demo":   provision.Demo().Providers(),
		"tricky": {tricky},
	}
	for name, ps := range cases {
		t.Run(name, func(t *testing.T) {
			y := MarshalCatalog(ps)
			cat, err := provision.Parse(provision.Source{Name: name, Data: y})
			if err != nil {
				t.Fatalf("Parse(MarshalCatalog) = %v\n%s", err, y)
			}
			got := cat.Providers()
			if len(got) != len(ps) {
				t.Fatalf("got %d providers, want %d", len(got), len(ps))
			}
			for i := range ps {
				a, b := *got[i], *ps[i]
				a.Source, b.Source = "", ""
				if !reflect.DeepEqual(a, b) {
					t.Errorf("provider %d came back as\n%+v\nwant\n%+v\nYAML:\n%s", i, a, b, y)
				}
			}
		})
	}
}

// TestMarshalDemoShape: the demo catalog written back has the demo's
// shape, one flow-style line per server.
func TestMarshalDemoShape(t *testing.T) {
	y := string(MarshalCatalog(provision.Demo().Providers()))
	for _, line := range []string{
		"      - {protocol: imap, host: imap.example.com, port: 993, security: tls}\n",
		"    domains: [example.com, example.net]\n",
		"    webmail: https://webmail.example.com/\n",
	} {
		if !strings.Contains(y, line) {
			t.Errorf("MarshalCatalog(demo) lacks %q:\n%s", line, y)
		}
	}
}

// TestMarshalCoversProvider fails when a field is added to Provider, so
// that whoever adds it decides whether MarshalCatalog writes it.
func TestMarshalCoversProvider(t *testing.T) {
	written := []string{
		"ID", "DisplayName", "ShortName", "Organization", "Domains", "Incoming", "Outgoing",
		"CalDAV", "CardDAV", "Webmail", "OAuth2", "TLSNames",
	}
	// Not in config-v1.1.xml, so import never fills them (the directory
	// keys need the catalog's directories, which MarshalCatalog does not
	// write); Source is where a provider was read from, not catalog data.
	notWritten := []string{"ActiveSync", "Redirect", "DomainRedirects", "Color", "Source", "Directory", "LoginDirectory", "JMAP", "EWS", "OWA", "Texts", "PACCTXT", "ManageSieve", "Logo", "Help"}
	typ := reflect.TypeFor[provision.Provider]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if !slices.Contains(written, name) && !slices.Contains(notWritten, name) {
			t.Errorf("Provider.%s is new: write it in marshal.go's providerNode (and add it to written here), or add it to notWritten", name)
		}
	}
	typ = reflect.TypeFor[provision.Server]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Name; !slices.Contains([]string{"Protocol", "Host", "Port", "Security", "Auth", "Username", "POP3"}, name) {
			t.Errorf("Server.%s is new: write it in marshal.go's serverNode", name)
		}
	}
}
