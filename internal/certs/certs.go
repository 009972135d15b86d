// Package certs supplies the certificates of mailautoconf's HTTPS listener,
// either obtained and renewed from an ACME CA (Manager) or read from PEM
// files (Static), for the names it is given (SetNames; the catalog derives
// them, provision.Catalog.TLSNames). A TLS handshake for a name outside that
// set is refused. It knows no catalog.
package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mholt/acmez/v3"
)

// normalizeName is how names are compared: lower case, no trailing dot.
func normalizeName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// State is where one name's certificate stands.
type State string

const (
	// Pending: no certificate yet; the first attempt is queued or running.
	Pending State = "pending"
	// Ready: a valid certificate is served.
	Ready State = "ready"
	// Failed: the last attempt failed and is retried with back-off. A
	// failed renewal still serves the current certificate until NotAfter.
	Failed State = "failed"
	// Missing: no static certificate file covers the name.
	Missing State = "missing"
	// OnDemand: no certificate held yet; it is loaded or obtained at the
	// name's first handshake (ACMEOptions.OnDemand).
	OnDemand State = "on-demand"
	// WaitingDNS: no certificate yet, and none ordered until the DNS
	// watch sees the name point at this service (ACMEOptions.DNSGate).
	WaitingDNS State = "waiting for DNS"
)

// Status is the state of one name's certificate.
type Status struct {
	Name  string
	State State
	// NotAfter is the expiry of the certificate served; zero when none.
	NotAfter time.Time
	// Failures counts failed attempts in a row; Err is the last one's
	// reason, on one line.
	Failures int
	Err      string
}

// Source supplies the certificates of the HTTPS listener.
type Source interface {
	// GetCertificate is a tls.Config.GetCertificate. It refuses names
	// outside the source's set at once. It waits for no issuance, except
	// with ACMEOptions.OnDemand, where it starts one in the background
	// for a served name without a certificate and waits for it at most
	// ACMEOptions.HandshakeWait.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Certificate returns the certificate currently served for exactly
	// name, if there is a valid one.
	Certificate(name string) (*tls.Certificate, bool)
	// Status reports on every name the listener should serve, by name.
	Status() []Status
}

// ErrUnknownName refuses a handshake for a name with no certificate.
var ErrUnknownName = errors.New("no certificate for this server name")

// TLSConfig returns the HTTPS listener's configuration for src: TLS 1.2 or
// later, HTTP/2 and HTTP/1.1, and acme-tls/1 so that TLS-ALPN-01
// validations reach the ACME solver.
func TLSConfig(src Source) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: src.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1", acmez.ACMETLS1Protocol},
	}
}

// reportNames bounds the names Report lists one by one.
const reportNames = 100

// Report is the readiness text of src: one summary line, then one line per
// name that is not ready (the first 100, failed ones first). Certificates
// never make the service unready: one domain's failure must not take the
// others (nor plain HTTP) out of service, so ok is always true.
func Report(src Source, now time.Time) (ok bool, lines []string) {
	st := src.Status()
	ready, onDemand, waiting := 0, 0, 0
	var failed, other []string
	for _, s := range st {
		switch s.State {
		case Ready:
			ready++
		case OnDemand:
			onDemand++
		case WaitingDNS:
			waiting++
			other = append(other, "  "+s.line(now))
		case Failed, Missing:
			failed = append(failed, "  "+s.line(now))
		default:
			other = append(other, "  "+s.line(now))
		}
	}
	summary := fmt.Sprintf("certificates: %d of %d names ready", ready, len(st))
	if onDemand > 0 {
		summary += fmt.Sprintf(", %d on demand (obtained at their first handshake)", onDemand)
	}
	if waiting > 0 {
		summary += fmt.Sprintf(", %d waiting for DNS (ordered once they point at this service)", waiting)
	}
	lines = append(lines, summary)
	rest := append(failed, other...)
	if len(rest) > reportNames {
		more := len(rest) - reportNames
		rest = append(rest[:reportNames], fmt.Sprintf("  ... and %d more names not ready", more))
	}
	return true, append(lines, rest...)
}

// line describes s on one line.
func (s Status) line(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", s.Name, s.State)
	if !s.NotAfter.IsZero() {
		fmt.Fprintf(&b, ", serving a certificate valid until %s", s.NotAfter.UTC().Format(time.RFC3339))
		if !s.NotAfter.After(now) {
			b.WriteString(" (expired)")
		}
	}
	switch {
	case s.Failures == 1:
		b.WriteString(" (1 attempt, retried with back-off)")
	case s.Failures > 1:
		fmt.Fprintf(&b, " (%d attempts in a row, retried with back-off)", s.Failures)
	}
	if s.Err != "" {
		fmt.Fprintf(&b, ": %s", s.Err)
	}
	return b.String()
}

// oneLine shortens an error for logs and /readyz: one line, at most n
// bytes.
func oneLine(err error, n int) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}
