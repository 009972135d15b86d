package scenario

// Real components for the scenario tests: a test CA, a DNS server
// (miekg/dns) answering a zone on 127.0.0.1, the service itself behind
// TLS and plain-HTTP listeners, and small IMAP/POP3/SMTP greeters that
// speak implicit TLS or STARTTLS. Everything listens on 127.0.0.1 only.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailautoconf/handlers"
	"mailautoconf/internal/profilesign"
	"mailautoconf/provision"

	"mailautoconf/internal/testutil/dnstest"
	// -update: go test ./... -update rewrites golden files, and every test
	// binary must accept the flag.
	_ "mailautoconf/internal/testutil/golden"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "doctor test root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial atomic.Int64

// leaf issues a server certificate for names, valid from notBefore to
// notAfter.
func (ca *testCA) leaf(t testing.TB, names []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serial.Add(1)),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// zone is the DNS zone a scenario serves (dnstest.ServeZone).
type zone = dnstest.Zone

// noAnswer, as a broken name's rcode, makes the DNS server drop the query.
const noAnswer = dnstest.NoAnswer

// listen opens a TCP listener on 127.0.0.1 and returns it and its port.
func listen(t testing.TB) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// serveHTTP serves h on a new listener, with TLS when cert is non-nil.
func serveHTTP(t testing.TB, h http.Handler, cert *tls.Certificate) int {
	t.Helper()
	ln, port := listen(t)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { _ = srv.Serve(ln) }()
	}
	t.Cleanup(func() { srv.Close() })
	return port
}

// service returns the real service's handlers for cat, as serve builds
// them: the HTTPS one, and the plain-HTTP one whose /autodiscover/
// answers are 302s to the public host (Outlook's HTTP redirect method).
// Profiles are signed with signer when non-nil.
func service(cat *provision.Catalog, publicHost string, signer *profilesign.Signer) (https, plain http.Handler) {
	var cp atomic.Pointer[provision.Catalog]
	cp.Store(cat)
	var sp atomic.Pointer[profilesign.Signer]
	sp.Store(signer)
	h := handlers.New(handlers.Config{
		Catalog:    &cp,
		Log:        slog.New(slog.DiscardHandler),
		Signer:     &sp,
		PublicHost: publicHost,
		Plain:      &handlers.PlainRules{PublicHost: publicHost},
	})
	return h.Router(), h.PlainRouter()
}

// greeter is a mail server that greets, lists capabilities, upgrades
// with STARTTLS (STLS) and says goodbye; it knows no login.
func greeter(t testing.TB, protocol string, implicitTLS bool, cert tls.Certificate) int {
	t.Helper()
	ln, port := listen(t)
	conf := &tls.Config{Certificates: []tls.Certificate{cert}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go greet(c, protocol, implicitTLS, conf)
		}
	}()
	return port
}

func greet(c net.Conn, protocol string, implicitTLS bool, conf *tls.Config) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tlsOn := false
	if implicitTLS {
		tc := tls.Server(c, conf)
		if tc.Handshake() != nil {
			return
		}
		c, tlsOn = tc, true
	}
	r := bufio.NewReader(c)
	say := func(s string) { fmt.Fprint(c, strings.ReplaceAll(s, "\n", "\r\n")) }
	switch protocol {
	case "imap":
		say("* OK test IMAP ready\n")
	case "pop3":
		say("+OK test POP3 ready\n")
	case "smtp":
		say("220 test ESMTP ready\n")
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		upgrade := false
		switch protocol {
		case "imap":
			if len(f) < 2 {
				say("* BAD\n")
				continue
			}
			tag, cmd := f[0], strings.ToUpper(f[1])
			switch cmd {
			case "CAPABILITY":
				caps := "IMAP4rev1 AUTH=PLAIN"
				if !tlsOn {
					caps += " STARTTLS LOGINDISABLED"
				}
				say("* CAPABILITY " + caps + "\n" + tag + " OK done\n")
			case "STARTTLS":
				say(tag + " OK begin TLS\n")
				upgrade = true
			case "LOGOUT":
				say("* BYE\n" + tag + " OK bye\n")
				return
			default:
				say(tag + " BAD unknown\n")
			}
		case "pop3":
			switch strings.ToUpper(f[0]) {
			case "CAPA":
				caps := "+OK\nUSER\n"
				if !tlsOn {
					caps += "STLS\n"
				}
				say(caps + ".\n")
			case "STLS":
				say("+OK begin TLS\n")
				upgrade = true
			case "QUIT":
				say("+OK bye\n")
				return
			default:
				say("-ERR unknown\n")
			}
		case "smtp":
			switch strings.ToUpper(f[0]) {
			case "EHLO":
				if tlsOn {
					say("250-test\n250 AUTH PLAIN\n")
				} else {
					say("250-test\n250-STARTTLS\n250 8BITMIME\n")
				}
			case "STARTTLS":
				say("220 go ahead\n")
				upgrade = true
			case "QUIT":
				say("221 bye\n")
				return
			default:
				say("502 unknown\n")
			}
		}
		if upgrade {
			tc := tls.Server(c, conf)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tlsOn = tc, true
			r = bufio.NewReader(c)
		}
	}
}
