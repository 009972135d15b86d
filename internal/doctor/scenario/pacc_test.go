package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

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
	s.zone.Add(paccTXT + ` 300 IN TXT "` + old + `"`)
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

// TestScenarioPACCMissing: without the TXT record PACC is not published.
// That is a warning, not a failure: no shipping client needs PACC, and
// the admin may not have opted in. The reason says whether the document
// is served already (it was a failure, as if a client had tried).
func TestScenarioPACCMissing(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	delete(s.zone, paccTXT)
	rep := s.run(t, ca)
	wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"pacc": doctor.Warn}))
	if c := findClient(t, rep, "pacc"); !strings.Contains(c.Reason, "not published") || !strings.Contains(c.Reason, "is served") || !strings.Contains(c.Fix, "mailautoconf dns") {
		t.Errorf("without the TXT: reason %q / fix %q, want not published, the document served, the fix naming mailautoconf dns", c.Reason, c.Fix)
	}
	if rep.Failed() {
		t.Error("Failed() = true without the optional PACC TXT record")
	}

	s = newScenario(t, ca)
	delete(s.zone, paccTXT)
	delete(s.zone, "ua-auto-config.example.com.")
	rep = s.run(t, ca)
	if c := findClient(t, rep, "pacc"); c.Status != doctor.Warn || !strings.Contains(c.Reason, "not published") || strings.Contains(c.Reason, "is served") {
		t.Errorf("without ua-auto-config: %s %q, want warn, not published, no document served", c.Status, c.Reason)
	}
}

// TestScenarioPACCUnpublished is issue 23's deployment: autoconfig and
// Autodiscover work, the static certificate does not name
// ua-auto-config.example.com, and no _ua-auto-config TXT record says
// v=UAAC1 (none at all, or a wildcard's SPF record). PACC is a warning,
// the run does not fail, and the certificate of the name no client asks
// for is not listed.
func TestScenarioPACCUnpublished(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	for _, txt := range []string{"", `"v=spf1 -all"`} {
		s := newScenario(t, ca)
		now := time.Now()
		s.cert = ca.leaf(t, []string{publicHost, "autoconfig.example.com", "autodiscover.example.com", "dav.example.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
		delete(s.zone, paccTXT)
		if txt != "" {
			s.zone.Add(paccTXT + " 300 IN TXT " + txt)
		}
		rep := s.run(t, ca)
		wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"pacc": doctor.Warn}))
		if rep.Failed() {
			t.Errorf("TXT %q: Failed() = true for a deployment that does not publish PACC", txt)
		}
		if c := findClient(t, rep, "pacc"); !strings.Contains(c.Reason, "not published") {
			t.Errorf("TXT %q: PACC reason %q, want not published", txt, c.Reason)
		}
		for _, c := range rep.Certificates {
			if c.Host == "ua-auto-config.example.com" {
				st, d := c.Judge()
				t.Errorf("TXT %q: certificate of ua-auto-config.example.com listed (%s %s) although PACC is not published", txt, st, d)
			}
		}
	}
}

// TestScenarioPACCPublishedBroken: with the TXT record published, a PACC
// client that finds no document fails, and so does the run: the service
// answers 404, the name does not resolve, or the certificate does not
// name it (then listed as failing).
func TestScenarioPACCPublishedBroken(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	for _, tc := range []struct {
		name   string
		change func(*scenario)
		want   string
	}{
		{"404", func(s *scenario) { s.noPACC = true }, "HTTP 404"},
		{"no name", func(s *scenario) { delete(s.zone, "ua-auto-config.example.com.") }, "NXDOMAIN"},
		{"certificate", func(s *scenario) {
			now := time.Now()
			s.cert = ca.leaf(t, []string{publicHost, "autoconfig.example.com", "autodiscover.example.com", "dav.example.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
		}, "certificate is not valid for ua-auto-config.example.com"},
	} {
		s := newScenario(t, ca)
		tc.change(s)
		rep := s.run(t, ca)
		wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"pacc": doctor.Fail}))
		c := findClient(t, rep, "pacc")
		if !strings.Contains(c.Reason, "_ua-auto-config.example.com publishes PACC") || !strings.Contains(c.Reason, tc.want) || !strings.Contains(c.Fix, "remove the _ua-auto-config TXT") {
			t.Errorf("%s: reason %q / fix %q, want the TXT named, %q, and removing the TXT as the other fix", tc.name, c.Reason, c.Fix, tc.want)
		}
		if !rep.Failed() {
			t.Errorf("%s: Failed() = false with PACC published and no document", tc.name)
		}
		if tc.name != "certificate" {
			continue
		}
		listed := false
		for _, ci := range rep.Certificates {
			if ci.Host == "ua-auto-config.example.com" {
				listed = true
				if st, _ := ci.Judge(); st != doctor.Fail {
					t.Errorf("certificate of ua-auto-config.example.com: %s, want fail", st)
				}
			}
		}
		if !listed {
			t.Error("certificate of ua-auto-config.example.com not listed although PACC is published")
		}
	}
}

// TestScenarioPACCTXTError: a DNS error on the TXT lookup is not "no
// record": published or not is unknown. With the document served, a PACC
// client cannot verify it: a failure. Without one: a warning that PACC
// was not checked.
func TestScenarioPACCTXTError(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	for _, tc := range []struct {
		name       string
		rcode      int
		noDocument bool
		status     doctor.Status
		want       string
	}{
		{"SERVFAIL, document served", dns.RcodeServerFailure, false, doctor.Fail, "SERVFAIL"},
		{"SERVFAIL, no document", dns.RcodeServerFailure, true, doctor.Warn, "PACC not checked"},
		{"no answer, document served", noAnswer, false, doctor.Fail, "timeout"},
	} {
		s := newScenario(t, ca)
		s.brokenDNS = map[string]int{paccTXT: tc.rcode}
		if tc.noDocument {
			delete(s.zone, "ua-auto-config.example.com.")
		}
		rep := s.run(t, ca)
		wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"pacc": tc.status}))
		c := findClient(t, rep, "pacc")
		if !strings.Contains(c.Reason, "TXT lookup of _ua-auto-config.example.com failed") || !strings.Contains(c.Reason, tc.want) {
			t.Errorf("%s: reason %q, want the failed TXT lookup and %q", tc.name, c.Reason, tc.want)
		}
		if rep.Failed() != (tc.status == doctor.Fail) {
			t.Errorf("%s: Failed() = %v", tc.name, rep.Failed())
		}
	}
}
