package handlers

import (
	"bytes"
	"strings"
	"testing"

	"mailautoconf/provision"
)

// TestThunderbirdAutoconfig12 runs autoconfig 1.2's additions through
// Thunderbird 153's own readFromXML (docs/pacc.md#autoconfig-12-what-clients-accept):
// the document must still be accepted with exactly the servers of the
// document without them. The jmap incomingServer is what the service
// serves for a provider with jmap; the others are the draft's elements
// inserted into the served document, the evidence for serving or not
// serving them (the catalog has nothing to fill <domain purpose="mx">
// or fileShare with, and keeps the 1.1 spelling of addressBook).
func TestThunderbirdAutoconfig12(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	const yaml = `providers:
  - id: example.com
    display_name: Example Mail
    domains: [example.com]
    incoming:
      - {protocol: imap, host: imap.example.com, port: 993, security: tls}
      - {protocol: pop3, host: pop.example.com, port: 995, security: tls}
    outgoing: [{protocol: smtp, host: smtp.example.com, port: 465, security: tls}]
    jmap: https://jmap.example.com/.well-known/jmap
`
	cat, err := provision.Parse(provision.Source{Name: "c.yaml", Data: []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEcho(t, cat)
	rec := serve(e, "GET", "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice@example.com", "")
	wantStatus(t, rec, 200)
	served := rec.Body.Bytes()
	if !bytes.Contains(served, []byte(`<incomingServer type="jmap">`)) {
		t.Fatalf("no jmap server served:\n%s", served)
	}
	jmapStart := bytes.Index(served, []byte(`    <incomingServer type="jmap">`))
	jmapEnd := bytes.Index(served[jmapStart:], []byte("</incomingServer>\n")) + jmapStart + len("</incomingServer>\n")
	without := append(append([]byte{}, served[:jmapStart]...), served[jmapEnd:]...)

	insert := func(after, what string) []byte {
		return []byte(strings.Replace(string(without), after, after+what, 1))
	}
	cases := []struct {
		name string
		doc  []byte
	}{
		{"jmap incomingServer (served)", served},
		{`domain purpose="mx"`, insert("<domain>example.com</domain>\n", `    <domain purpose="mx">mx.example.com</domain>`+"\n")},
		{"addressbook carddav", insert("</emailProvider>\n", `  <addressbook type="carddav"><username>alice@example.com</username><authentication system="http">Basic</authentication><url>https://dav.example.com/</url></addressbook>`+"\n")},
		{"calendar caldav", insert("</emailProvider>\n", `  <calendar type="caldav"><username>alice@example.com</username><authentication system="http">Basic</authentication><url>https://dav.example.com/</url></calendar>`+"\n")},
		{"fileShare webdav", insert("</emailProvider>\n", `  <fileShare type="webdav"><username>alice@example.com</username><authentication system="http">Basic</authentication><url>https://dav.example.com/files/</url></fileShare>`+"\n")},
		{`version="1.2"`, []byte(strings.Replace(string(served), `<clientConfig version="1.1">`, `<clientConfig version="1.2">`, 1))},
	}
	base, err := thunderbirdParse(t, without, "alice@example.com")
	if err != nil {
		t.Fatalf("Thunderbird rejects the document without 1.2 elements: %v", err)
	}
	wantIn, wantOut := base.Config.servers()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := thunderbirdParse(t, tc.doc, "alice@example.com")
			if err != nil {
				t.Fatalf("Thunderbird %s rejects it: %v\n%s", r.Thunderbird, err, tc.doc)
			}
			if d := tbConfigDiff(r.Config, wantIn, wantOut); d != "" {
				t.Errorf("Thunderbird %s picks other servers:\n%s", r.Thunderbird, d)
			}
		})
	}
}
