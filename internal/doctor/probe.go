package doctor

// Probes of certificates and mail endpoints. No login is ever attempted:
// the mail probe reads the greeting, asks for capabilities and, for
// STARTTLS, upgrades the connection, then says goodbye.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// CertInfo describes the certificate a TLS server presented for a name.
type CertInfo struct {
	Host     string   `json:"host"`
	Port     int      `json:"port"`
	Subject  string   `json:"subject,omitempty"`
	Names    []string `json:"names,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	Chain    []string `json:"chain,omitempty"` // subjects, leaf first, as verified (or as sent when verification failed)
	NotAfter string   `json:"not_after,omitempty"`
	DaysLeft int      `json:"days_left"`
	// Problem is why a client would refuse the certificate; empty when
	// it verifies for Host.
	Problem string `json:"problem,omitempty"`
	// Err is why no certificate could be read at all.
	Err string `json:"error,omitempty"`
}

// expiryWarnDays: a certificate with fewer days left is a warning; ACME
// clients renew at 30 days, so under 21 renewal is failing.
const expiryWarnDays = 21

// probeCert reads the certificate host presents on port (after the port
// map) with SNI host, and verifies it against the run's roots.
func (n *network) probeCert(ctx context.Context, host string, port int) CertInfo {
	info := CertInfo{Host: host, Port: port}
	conn, err := n.dial(ctx, host, port)
	if err != nil {
		info.Err = err.Error()
		return info
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(n.timeout))
	tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	if err := tc.HandshakeContext(ctx); err != nil {
		info.Err = "TLS handshake: " + simplifyNetErr(err).Error()
		return info
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		info.Err = "no certificate presented"
		return info
	}
	describeCert(&info, certs, n.roots, n.now())
	return info
}

// describeCert fills info from a presented chain: names, expiry, and the
// verification a client would do.
func describeCert(info *CertInfo, certs []*x509.Certificate, roots *x509.CertPool, now time.Time) {
	leaf := certs[0]
	info.Subject = leaf.Subject.CommonName
	info.Names = leaf.DNSNames
	info.Issuer = leaf.Issuer.CommonName
	if info.Issuer == "" {
		info.Issuer = leaf.Issuer.String()
	}
	info.NotAfter = leaf.NotAfter.UTC().Format(time.RFC3339)
	info.DaysLeft = int(leaf.NotAfter.Sub(now).Hours() / 24)
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{DNSName: info.Host, Roots: roots, Intermediates: inter, CurrentTime: now})
	if err != nil {
		info.Problem = certProblem(err)
		for _, c := range certs {
			info.Chain = append(info.Chain, subjectName(c))
		}
		return
	}
	for _, c := range chains[0] {
		info.Chain = append(info.Chain, subjectName(c))
	}
}

func subjectName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

// Endpoint is a mail server as a client would be told about it.
type Endpoint struct {
	Protocol string `json:"protocol"` // imap, pop3, smtp
	Host     string `json:"host"`
	Port     int    `json:"port"`
	// Socket is SSL (implicit TLS), STARTTLS or plain; "auto" when the
	// client decides by itself (Delta Chat without socketType).
	Socket   string `json:"socket"`
	Username string `json:"username,omitempty"`
	// Auth is the authentication the client would use, where its reader
	// says (Thunderbird's Autodiscover reader: password-cleartext or
	// secure); the report does not show it.
	Auth string `json:"-"`
}

func (e Endpoint) String() string {
	return fmt.Sprintf("%s %s:%d %s", strings.ToUpper(e.Protocol), e.Host, e.Port, e.Socket)
}

// endpointKey identifies a probe: the username does not matter to it.
type endpointKey struct {
	protocol, host string
	port           int
	socket         string
}

func (e Endpoint) key() endpointKey {
	return endpointKey{e.Protocol, strings.ToLower(e.Host), e.Port, e.Socket}
}

// EndpointResult is what the doctor found at an endpoint.
type EndpointResult struct {
	Endpoint
	OK       bool      `json:"ok"`
	Greeting string    `json:"greeting,omitempty"`
	Problem  string    `json:"problem,omitempty"`
	Cert     *CertInfo `json:"certificate,omitempty"`
	Millis   int64     `json:"ms"` // rounded up (millis)
}

// maxLine bounds one protocol line read from a server.
const maxLine = 4096

// probeEndpoint connects to e and checks that it offers e.Socket: a TLS
// handshake from the first byte for SSL, the STARTTLS (STLS) capability
// and a successful upgrade for STARTTLS, a greeting for plain.
// The result is named so that the deferred timing lands in what is
// returned.
func (n *network) probeEndpoint(ctx context.Context, e Endpoint) (res EndpointResult) {
	res = EndpointResult{Endpoint: e}
	start := time.Now()
	defer func() { res.Millis = millis(time.Since(start)) }()
	conn, err := n.dial(ctx, e.Host, e.Port)
	if err != nil {
		res.Problem = err.Error()
		return res
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * n.timeout))

	socket := e.Socket
	if socket == "auto" {
		socket = autoSocket(e.Port)
	}
	c := conn
	if socket == "SSL" {
		tc, cert, err := n.handshake(ctx, conn, e.Host)
		res.Cert = cert
		if err != nil {
			res.Problem = err.Error()
			return res
		}
		c = tc
	}
	r := bufio.NewReaderSize(c, maxLine)
	greet, err := readReply(r, e.Protocol)
	if err != nil {
		res.Problem = "no greeting: " + err.Error()
		return res
	}
	res.Greeting = greet
	if !greetingOK(e.Protocol, greet) {
		res.Problem = fmt.Sprintf("unexpected greeting %q", greet)
		return res
	}
	if socket == "STARTTLS" {
		if err := startTLS(c, r, e.Protocol, greet); err != nil {
			res.Problem = err.Error()
			return res
		}
		tc, cert, err := n.handshake(ctx, conn, e.Host)
		res.Cert = cert
		if err != nil {
			res.Problem = "after STARTTLS: " + err.Error()
			return res
		}
		c = tc
	}
	res.OK = true
	goodbye(c, e.Protocol)
	return res
}

// autoSocket is the mode a client that decides by itself tries first on
// a port (Delta Chat "automatic", Thunderbird's port rule, docs/thunderbird-parser.md#readautodiscoverxml; docs/dns.md#ports).
func autoSocket(port int) string {
	switch port {
	case 143, 110, 25, 587:
		return "STARTTLS"
	}
	return "SSL"
}

func (n *network) handshake(ctx context.Context, conn net.Conn, host string) (*tls.Conn, *CertInfo, error) {
	tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, fmt.Errorf("no TLS handshake: %v", simplifyNetErr(err))
	}
	info := &CertInfo{Host: host}
	describeCert(info, tc.ConnectionState().PeerCertificates, n.roots, n.now())
	if info.Problem != "" {
		return nil, info, errors.New("TLS: " + info.Problem)
	}
	return tc, info, nil
}

// readReply reads one server reply: a line for IMAP and POP3, every line
// of a multi-line reply for SMTP ("250-..." up to "250 ...").
func readReply(r *bufio.Reader, protocol string) (string, error) {
	var lines []string
	for len(lines) < 100 {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return "", errors.New("line too long")
			}
			return "", simplifyNetErr(err)
		}
		l := strings.TrimRight(string(line), "\r\n")
		lines = append(lines, l)
		if protocol != "smtp" || len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n"), nil
		}
	}
	return "", errors.New("reply too long")
}

func greetingOK(protocol, g string) bool {
	switch protocol {
	case "imap":
		return strings.HasPrefix(g, "* OK") || strings.HasPrefix(g, "* PREAUTH")
	case "pop3":
		return strings.HasPrefix(g, "+OK")
	case "smtp":
		return strings.HasPrefix(g, "220")
	}
	return false
}

// startTLS asks for the capabilities, checks that STARTTLS (STLS for POP3)
// is offered, and sends the command.
func startTLS(c net.Conn, r *bufio.Reader, protocol, greeting string) error {
	send := func(s string) error {
		_, err := fmt.Fprintf(c, "%s\r\n", s)
		return err
	}
	switch protocol {
	case "imap":
		caps := ""
		if i := strings.Index(strings.ToUpper(greeting), "[CAPABILITY "); i >= 0 {
			caps = greeting[i:]
		} else {
			if err := send("d1 CAPABILITY"); err != nil {
				return err
			}
			for {
				l, err := readReply(r, protocol)
				if err != nil {
					return fmt.Errorf("CAPABILITY: %v", err)
				}
				if strings.HasPrefix(l, "* ") {
					caps += " " + l
					continue
				}
				break
			}
		}
		if !hasWord(caps, "STARTTLS") {
			return errors.New("STARTTLS not offered in the IMAP capabilities")
		}
		if err := send("d2 STARTTLS"); err != nil {
			return err
		}
		l, err := readReply(r, protocol)
		if err != nil || !strings.HasPrefix(strings.ToUpper(l), "D2 OK") {
			return fmt.Errorf("STARTTLS refused: %q", l)
		}
	case "pop3":
		if err := send("CAPA"); err != nil {
			return err
		}
		l, err := readReply(r, protocol)
		if err != nil {
			return fmt.Errorf("CAPA: %v", err)
		}
		var caps []string
		if strings.HasPrefix(l, "+OK") {
			for {
				l, err := readReply(r, protocol)
				if err != nil {
					return fmt.Errorf("CAPA: %v", err)
				}
				if l == "." {
					break
				}
				caps = append(caps, strings.ToUpper(strings.TrimSpace(l)))
			}
		}
		if !slices.Contains(caps, "STLS") {
			return errors.New("STLS not offered in the POP3 capabilities")
		}
		if err := send("STLS"); err != nil {
			return err
		}
		if l, err := readReply(r, protocol); err != nil || !strings.HasPrefix(l, "+OK") {
			return fmt.Errorf("STLS refused: %q", l)
		}
	case "smtp":
		if err := send("EHLO doctor.invalid"); err != nil {
			return err
		}
		l, err := readReply(r, protocol)
		if err != nil || !strings.HasPrefix(l, "250") {
			return fmt.Errorf("EHLO refused: %q", l)
		}
		offered := false
		for _, line := range strings.Split(l, "\n") {
			if len(line) > 4 && strings.EqualFold(strings.Fields(line[4:] + " x")[0], "STARTTLS") {
				offered = true
			}
		}
		if !offered {
			return errors.New("STARTTLS not offered in the EHLO reply")
		}
		if err := send("STARTTLS"); err != nil {
			return err
		}
		if l, err := readReply(r, protocol); err != nil || !strings.HasPrefix(l, "220") {
			return fmt.Errorf("STARTTLS refused: %q", l)
		}
	}
	if r.Buffered() > 0 {
		// Bytes sent before the handshake would be read as plain text
		// (the STARTTLS injection of CVE-2011-0411).
		return errors.New("server sent data after accepting STARTTLS, before the TLS handshake")
	}
	return nil
}

func hasWord(s, w string) bool {
	for _, f := range strings.FieldsFunc(strings.ToUpper(s), func(r rune) bool { return r == ' ' || r == ']' || r == '[' }) {
		if f == w {
			return true
		}
	}
	return false
}

func goodbye(c net.Conn, protocol string) {
	switch protocol {
	case "imap":
		fmt.Fprint(c, "d9 LOGOUT\r\n")
	case "pop3", "smtp":
		fmt.Fprint(c, "QUIT\r\n")
	}
}
