package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"mailautoconf/internal/testutil/golden"
	"mailautoconf/provision"
)

// evolutionUA is Debian 12's Evolution 3.46.4, as its autoconfig code
// sends it ("Evolution/" VERSION VERSION_SUBSTRING " " VERSION_COMMENT,
// src/mail/e-mail-autoconfig.c; docs/clients/evolution.md).
const evolutionUA = "Evolution/3.46.4-2+deb12u1 "

// evolutionQuery is what Evolution 3.46.4 asks for alice@example.com: the
// EVOLUTIONUSER placeholder and the MD5 of the lower-cased real address.
const evolutionQuery = "?emailaddress=EVOLUTIONUSER%40example.com&emailmd5=c160f8cc69a4f0bf2b0362752353d060"

// servers lists a document's servers as type:host:port/socketType, in
// order.
func servers(t *testing.T, body string) []string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(body); err != nil {
		t.Fatalf("not XML: %v\n%s", err, body)
	}
	var out []string
	for _, el := range doc.FindElements("//emailProvider/*[@type]") {
		out = append(out, el.SelectAttrValue("type", "")+":"+el.FindElement("hostname").Text()+":"+
			el.FindElement("port").Text()+"/"+el.FindElement("socketType").Text())
	}
	return out
}

// TestAutoconfigEvolution: Evolution keeps the last server of each type,
// so it gets the preferred one alone; every other client gets today's
// document, byte for byte; every answer says it varies with the
// User-Agent.
func TestAutoconfigEvolution(t *testing.T) {
	e := newTestEcho(t, nil)
	demo, _ := provision.Demo().Lookup("example.com")
	var ref *provision.Catalog // renders without templates
	alice := &provision.Address{Local: "alice", Domain: "example.com"}
	placeholder := &provision.Address{Local: provision.EvolutionPlaceholder, Domain: "example.com"}
	const preferred = "imap:imap.example.com:993/SSL,pop3:pop.example.com:995/SSL,smtp:smtp.example.com:465/SSL"
	tests := []struct {
		name, target, ua string
		golden           string // "" when the body is Thunderbird's document
		want             []byte
	}{
		{"Evolution 3.46 as it asks", "https://autoconfig.example.com/mail/config-v1.1.xml" + evolutionQuery, evolutionUA, "evolution/demo-evolutionuser.xml", nil},
		{"Evolution at the well-known URL", "https://example.com/.well-known/autoconfig/mail/config-v1.1.xml" + evolutionQuery, evolutionUA, "evolution/demo-evolutionuser.xml", nil},
		{"older Evolution with the real address", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com&emailmd5=c160f8cc69a4f0bf2b0362752353d060", "Evolution/3.44.4 ", "evolution/demo-alice.xml", nil},
		{"the placeholder without a User-Agent", "https://autoconfig.example.com/mail/config-v1.1.xml" + evolutionQuery, "", "evolution/demo-evolutionuser.xml", nil},
		{"Thunderbird", "https://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0", "", rendered(t)(ref.Autoconfig(nil, demo, "example.com", alice, provision.Options{}))},
		{"K-9 with no address", "https://autoconfig.example.com/mail/config-v1.1.xml", "okhttp/4.12.0", "", rendered(t)(ref.Autoconfig(nil, demo, "example.com", nil, provision.Options{}))},
		{"emailmd5 without Evolution's User-Agent", "https://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com&emailmd5=c160f8cc69a4f0bf2b0362752353d060", "libsoup/3.4.4", "", rendered(t)(ref.Autoconfig(nil, demo, "example.com", alice, provision.Options{}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(e, http.MethodGet, tt.target, "", "User-Agent", tt.ua)
			wantStatus(t, rec, http.StatusOK)
			if v := rec.Header().Values("Vary"); len(v) != 1 || v[0] != "User-Agent" {
				t.Errorf("Vary = %q, want User-Agent", v)
			}
			body := rec.Body.String()
			if tt.golden == "" {
				if body != string(tt.want) {
					t.Errorf("body:\n%s\nwant today's document:\n%s", body, tt.want)
				}
				return
			}
			golden.Check(t, tt.golden, rec.Body.Bytes())
			if got := strings.Join(servers(t, body), ","); got != preferred {
				t.Errorf("servers = %s, want %s", got, preferred)
			}
			addr := alice
			if strings.Contains(tt.target, "EVOLUTIONUSER") {
				addr = placeholder
			}
			if want := rendered(t)(ref.Autoconfig(nil, demo, "example.com", addr, provision.Options{Servers: provision.OnePerType})); body != string(want) {
				t.Errorf("body is not Thunderbird with OnePerType:\n%s", body)
			}
		})
	}
}

// TestAutoconfigVaryOnlyOnAutoconfig: the ISPDB form answers the same
// whoever asks, and says nothing about the User-Agent.
func TestAutoconfigVaryOnlyOnAutoconfig(t *testing.T) {
	e := newTestEcho(t, nil)
	rec := serve(e, http.MethodGet, "http://svc.example/v1.1/example.com", "", "User-Agent", evolutionUA)
	wantStatus(t, rec, http.StatusOK)
	if v := rec.Header().Get("Vary"); v != "" {
		t.Errorf("ISPDB form: Vary = %q, want none", v)
	}
	if n := len(servers(t, rec.Body.String())); n != 5 {
		t.Errorf("ISPDB form lists %d servers, want all 5", n)
	}
}

// TestThunderbirdAcceptsEvolutionVariant: the document Evolution gets is
// one Thunderbird's own parser takes too, with the preferred servers.
func TestThunderbirdAcceptsEvolutionVariant(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	e := newTestEcho(t, nil)
	rec := serve(e, http.MethodGet, "https://autoconfig.example.com/mail/config-v1.1.xml"+evolutionQuery, "", "User-Agent", evolutionUA)
	wantStatus(t, rec, http.StatusOK)
	r, err := thunderbirdParse(t, rec.Body.Bytes(), "EVOLUTIONUSER@example.com")
	if err != nil {
		t.Fatalf("Thunderbird %s rejects the Evolution variant: %v\nlog: %q\n%s", r.Thunderbird, err, r.Log, rec.Body)
	}
	const user = "EVOLUTIONUSER@example.com"
	wantIn := []string{
		"imap imap.example.com:993 SSL password-cleartext " + user,
		"pop3 pop.example.com:995 SSL password-cleartext " + user,
	}
	wantOut := []string{"smtp smtp.example.com:465 SSL password-cleartext " + user}
	if d := tbConfigDiff(r.Config, wantIn, wantOut); d != "" {
		t.Errorf("Thunderbird %s:\n%s", r.Thunderbird, d)
	}
}

// TestPageAgreesWithEvolution: the setup page's table, asked with
// Evolution's User-Agent as well, shows the servers Evolution now gets.
func TestPageAgreesWithEvolution(t *testing.T) {
	e := newTestEcho(t, nil)
	for _, ua := range []string{"", evolutionUA} {
		rec := serve(e, http.MethodGet, "http://autoconfig.example.com/?email=alice@example.com", "", "User-Agent", ua)
		wantStatus(t, rec, http.StatusOK)
		body := rec.Body.String()
		for _, port := range []string{"993", "465"} {
			if !strings.Contains(body, "<td>"+port+"</td>") {
				t.Errorf("User-Agent %q: the page's table lacks port %s", ua, port)
			}
		}
		for _, port := range []string{"143", "587"} {
			if strings.Contains(body, "<td>"+port+"</td>") {
				t.Errorf("User-Agent %q: the page's table shows port %s, which nobody is configured with", ua, port)
			}
		}
	}
}
