package scenario

import (
	"strings"
	"testing"

	"mailautoconf/internal/doctor"
)

// dnsFinding returns the report's DNS finding named name.
func dnsFinding(t *testing.T, rep *doctor.Report, name string) doctor.Finding {
	t.Helper()
	for _, f := range rep.DNS {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no DNS finding %s in %+v", name, rep.DNS)
	return doctor.Finding{}
}

// TestScenarioStaleExchangeAutodiscover: autodiscover.<d> still a CNAME
// to Microsoft 365 after a move (the commonest conflict, issue 25): the
// DNS finding fails and names the host it leads to, and its fix is the
// record `mailautoconf dns` prints.
func TestScenarioStaleExchangeAutodiscover(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.expected = true
	delete(s.zone, "autodiscover.example.com.")
	s.zone.Add(
		"autodiscover.example.com. 300 IN CNAME autodiscover.outlook.com.",
		// Nothing of the test's listens on 127.0.0.3.
		"autodiscover.outlook.com. 300 IN A 127.0.0.3",
	)
	rep := s.run(t, ca)
	f := dnsFinding(t, rep, "autodiscover.example.com")
	if f.Status != doctor.Fail || !strings.Contains(f.Detail, "leads to autodiscover.outlook.com (Microsoft 365)") {
		t.Errorf("DNS autodiscover.example.com: %s %q, want fail naming autodiscover.outlook.com (Microsoft 365)", f.Status, f.Detail)
	}
	if want := "publish autodiscover.example.com. CNAME " + publicHost + "."; !strings.Contains(f.Fix, want) {
		t.Errorf("DNS autodiscover.example.com: fix %q, want %q", f.Fix, want)
	}
	for _, o := range rep.DNS {
		if o.Name != f.Name && o.Status != doctor.Pass {
			t.Errorf("DNS %s: %s %s, want pass", o.Name, o.Status, o.Detail)
		}
	}
	if !rep.Failed() {
		t.Error("Failed() = false: real clients take Microsoft's answer, whatever the replay found through the SRV record")
	}
}

// TestScenarioNoPACCRecord: the PACC document is served but no
// _ua-auto-config TXT record is published. PACC is then not published
// (issue 23): the DNS finding is a warning, never a failure, and the run
// does not fail for it.
func TestScenarioNoPACCRecord(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.expected = true
	delete(s.zone, "_ua-auto-config.example.com.")
	rep := s.run(t, ca)
	f := dnsFinding(t, rep, "TXT _ua-auto-config.example.com")
	if f.Status != doctor.Warn || !strings.Contains(f.Fix, "_ua-auto-config.example.com. TXT \"v=UAAC1; a=sha256; d=") {
		t.Errorf("DNS TXT _ua-auto-config.example.com: %s %q, fix %q; want warn, fix the digest record", f.Status, f.Detail, f.Fix)
	}
	for _, o := range rep.DNS {
		if o.Name != f.Name && o.Status != doctor.Pass {
			t.Errorf("DNS %s: %s %s, want pass", o.Name, o.Status, o.Detail)
		}
	}
	wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"pacc": doctor.Warn}))
	if rep.Failed() {
		t.Error("Failed() = true without the optional PACC TXT record")
	}
}
