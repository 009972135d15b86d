package scenario

import (
	"strings"
	"testing"

	"mailautoconf/internal/doctor"
	"mailautoconf/provision"
)

// paccTXT is the owner of the PACC digest record.
const paccTXT = "_ua-auto-config.example.com."

// TestScenarioPACCMatching: the TXT `dns` prints, published, matches the
// document the service serves: PACC passes, with the TXT lookup among its
// steps.
func TestScenarioPACCMatching(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	if len(s.zone[paccTXT]) != 1 {
		t.Fatalf("the scenario zone has %d TXT records at %s, want the one dns prints", len(s.zone[paccTXT]), paccTXT)
	}
	rep := s.run(t, ca)
	wantStatus(t, rep, allStatus(doctor.Pass, nil))
	c := findClient(t, rep, "pacc")
	if c.Source != "https://ua-auto-config.example.com"+doctor.PACCPath {
		t.Errorf("PACC used %q", c.Source)
	}
	if c.Incoming == nil || c.Incoming.String() != "IMAP imap.example.com:993 SSL" || c.Outgoing == nil || c.Outgoing.String() != "SMTP smtp.example.com:465 SSL" {
		t.Errorf("PACC configures %v and %v, want IMAP imap.example.com:993 SSL and SMTP smtp.example.com:465 SSL", c.Incoming, c.Outgoing)
	}
	found := false
	for _, st := range c.Steps {
		found = found || st.Method == "TXT" && strings.Contains(st.Result, "v=UAAC1")
	}
	if !found {
		t.Errorf("no TXT step with the digest: %+v", c.Steps)
	}
}

// TestScenarioPACCStale: the provider changed after the TXT was published
// (here: the record of another document). PACC fails, naming both
// digests; every other client still passes.
func TestScenarioPACCStale(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	old := provision.PACCDigestOf([]byte(`{"protocols":{}}` + "\n"))
	p, _ := provision.Demo().Lookup("example.com")
	current := provision.PACCDigest(p)
	delete(s.zone, paccTXT)
	s.zone.add(paccTXT + ` 300 IN TXT "` + old + `"`)
	rep := s.run(t, ca)
	wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"pacc": doctor.Fail}))
	c := findClient(t, rep, "pacc")
	dOld, dNew := strings.TrimPrefix(old, "v=UAAC1; a=sha256; d="), strings.TrimPrefix(current, "v=UAAC1; a=sha256; d=")
	if !strings.Contains(c.Reason, "stale digest") || !strings.Contains(c.Reason, dOld) || !strings.Contains(c.Reason, dNew) {
		t.Errorf("reason %q, want a stale digest naming %s and %s", c.Reason, dOld, dNew)
	}
	if !strings.Contains(c.Fix, "mailautoconf dns") {
		t.Errorf("fix %q, want it to point at mailautoconf dns", c.Fix)
	}
	if !rep.Failed() {
		t.Error("Failed() = false with a stale PACC digest")
	}
}

// TestScenarioPACCMissing: no TXT record is a failure (a client rejects
// what it cannot verify); no ua-auto-config name at all is a warning (no
// client needs PACC yet).
func TestScenarioPACCMissing(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	delete(s.zone, paccTXT)
	rep := s.run(t, ca)
	if c := findClient(t, rep, "pacc"); c.Status != doctor.Fail || !strings.Contains(c.Reason, "no v=UAAC1") {
		t.Errorf("without the TXT: %s %q, want fail naming the missing record", c.Status, c.Reason)
	}

	s = newScenario(t, ca)
	delete(s.zone, paccTXT)
	delete(s.zone, "ua-auto-config.example.com.")
	rep = s.run(t, ca)
	if c := findClient(t, rep, "pacc"); c.Status != doctor.Warn {
		t.Errorf("without ua-auto-config: %s %q, want warn", c.Status, c.Reason)
	}
}
