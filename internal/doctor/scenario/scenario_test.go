package scenario

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/doctor"
	"mailautoconf/internal/profilesign"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/provision"
)

const (
	publicHost = "mail.hoster.test"
	testAddr   = "alice@example.com"
)

// scenario is one deployment for the doctor to examine: the demo
// catalog's example.com served by the real service, its mail servers,
// and the records `mailautoconf dns` prints, published in a real DNS
// server. Each test changes one thing.
type scenario struct {
	zone      zone
	cert      tls.Certificate // HTTPS certificate of the service
	autoconf  http.Handler    // nil: the service answers autoconfig too
	closed993 bool
	silent993 bool // port 993 accepts connections and never says a word
	noProfile bool // the service answers 404 for Apple profiles
	noPACC    bool // the service answers 404 for the PACC document
	// brokenDNS are names the DNS server answers with an error rcode,
	// or not at all (noAnswer).
	brokenDNS map[string]int
	expected  bool // compare DNS with the catalog (as with --catalog)
}

func newScenario(t *testing.T, ca *testCA) *scenario {
	t.Helper()
	p, err := provision.Demo().Lookup("example.com")
	if err != nil {
		t.Fatal(err)
	}
	z := zone{}
	for _, r := range dnsrecords.Derive(p, "example.com", dnsrecords.Target{Host: publicHost}).Records {
		z.Add(r.Name + " 300 IN " + r.Type + " " + r.Data)
	}
	z.Add(
		publicHost+". 300 IN A 127.0.0.1",
		"imap.example.com. 300 IN A 127.0.0.1",
		"pop.example.com. 300 IN A 127.0.0.1",
		"smtp.example.com. 300 IN A 127.0.0.1",
		"dav.example.com. 300 IN A 127.0.0.1",
		// The bare domain is the customer's web site, not the service:
		// nothing answers there.
		"example.com. 300 IN A 127.0.0.2",
		"example.com. 300 IN MX 10 mx.example.com.",
		"mx.example.com. 300 IN A 127.0.0.1",
	)
	now := time.Now()
	return &scenario{
		zone: z,
		cert: ca.leaf(t, []string{publicHost, "autoconfig.example.com", "autodiscover.example.com", "ua-auto-config.example.com", "dav.example.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)),
	}
}

// run starts everything and runs the doctor.
func (s *scenario) run(t *testing.T, ca *testCA) *doctor.Report {
	t.Helper()
	now := time.Now()
	mailCert := ca.leaf(t, []string{"imap.example.com", "pop.example.com", "smtp.example.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	signCert := ca.leaf(t, []string{publicHost}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	signer, err := profilesign.New([]*x509.Certificate{signCert.Leaf}, signCert.PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	svc, plain := service(provision.Demo(), publicHost, signer)
	if s.autoconf != nil {
		svc, plain = s.stub(svc), s.stub(plain)
	}
	if s.noProfile {
		svc = without(svc, "mobileconfig")
	}
	if s.noPACC {
		svc = without(svc, doctor.PACCPath)
	}
	ports := map[int]int{
		443: serveHTTP(t, svc, &s.cert),
		80:  serveHTTP(t, plain, nil),
		993: greeter(t, "imap", true, mailCert),
		143: greeter(t, "imap", false, mailCert),
		995: greeter(t, "pop3", true, mailCert),
		110: greeter(t, "pop3", false, mailCert),
		465: greeter(t, "smtp", true, mailCert),
		587: greeter(t, "smtp", false, mailCert),
	}
	if s.closed993 {
		ports[993] = testutil.FreePort(t)
	}
	if s.silent993 {
		_, ports[993] = listen(t)
	}
	opts := doctor.Options{
		Resolver: dnstest.ServeZone(t, s.zone, s.brokenDNS),
		Roots:    ca.pool,
		PortMap:  ports,
		Timeout:  2 * time.Second,
		Target:   dnsrecords.Target{Host: publicHost},
	}
	if s.expected {
		opts.Expected, _ = provision.Demo().Lookup("example.com")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := doctor.Run(ctx, testAddr, opts)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("doctor report:\n%s", text.String())
	return rep
}

// without answers 404 for paths that contain part (lower case), as a
// deployment made with another tool does for Apple profiles or PACC.
func without(svc http.Handler, part string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(strings.ToLower(r.URL.Path), part) {
			http.NotFound(w, r)
			return
		}
		svc.ServeHTTP(w, r)
	})
}

// stub answers autoconfig paths with s.autoconf, the rest with svc.
func (s *scenario) stub(svc http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := strings.ToLower(r.URL.Path); strings.HasSuffix(p, "config-v1.1.xml") || strings.HasSuffix(p, doctor.MailV1Path) {
			s.autoconf.ServeHTTP(w, r)
			return
		}
		svc.ServeHTTP(w, r)
	})
}

func findClient(t *testing.T, rep *doctor.Report, id string) *doctor.ClientResult {
	t.Helper()
	for _, c := range rep.Clients {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no client %s in the report", id)
	return nil
}

// wantStatus checks client statuses: want maps client id to status.
func wantStatus(t *testing.T, rep *doctor.Report, want map[string]doctor.Status) {
	t.Helper()
	for id, st := range want {
		if c := findClient(t, rep, id); c.Status != st {
			t.Errorf("%s: status %s (%s), want %s", c.Name, c.Status, c.Reason, st)
		}
	}
}

var allClients = []string{"thunderbird", "k9", "evolution", "fairemail", "kmail", "deltachat", "outlook", "outlook-json", "new-outlook", "apple", "pacc",
	"geary", "gnome", "aerc", "claws", "nextcloud", "thunderbird-ios"}

func allStatus(st doctor.Status, except map[string]doctor.Status) map[string]doctor.Status {
	m := map[string]doctor.Status{}
	for _, id := range allClients {
		m[id] = st
	}
	for id, s := range except {
		m[id] = s
	}
	return m
}

func TestScenarioHealthy(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.expected = true
	rep := s.run(t, ca)
	wantStatus(t, rep, allStatus(doctor.Pass, nil))
	if rep.Failed() {
		t.Error("Failed() = true for a healthy deployment")
	}
	for _, f := range rep.DNS {
		if f.Status != doctor.Pass {
			t.Errorf("DNS %s: %s %s, want pass", f.Name, f.Status, f.Detail)
		}
	}
	for _, c := range rep.Certificates {
		if st, d := c.Judge(); c.Host != "example.com" && st != doctor.Pass {
			t.Errorf("certificate %s: %s %s, want pass", c.Host, st, d)
		}
	}
	if tb := findClient(t, rep, "thunderbird"); tb.Source != "https://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com" {
		t.Errorf("Thunderbird used %q, want the https autoconfig URL", tb.Source)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Failed  bool
		Clients []struct{ ID, Status string }
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Failed || len(back.Clients) != len(allClients) {
		t.Errorf("JSON report: %v, %+v", err, back)
	}
}

func TestScenarioNoAutodiscoverRecord(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	delete(s.zone, "autodiscover.example.com.")
	delete(s.zone, "_autodiscover._tcp.example.com.")
	rep := s.run(t, ca)
	wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"outlook": doctor.Fail, "outlook-json": doctor.Fail, "new-outlook": doctor.Fail}))
	if !strings.Contains(findClient(t, rep, "outlook").Fix, "autodiscover.example.com") {
		t.Errorf("Outlook fix %q does not name autodiscover.example.com", findClient(t, rep, "outlook").Fix)
	}
	if !rep.Failed() {
		t.Error("Failed() = false with Outlook failing")
	}
}

func TestScenarioExpiredCertificate(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	now := time.Now()
	s.cert = ca.leaf(t, []string{publicHost, "autoconfig.example.com", "autodiscover.example.com"}, now.Add(-100*24*time.Hour), now.Add(-24*time.Hour))
	rep := s.run(t, ca)
	// HTTPS-only clients fail; those with an HTTP fallback configure
	// themselves over HTTP, with a warning.
	wantStatus(t, rep, map[string]doctor.Status{
		"deltachat": doctor.Fail, "outlook": doctor.Fail, "outlook-json": doctor.Fail, "new-outlook": doctor.Fail, "apple": doctor.Fail,
		"thunderbird": doctor.Warn, "k9": doctor.Warn, "evolution": doctor.Warn, "kmail": doctor.Warn,
	})
	found := false
	for _, c := range rep.Certificates {
		if c.Host == "autoconfig.example.com" {
			found = true
			if st, d := c.Judge(); st != doctor.Fail || !strings.Contains(d, "expired") {
				t.Errorf("certificate of autoconfig.example.com: %s %q, want fail, expired", st, d)
			}
		}
	}
	if !found {
		t.Error("no certificate finding for autoconfig.example.com")
	}
}

// plainDoc is a hand-made autoconfig document whose second IMAP section
// has socketType plain.
const plainDoc = `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.com">
    <domain>example.com</domain>
    <incomingServer type="imap">
      <hostname>imap.example.com</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.example.com</hostname>
      <port>143</port>
      <socketType>plain</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.com</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
`

func TestScenarioPlainSocketType(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.autoconf = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = w.Write([]byte(plainDoc))
	})
	rep := s.run(t, ca)
	wantStatus(t, rep, map[string]doctor.Status{
		"thunderbird": doctor.Pass, "k9": doctor.Fail, "kmail": doctor.Pass, "deltachat": doctor.Pass,
		// Evolution takes the last IMAP section, plain, not the
		// preferred first one.
		"evolution": doctor.Fail,
	})
	if k9 := findClient(t, rep, "k9"); !strings.Contains(k9.Reason, `"plain"`) || !strings.Contains(k9.Fix, "plain") {
		t.Errorf("K-9 reason %q / fix %q should name plain", k9.Reason, k9.Fix)
	}
}

// TestScenarioSRVDisagrees: SRV records that disagree with the catalog
// are DNS warnings, and break only the clients that read them: Claws Mail
// takes _imaps first and asks only _submission (aerc still finds _imap,
// and _smtps for SMTP).
func TestScenarioSRVDisagrees(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.expected = true
	delete(s.zone, "_imaps._tcp.example.com.")
	delete(s.zone, "_submission._tcp.example.com.")
	s.zone.Add("_imaps._tcp.example.com. 300 IN SRV 0 1 9993 old-imap.example.com.")
	rep := s.run(t, ca)
	wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"claws": doctor.Fail}))
	got := map[string]doctor.Status{}
	for _, f := range rep.DNS {
		got[f.Name] = f.Status
	}
	if got["SRV _imaps._tcp.example.com"] != doctor.Warn || got["SRV _submission._tcp.example.com"] != doctor.Warn || got["SRV _imap._tcp.example.com"] != doctor.Pass {
		t.Errorf("SRV findings = %v, want _imaps and _submission warn, _imap pass", got)
	}
	for _, f := range rep.DNS {
		if f.Status == doctor.Fail {
			t.Errorf("DNS %s: fail (%s); an SRV disagreement is a warning", f.Name, f.Detail)
		}
	}
}

func TestScenarioClosedIMAPS(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.closed993 = true
	rep := s.run(t, ca)
	// Clients that take the first IMAP server (993) fail, Evolution too:
	// the service answers it with the preferred server of each type
	// alone. Delta Chat probes every candidate.
	wantStatus(t, rep, map[string]doctor.Status{"thunderbird": doctor.Fail, "k9": doctor.Fail, "kmail": doctor.Fail, "evolution": doctor.Fail, "fairemail": doctor.Fail})
	if dc := findClient(t, rep, "deltachat"); dc.Status == doctor.Fail {
		t.Errorf("Delta Chat fails (%s); it tries 143 STARTTLS too", dc.Reason)
	}
	closed := false
	for _, e := range rep.Endpoints {
		if e.Port == 993 && !e.OK {
			closed = true
		}
		if e.Port == 143 && e.Socket == "STARTTLS" && !e.OK {
			t.Errorf("IMAP 143 STARTTLS: %s, want ok", e.Problem)
		}
	}
	if !closed {
		t.Error("no failed endpoint for port 993")
	}
	if tb := findClient(t, rep, "thunderbird"); !strings.Contains(tb.Reason, "993") {
		t.Errorf("Thunderbird reason %q does not name port 993", tb.Reason)
	}
}

// TestScenarioOutlookFallbacks: without a certificate for
// autodiscover.<d>, Outlook still finds the service through the HTTP
// redirect method (the plain listener's 302 to the public host); without
// the autodiscover name at all, through the SRV record. Both make Outlook
// ask the user: a warning, not a failure.
func TestScenarioOutlookFallbacks(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	t.Run("http-redirect", func(t *testing.T) {
		s := newScenario(t, ca)
		now := time.Now()
		s.cert = ca.leaf(t, []string{publicHost, "autoconfig.example.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
		rep := s.run(t, ca)
		wantStatus(t, rep, map[string]doctor.Status{"outlook": doctor.Warn, "thunderbird": doctor.Pass, "k9": doctor.Pass})
		if o := findClient(t, rep, "outlook"); o.Source != "https://"+publicHost+"/autodiscover/autodiscover.xml" || !strings.Contains(o.Reason, "HTTP redirect") {
			t.Errorf("Outlook source %q reason %q, want the public host through the HTTP redirect", o.Source, o.Reason)
		}
	})
	t.Run("srv", func(t *testing.T) {
		s := newScenario(t, ca)
		delete(s.zone, "autodiscover.example.com.")
		rep := s.run(t, ca)
		wantStatus(t, rep, map[string]doctor.Status{"outlook": doctor.Warn})
		if o := findClient(t, rep, "outlook"); !strings.Contains(o.Reason, "SRV") {
			t.Errorf("Outlook reason %q, want the SRV record named", o.Reason)
		}
		for _, f := range rep.DNS {
			if f.Name == "autodiscover.example.com" && f.Status != doctor.Fail {
				t.Errorf("DNS autodiscover.example.com: %s, want fail", f.Status)
			}
		}
	})
}

// TestScenarioMXFallback: without autoconfig.<d>, Thunderbird and K-9 try
// autoconfig.<MX base domain> (docs/dns.md#mx-based-lookup). Thunderbird sends the
// address, so the service answers for the customer's domain there, and
// asks the user to confirm (a warning); K-9 sends none, and the hoster's
// name is not a served domain: it fails.
func TestScenarioMXFallback(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	delete(s.zone, "autoconfig.example.com.")
	delete(s.zone, "example.com.")
	s.zone.Add(
		"example.com. 300 IN MX 10 mx1.hoster.test.",
		"autoconfig.hoster.test. 300 IN CNAME "+publicHost+".",
	)
	now := time.Now()
	s.cert = ca.leaf(t, []string{publicHost, "autodiscover.example.com", "autoconfig.hoster.test"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	rep := s.run(t, ca)
	wantStatus(t, rep, map[string]doctor.Status{"thunderbird": doctor.Warn, "k9": doctor.Fail, "evolution": doctor.Fail, "outlook": doctor.Pass})
	if tb := findClient(t, rep, "thunderbird"); !strings.HasPrefix(tb.Source, "https://autoconfig.hoster.test/") {
		t.Errorf("Thunderbird source %q, want autoconfig.hoster.test", tb.Source)
	}
}

// TestScenarioNoProfile: a deployment made with another tool serves
// autoconfig but no Apple profile. Apple Mail then needs the settings
// typed by hand: a warning, not a failure, so the doctor's exit status
// stays useful on such deployments.
func TestScenarioNoProfile(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s := newScenario(t, ca)
	s.noProfile = true
	rep := s.run(t, ca)
	wantStatus(t, rep, allStatus(doctor.Pass, map[string]doctor.Status{"apple": doctor.Warn}))
	if rep.Failed() {
		t.Error("Failed() = true although only the optional profile is missing")
	}
	if a := findClient(t, rep, "apple"); !strings.Contains(a.Reason, "404") || !strings.Contains(a.Fix, ".mobileconfig") {
		t.Errorf("apple reason %q / fix %q", a.Reason, a.Fix)
	}
}
