// Package authdns runs a real authoritative DNS server, BIND's named
// (Debian's bind9), on loopback for tests, loading zone files the test
// writes; and generates a fleet of customer domains with planted faults
// (Fleet), for the tests of `dns --check` and of the watch. Not for
// production use.
package authdns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/internal/testutil"
)

// Zone is one zone file: its origin ("example." or "example") and its
// text in zone-file syntax, SOA and NS included (Fleet's zones have
// them; ZoneText adds them to bare records).
type Zone struct {
	Origin string
	Text   string
	// Updatable zones take RFC 2136 updates signed with the server's
	// key (StartWithKey): named's update-policy grants the key every
	// name of the zone (zonesub ANY). Other zones refuse updates.
	Updatable bool
}

// Key is a TSIG key named accepts for updates (RFC 8945): Algorithm as
// named.conf spells it (hmac-sha256), Secret in base64.
type Key struct {
	Name, Algorithm, Secret string
}

// ZoneText is a zone's text: an SOA and NS for origin (the name server
// ns1.<origin> at 127.0.0.1) and then records, one a line.
func ZoneText(origin string, records ...string) string {
	origin = dns.Fqdn(origin)
	var b strings.Builder
	fmt.Fprintf(&b, "$TTL 300\n%s IN SOA ns1.%s hostmaster.%s 1 7200 900 1209600 300\n", origin, origin, origin)
	fmt.Fprintf(&b, "%s IN NS ns1.%s\nns1.%s IN A 127.0.0.1\n", origin, origin, origin)
	for _, r := range records {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	return b.String()
}

// Server is a running named.
type Server struct {
	// Addr is the host:port it answers on, over UDP and TCP.
	Addr  string
	out   *testutil.SyncBuffer
	dir   string
	cmd   *exec.Cmd
	zones []Zone
}

// Replace gives zone i new text and has named load it (SIGHUP: named
// reloads the zone files that changed), returning once named has logged
// that the zone is loaded. Zone texts are compared by named by the files' times, so
// the serial may stay.
func (s *Server) Replace(t testing.TB, i int, text string) {
	t.Helper()
	if i < 0 || i >= len(s.zones) {
		t.Fatalf("authdns.Replace: no zone %d", i)
	}
	file := filepath.Join(s.dir, zoneFile(i))
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file time one second on: named compares whole seconds.
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	// named logs "reloading zones succeeded" before the zones have
	// loaded; each zone says when it has.
	loaded := "zone " + strings.TrimSuffix(dns.Fqdn(s.zones[i].Origin), ".") + "/IN: loaded serial"
	before := strings.Count(s.Log(), loaded)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("authdns.Replace: %v", err)
	}
	testutil.WaitFor(t, startTimeout, "named to reload zone "+s.zones[i].Origin, func() bool {
		return strings.Count(s.Log(), loaded) > before
	})
	s.zones[i].Text = text
}

// Log is what named wrote so far (-g: its log goes to stderr).
func (s *Server) Log() string { return s.out.String() }

// startTimeout bounds named's start: loading a zone of 1,000 domains
// takes well under a second.
const startTimeout = 30 * time.Second

// Start runs named as the current user on 127.0.0.1 at a free port, as
// the authoritative server of zones (recursion off, as a customer's
// name servers are), until the test ends, and returns once it answers
// the first zone's SOA. A name outside the zones gets REFUSED, as from
// any authoritative server. The test skips when named is not installed,
// and fails under CI=true, which must run it.
func Start(t testing.TB, zones ...Zone) *Server {
	t.Helper()
	return StartWithKey(t, nil, zones...)
}

// StartWithKey is Start with a TSIG key: the zones marked Updatable take
// updates signed with it. named writes their changes to journal files
// beside the zone files; Replace is not for them.
func StartWithKey(t testing.TB, key *Key, zones ...Zone) *Server {
	t.Helper()
	named := lookNamed(t)
	if len(zones) == 0 {
		t.Fatal("authdns.Start: no zone")
	}
	dir := t.TempDir()
	port := testutil.FreePort(t)
	conf := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(conf, []byte(config(dir, port, key, zones)), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, z := range zones {
		if err := os.WriteFile(filepath.Join(dir, zoneFile(i)), []byte(z.Text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), out: &testutil.SyncBuffer{}, dir: dir, zones: slices.Clone(zones)}
	// -g: foreground, log to stderr; -n 2: two worker threads are
	// plenty on loopback and keep named's start quick.
	cmd := exec.Command(named, "-g", "-n", "2", "-c", conf)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting named: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
	}
	t.Cleanup(stop)

	origin := dns.Fqdn(zones[0].Origin)
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			t.Fatalf("named exited before answering: %v\n%s", waitErr, s.Log())
		default:
		}
		if answers(s.Addr, origin) {
			return s
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("named did not answer %s SOA within %v:\n%s", origin, startTimeout, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lookNamed finds named on PATH or in /usr/sbin (Debian installs it
// there, outside a user's PATH).
func lookNamed(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("named"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/named"); err == nil {
		return "/usr/sbin/named"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("named is missing: CI must install bind9 (.ci/run APT_PACKAGES)")
	}
	t.Skip("skipping: named is not installed (apt-get install bind9)")
	return ""
}

func zoneFile(i int) string { return fmt.Sprintf("zone%d.db", i) }

// config is named.conf: everything under dir, listening on loopback
// only, no recursion, no control channel, no DNSSEC.
func config(dir string, port int, key *Key, zones []Zone) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, `options {
	directory %[1]q;
	pid-file %[2]q;
	session-keyfile %[3]q;
	managed-keys-directory %[1]q;
	listen-on port %[4]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	allow-query { any; };
	dnssec-validation no;
	notify no;
	minimal-responses no;
};
controls { };
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), port)
	if key != nil {
		fmt.Fprintf(&b, "key %q { algorithm %s; secret %q; };\n", key.Name, key.Algorithm, key.Secret)
	}
	for i, z := range zones {
		policy := ""
		if z.Updatable && key != nil {
			policy = fmt.Sprintf(" update-policy { grant %q zonesub ANY; };", key.Name)
		}
		fmt.Fprintf(&b, "zone %q { type primary; file %q;%s };\n", dns.Fqdn(z.Origin), filepath.Join(dir, zoneFile(i)), policy)
	}
	return b.String()
}

// answers reports whether server answers origin's SOA authoritatively.
func answers(server, origin string) bool {
	m := new(dns.Msg)
	m.SetQuestion(origin, dns.TypeSOA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	in, _, err := c.Exchange(m, server)
	return err == nil && in.Rcode == dns.RcodeSuccess && in.Authoritative && len(in.Answer) > 0
}
