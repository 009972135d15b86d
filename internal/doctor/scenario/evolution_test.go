package scenario

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"mailautoconf/internal/doctor"
	"mailautoconf/provision"
)

// TestScenarioEvolutionPreferred: against the service, Evolution's replay
// asks as Evolution 3.46 does and configures the preferred servers.
func TestScenarioEvolutionPreferred(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	rep := newScenario(t, ca).run(t, ca)
	evo := findClient(t, rep, "evolution")
	if evo.Status != doctor.Pass || evo.Incoming == nil || evo.Outgoing == nil ||
		evo.Incoming.String() != "IMAP imap.example.com:993 SSL" || evo.Outgoing.String() != "SMTP smtp.example.com:465 SSL" {
		t.Errorf("Evolution: %s (%s), incoming %v, outgoing %v; want pass with 993 SSL and 465 SSL", evo.Status, evo.Reason, evo.Incoming, evo.Outgoing)
	}
	if evo.Incoming != nil && evo.Incoming.Username != "alice@example.com" {
		t.Errorf("Evolution's login = %q: the EVOLUTIONUSER placeholder is not replaced", evo.Incoming.Username)
	}
	if !strings.Contains(evo.Source, "emailaddress=EVOLUTIONUSER%40example.com&emailmd5=c160f8cc69a4f0bf2b0362752353d060") {
		t.Errorf("Evolution asked %q, want the placeholder and the MD5 of alice@example.com", evo.Source)
	}
	fe := findClient(t, rep, "fairemail")
	if fe.Status != doctor.Pass || !strings.Contains(fe.Reason, "FairEmail before 1.2269") || !strings.Contains(fe.Reason, "IMAP imap.example.com:143 STARTTLS") {
		t.Errorf("FairEmail: %s (%s); want pass, with the old releases' pick (143 STARTTLS) named", fe.Status, fe.Reason)
	}
}

// TestScenarioEvolutionLastWins: a service that answers Evolution with
// every server, as mailautoconf did before, fails Evolution's replay, and
// the reason names the servers Evolution would configure.
func TestScenarioEvolutionLastWins(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	demoCat := provision.Demo()
	demo, _ := demoCat.Lookup("example.com")
	var mu sync.Mutex
	var agents []string
	s.autoconf = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		var addr *provision.Address
		if a, err := provision.ParseAddress(r.URL.Query().Get("emailaddress")); err == nil {
			addr = &a
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		body, _ := demoCat.Autoconfig(nil, demo, "example.com", addr, provision.Options{})
		_, _ = w.Write(body)
	})
	rep := s.run(t, ca)
	wantStatus(t, rep, map[string]doctor.Status{"thunderbird": doctor.Pass, "k9": doctor.Pass, "kmail": doctor.Pass, "evolution": doctor.Fail})
	evo := findClient(t, rep, "evolution")
	for _, want := range []string{"configures IMAP imap.example.com:143 STARTTLS", "configures SMTP smtp.example.com:587 STARTTLS"} {
		if !strings.Contains(evo.Reason, want) {
			t.Errorf("Evolution's reason %q does not say %q", evo.Reason, want)
		}
	}
	if evo.Incoming == nil || evo.Incoming.Port != 143 {
		t.Errorf("Evolution incoming = %v, want the last IMAP server, 143", evo.Incoming)
	}
	if !strings.Contains(evo.Fix, "one server per type") {
		t.Errorf("Evolution's fix %q", evo.Fix)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slicesContainsPrefix(agents, "Evolution/") {
		t.Errorf("no request with Evolution's User-Agent among %q", agents)
	}
}

func slicesContainsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
