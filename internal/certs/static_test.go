package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mailautoconf/internal/testutil/testpki"
)

// writePair writes a self-signed certificate for names, valid until
// notAfter, and its key, as PEM files.
func writePair(t *testing.T, certFile, keyFile string, notAfter time.Time, names ...string) {
	t.Helper()
	key := testpki.Key(t)
	testpki.WritePair(t, certFile, keyFile, testpki.SelfSigned(t, key, testpki.Cert{Names: names, NotAfter: notAfter}), key)
}

// served returns the first DNS name of the certificate s serves for sni, or
// "" when the handshake would be refused.
func served(t *testing.T, s Source, sni string) string {
	t.Helper()
	c, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
	if err != nil {
		if !errors.Is(err, ErrUnknownName) {
			t.Errorf("GetCertificate(%q) error = %v, want ErrUnknownName", sni, err)
		}
		return ""
	}
	return c.Leaf.DNSNames[0]
}

func TestStaticDirectory(t *testing.T) {
	dir := t.TempDir()
	year := time.Now().Add(365 * 24 * time.Hour)
	writePair(t, filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"), year, "autoconfig.a.example", "autodiscover.a.example")
	writePair(t, filepath.Join(dir, "wild.pem"), filepath.Join(dir, "wild.key"), year, "*.b.example")
	writePair(t, filepath.Join(dir, "c.example", "fullchain.pem"), filepath.Join(dir, "c.example", "privkey.pem"), year, "autoconfig.c.example")
	writePair(t, filepath.Join(dir, "k8s", "tls.crt"), filepath.Join(dir, "k8s", "tls.key"), year, "autoconfig.d.example")
	writePair(t, filepath.Join(dir, "lonely.crt"), filepath.Join(dir, "other.key"), year, "lonely.example") // no pair
	writePair(t, filepath.Join(dir, ".hidden.crt"), filepath.Join(dir, ".hidden.key"), year, "hidden.example")

	s, err := NewStatic("", "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ sni, want string }{
		{"autoconfig.a.example", "autoconfig.a.example"},
		{"AUTODISCOVER.A.EXAMPLE.", "autoconfig.a.example"},
		{"autoconfig.b.example", "*.b.example"},
		{"x.autoconfig.b.example", ""}, // a wildcard covers one label
		{"b.example", ""},
		{"autoconfig.c.example", "autoconfig.c.example"},
		{"autoconfig.d.example", "autoconfig.d.example"},
		{"lonely.example", ""},
		{"hidden.example", ""},
		{"", ""},
	} {
		if got := served(t, s, tt.sni); got != tt.want {
			t.Errorf("GetCertificate(%q) serves %q, want %q", tt.sni, got, tt.want)
		}
	}

	s.SetNames([]string{"autoconfig.a.example", "autoconfig.e.example", "autoconfig.b.example"})
	var states []State
	for _, st := range s.Status() {
		states = append(states, st.State)
	}
	if want := []State{Ready, Ready, Missing}; !slices.Equal(states, want) {
		t.Errorf("Status() states = %v, want %v", states, want)
	}
	if _, ok := s.Certificate("autoconfig.e.example"); ok {
		t.Errorf("Certificate(autoconfig.e.example) found one")
	}
}

func TestStaticReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePair(t, cert, key, time.Now().Add(24*time.Hour), "autoconfig.a.example")
	s, err := NewStatic(cert, key, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := s.Certificate("autoconfig.a.example")

	// A renewal tool replaces the pair: the next Reload serves the new one.
	writePair(t, cert, key, time.Now().Add(90*24*time.Hour), "autoconfig.a.example", "autoconfig.b.example")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, s, "autoconfig.b.example"); got != "autoconfig.a.example" {
		t.Errorf("after reload, autoconfig.b.example serves %q", got)
	}
	second, _ := s.Certificate("autoconfig.a.example")
	if !second.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Errorf("after reload, NotAfter = %v, want later than %v", second.Leaf.NotAfter, first.Leaf.NotAfter)
	}

	// Half-written: a key that does not match. The loaded pair stays.
	if err := os.WriteFile(key, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Errorf("Reload with a broken key succeeded")
	}
	if got := served(t, s, "autoconfig.b.example"); got != "autoconfig.a.example" {
		t.Errorf("after a failed reload, autoconfig.b.example serves %q, want the old pair", got)
	}
}

func TestStaticRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ cert, key, dir string }{
		{"a.crt", "", ""},
		{"", "a.key", ""},
		{"", "", ""},
		{"a.crt", "a.key", dir},
		{"", "", dir}, // empty directory
		{"", "", filepath.Join(dir, "absent")},
	} {
		if _, err := NewStatic(tt.cert, tt.key, tt.dir, nil); err == nil {
			t.Errorf("NewStatic(%q, %q, %q) succeeded", tt.cert, tt.key, tt.dir)
		}
	}
}

// reportSource is a Source with a fixed status, for Report.
type reportSource struct{ st []Status }

func (r reportSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return nil, ErrUnknownName
}
func (r reportSource) Certificate(string) (*tls.Certificate, bool) { return nil, false }
func (r reportSource) Status() []Status                            { return r.st }

func TestReportBoundsItsLines(t *testing.T) {
	var st []Status
	for i := range 250 {
		state := Pending
		if i == 200 {
			state = Failed
		}
		st = append(st, Status{Name: fmt.Sprintf("autoconfig.d%03d.example", i), State: state, Err: "x"})
	}
	st = append(st, Status{Name: "autoconfig.ok.example", State: Ready})
	ok, lines := Report(reportSource{st}, time.Now())
	if !ok || len(lines) != 102 {
		t.Fatalf("Report = %v, %d lines, want true and 102", ok, len(lines))
	}
	if lines[0] != "certificates: 1 of 251 names ready" || !strings.HasPrefix(lines[1], "  autoconfig.d200.example: failed") || lines[101] != "  ... and 150 more names not ready" {
		t.Errorf("Report lines: %q ... %q", lines[:2], lines[101])
	}
}
