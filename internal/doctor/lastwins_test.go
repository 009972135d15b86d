package doctor

import (
	"strings"
	"testing"

	"mailautoconf/provision"
)

// TestLastWinsReaders: Evolution and old FairEmail keep the last section
// of a type; a document whose last differs from its first fails
// Evolution's replay and names the server, and is a caveat for FairEmail.
func TestLastWinsReaders(t *testing.T) {
	smtpStart := section("outgoingServer", "smtp", "smtp.example.com", "587", "STARTTLS", "%EMAILADDRESS%", "password-cleartext")
	evoUser := section("incomingServer", "imap", "imap.example.com", "993", "SSL", "EVOLUTIONUSER@example.com", "password-cleartext")
	tests := []struct {
		name         string
		body         []byte
		evoOK, evoIn string // evoOK: "pass", "fail" (accepted, wrong server) or "refuse"
		evoFail      string // in Evolution's failure
		feOK, feIn   string // feOK: "pass" or "refuse"
		feCaveat     string // in FairEmail's caveat, "" for none
		evoUser      string
	}{
		{"one per type", doc(imapSSL + smtpSSL), "pass", "IMAP imap.example.com:993 SSL", "", "pass", "IMAP imap.example.com:993 SSL", "", "alice@example.com"},
		{"preferred first, two of each", doc(imapSSL + imapStart + smtpSSL + smtpStart), "fail", "IMAP imap.example.com:143 STARTTLS",
			"configures IMAP imap.example.com:143 STARTTLS, not the first listed, IMAP imap.example.com:993 SSL", "pass", "IMAP imap.example.com:993 SSL", "configures IMAP imap.example.com:143 STARTTLS", ""},
		{"same server twice", doc(imapSSL + imapSSL + smtpSSL), "pass", "IMAP imap.example.com:993 SSL", "", "pass", "IMAP imap.example.com:993 SSL", "", ""},
		{"placeholder login", doc(evoUser + smtpSSL), "pass", "IMAP imap.example.com:993 SSL", "", "pass", "IMAP imap.example.com:993 SSL", "", "alice@example.com"},
		// FairEmail marks the incoming slot taken after any first
		// incomingServer: a POP3 one first leaves it without IMAP.
		{"pop3 first", doc(pop3SSL + imapSSL + smtpSSL), "pass", "IMAP imap.example.com:993 SSL", "", "refuse", "", "", ""},
		{"port not a number", doc(section("incomingServer", "imap", "imap.example.com", " 993", "SSL", "%EMAILADDRESS%", "password-cleartext") + smtpSSL), "pass", "IMAP imap.example.com:993 SSL", "", "refuse", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evo := evolutionAutoconfig(tt.body, alice)
			got := "refuse"
			if evo.ok {
				got = "pass"
				if len(evo.fails) > 0 {
					got = "fail"
				}
			}
			if got != tt.evoOK {
				t.Errorf("Evolution: %s (%s %v), want %s", got, evo.reason, evo.fails, tt.evoOK)
			}
			if evo.ok && evo.incoming.String() != tt.evoIn {
				t.Errorf("Evolution incoming = %s, want %s", evo.incoming, tt.evoIn)
			}
			if tt.evoFail != "" && !strings.Contains(strings.Join(evo.fails, "; "), tt.evoFail) {
				t.Errorf("Evolution's failure %q does not say %q", evo.fails, tt.evoFail)
			}
			if got := len(evo.fails) > 0; got && evo.fix == "" {
				t.Error("Evolution fails without a fix")
			}
			if tt.evoUser != "" && evo.ok && evo.incoming.Username != tt.evoUser {
				t.Errorf("Evolution login = %q, want %q", evo.incoming.Username, tt.evoUser)
			}
			fe := fairEmailAutoconfig(tt.body, alice)
			if got := map[bool]string{true: "pass", false: "refuse"}[fe.ok]; got != tt.feOK {
				t.Errorf("FairEmail: %s (%s), want %s", got, fe.reason, tt.feOK)
			}
			if fe.ok && fe.incoming.String() != tt.feIn {
				t.Errorf("FairEmail incoming = %s, want %s", fe.incoming, tt.feIn)
			}
			caveats := strings.Join(fe.caveats, "; ")
			if tt.feCaveat == "" && caveats != "" || tt.feCaveat != "" && !strings.Contains(caveats, tt.feCaveat) {
				t.Errorf("FairEmail caveats %q, want %q", caveats, tt.feCaveat)
			}
		})
	}
}

// TestLastWinsOwnDocuments: the service's document for Evolution passes
// Evolution's replay; the full one, which every other client gets, would
// not.
func TestLastWinsOwnDocuments(t *testing.T) {
	cat := provision.Demo()
	p, _ := cat.Lookup("example.com")
	addr := &provision.Address{Local: provision.EvolutionPlaceholder, Domain: "example.com"}
	onePerType, _ := cat.Autoconfig(nil, p, "example.com", addr, provision.Options{Servers: provision.OnePerType})
	allServers, _ := cat.Autoconfig(nil, p, "example.com", addr, provision.Options{})
	one := evolutionAutoconfig(onePerType, alice)
	if !one.ok || len(one.fails) > 0 || one.incoming.Port != 993 || one.outgoing.Port != 465 || one.incoming.Username != "alice@example.com" {
		t.Errorf("Evolution on OnePerType: ok=%v fails=%v %v %v", one.ok, one.fails, one.incoming, one.outgoing)
	}
	all := evolutionAutoconfig(allServers, alice)
	if !all.ok || len(all.fails) != 2 {
		t.Errorf("Evolution on AllServers: ok=%v fails=%v, want the imap and smtp picks named", all.ok, all.fails)
	}
	if fe := fairEmailAutoconfig(onePerType, alice); !fe.ok || len(fe.caveats) > 0 {
		t.Errorf("FairEmail on OnePerType: ok=%v caveats=%v", fe.ok, fe.caveats)
	}
}
