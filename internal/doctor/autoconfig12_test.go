package doctor

import (
	"bytes"
	"testing"

	"mailautoconf/provision"
)

// TestAutoconfig12JMAP: a provider's jmap key adds an incomingServer of
// type jmap (autoconfig 1.2) to config-v1.1.xml. Every client reader the
// doctor models still accepts the document and picks the same servers as
// without it (docs/pacc.md#autoconfig-12-what-clients-accept); Thunderbird's
// own parser is asked in handlers/thunderbird_real_test.go.
func TestAutoconfig12JMAP(t *testing.T) {
	const base = `providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 993, security: tls}
      - {protocol: pop3, host: pop.example.org, port: 995, security: tls}
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
`
	render := func(yaml string, addr *provision.Address) []byte {
		cat, err := provision.Parse(provision.Source{Name: "c.yaml", Data: []byte(yaml)})
		if err != nil {
			t.Fatal(err)
		}
		p := cat.Providers()[0]
		out, err := cat.Autoconfig(nil, p, "example.org", addr, provision.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	id := newIdent("alice", "example.org")
	addr := &provision.Address{Local: "alice", Domain: "example.org"}
	for _, a := range []*provision.Address{nil, addr} {
		without := render(base, a)
		with := render(base+"    jmap: https://jmap.example.org/.well-known/jmap\n", a)
		if !bytes.Contains(with, []byte(`<incomingServer type="jmap">`)) || !bytes.Contains(with, []byte("<url>https://jmap.example.org/.well-known/jmap</url>")) {
			t.Fatalf("no jmap incomingServer:\n%s", with)
		}
		for _, r := range []struct {
			name string
			read func([]byte) verdict
		}{
			{"Thunderbird", func(b []byte) verdict { return thunderbirdAutoconfig("application/xml", b, id) }},
			{"K-9", func(b []byte) verdict { return k9Autoconfig(b, id) }},
			{"Evolution", func(b []byte) verdict { return evolutionAutoconfig(b, id) }},
			{"FairEmail", func(b []byte) verdict { return fairEmailAutoconfig(b, id) }},
			{"KMail", func(b []byte) verdict { return kmailAutoconfig(b, id) }},
			{"Delta Chat", func(b []byte) verdict { return deltaChatAutoconfig(b, id) }},
		} {
			v0, v1 := r.read(without), r.read(with)
			if !v1.ok {
				t.Errorf("%s refuses the document with jmap: %s\n%s", r.name, v1.reason, with)
				continue
			}
			if s0, s1 := endpointOr(v0.incoming, "-")+" "+endpointOr(v0.outgoing, "-"), endpointOr(v1.incoming, "-")+" "+endpointOr(v1.outgoing, "-"); s0 != s1 {
				t.Errorf("%s picks %s with jmap, %s without", r.name, s1, s0)
			}
			if len(v0.candidates) != len(v1.candidates) {
				t.Errorf("%s: %d candidates with jmap, %d without", r.name, len(v1.candidates), len(v0.candidates))
			}
		}
	}
}
