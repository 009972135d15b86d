package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/handlers"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/internal/testutil/testpki"
)

// doctorDeployment is the smallest healthy deployment the doctor command
// can examine on loopback: the demo catalog's example.com served by the
// real handlers over HTTPS with a self-signed certificate for certNames
// (trusted through --ca), IMAPS, POP3S and SMTPS greeters under the same
// certificate, and the records `mailautoconf dns` prints in a real DNS
// server (dnstest.ServeZone, as internal/doctor/scenario's), changed by
// edit. It returns the doctor's flags. The richer deployments are
// internal/doctor/scenario's; this one is for the command's exit status.
func doctorDeployment(t *testing.T, certNames []string, edit func(zone map[string][]dns.RR)) []string {
	t.Helper()
	const publicHost = "mail.hoster.test"
	p, err := provision.Demo().Lookup("example.com")
	if err != nil {
		t.Fatal(err)
	}
	zone := dnstest.Zone{}
	for _, r := range dnsrecords.Derive(p, "example.com", dnsrecords.Target{Host: publicHost}).Records {
		zone.Add(r.Name + " 300 IN " + r.Type + " " + r.Data)
	}
	for _, h := range []string{publicHost, "imap.example.com", "pop.example.com", "smtp.example.com", "dav.example.com"} {
		zone.Add(h + ". 300 IN A 127.0.0.1")
	}
	zone.Add("example.com. 300 IN A 127.0.0.2") // the customer's web site: nothing answers
	edit(zone)
	resolver := dnstest.ServeZone(t, zone, nil)

	key := testpki.Key(t)
	leaf := testpki.SelfSigned(t, key, testpki.Cert{Names: certNames, NotAfter: time.Now().Add(90 * 24 * time.Hour)})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	testpki.WritePair(t, caFile, filepath.Join(t.TempDir(), "key.pem"), leaf, key)
	conf := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}}
	listen := func() (net.Listener, int) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln, ln.Addr().(*net.TCPAddr).Port
	}

	var cat atomic.Pointer[provision.Catalog]
	cat.Store(provision.Demo())
	h := handlers.New(handlers.Config{Catalog: &cat, Log: slog.New(slog.DiscardHandler), PublicHost: publicHost, Plain: &handlers.PlainRules{PublicHost: publicHost}})
	ln, httpsPort := listen()
	srv := &http.Server{Handler: h.Router(), TLSConfig: conf, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close() })

	// A greeter does the TLS handshake, greets, and reads until the
	// doctor hangs up: the probe never logs in.
	greeter := func(greeting string) int {
		ln, port := listen()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					tc := tls.Server(c, conf)
					if tc.Handshake() != nil {
						return
					}
					_, _ = io.WriteString(tc, greeting+"\r\n")
					_, _ = io.Copy(io.Discard, tc)
				}()
			}
		}()
		return port
	}
	// A STARTTLS greeter for IMAP (143) and SMTP (587), which the demo
	// advertises and aerc and Claws Mail take from the SRV records: it
	// greets, offers STARTTLS, and upgrades on the first command it is
	// asked to (docs/clients/aerc.md).
	starttls := func(greeting string, answers ...string) int {
		ln, port := listen()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					_, _ = io.WriteString(c, greeting+"\r\n")
					r := bufio.NewReader(c)
					for _, a := range answers {
						if _, err := r.ReadString('\n'); err != nil {
							return
						}
						_, _ = io.WriteString(c, a+"\r\n")
					}
					tc := tls.Server(c, conf)
					if tc.Handshake() != nil {
						return
					}
					_, _ = io.Copy(io.Discard, tc)
				}()
			}
		}()
		return port
	}
	portMap := fmt.Sprintf("443:%d,80:%d,993:%d,995:%d,465:%d,143:%d,110:%d,587:%d", httpsPort, testutil.FreePort(t),
		greeter("* OK IMAP ready"), greeter("+OK POP3 ready"), greeter("220 ESMTP ready"),
		starttls("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready", "d2 OK begin TLS"), testutil.FreePort(t),
		starttls("220 ESMTP ready", "250-test\r\n250 STARTTLS", "220 go ahead"))
	return []string{"--resolver", resolver, "--ca", caFile, "--port-map", portMap, "--timeout", "2s"}
}

// TestDoctorPACCExitStatus: a deployment whose autoconfig and
// Autodiscover work, with a certificate that does not name
// ua-auto-config.example.com and no _ua-auto-config TXT record, does not
// publish PACC: PACC warns and the doctor exits 0 (it exited 1). With the
// TXT record published, a stale digest or a missing document makes PACC,
// and only PACC, fail: exit status 1.
func TestDoctorPACCExitStatus(t *testing.T) {
	const txt = "_ua-auto-config.example.com."
	names := []string{"mail.hoster.test", "autoconfig.example.com", "autodiscover.example.com", "dav.example.com", "imap.example.com", "pop.example.com", "smtp.example.com"}
	withPACC := append([]string{"ua-auto-config.example.com"}, names...)
	for _, tc := range []struct {
		name      string
		certNames []string
		edit      func(zone map[string][]dns.RR)
		fail      bool
		want      string // in the PACC row
	}{
		{"not published", names, func(z map[string][]dns.RR) { delete(z, txt) }, false, "WARN    PACC is not published"},
		{"stale digest", withPACC, func(z map[string][]dns.RR) {
			z[txt][0].(*dns.TXT).Txt = []string{provision.PACCDigestOf([]byte("{}\n"))}
		}, true, "FAIL    _ua-auto-config.example.com: stale digest"},
		// pacc_txt: the hoster's one TXT record, through a CNAME.
		{"through a CNAME", withPACC, func(z map[string][]dns.RR) { viaCNAME(z, txt, nil) }, false, "PASS    configures IMAP"},
		{"stale through a CNAME", withPACC, func(z map[string][]dns.RR) {
			viaCNAME(z, txt, []string{provision.PACCDigestOf([]byte("{}\n"))})
		}, true, "FAIL    _ua-auto-config.example.com: stale digest"},
		{"no document", withPACC, func(z map[string][]dns.RR) { delete(z, "ua-auto-config.example.com.") }, true, "FAIL    _ua-auto-config.example.com publishes PACC, but no document"},
	} {
		var out, errb bytes.Buffer
		args := append(append([]string{"doctor"}, doctorDeployment(t, tc.certNames, tc.edit)...), "alice@example.com")
		err := run(context.Background(), args, &out, &errb)
		var ee exitError
		if tc.fail && !errors.As(err, &ee) || !tc.fail && err != nil {
			want := "exit status 0"
			if tc.fail {
				want = "exit status 1"
			}
			t.Errorf("%s: err = %v, want %s\n%s%s", tc.name, err, want, out.String(), errb.String())
		}
		var pacc string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "PACC ") {
				pacc = l
			} else if strings.Contains(l, "  FAIL  ") && !strings.HasPrefix(l, " ") {
				t.Errorf("%s: a client other than PACC fails: %s", tc.name, l)
			}
		}
		if !strings.Contains(pacc, tc.want) {
			t.Errorf("%s: PACC row %q, want %q\n%s", tc.name, pacc, tc.want, out.String())
		}
	}
}

// viaCNAME moves the TXT record at name to _ua-auto-config.hoster.test
// (with the strings txt, when given) and makes name a CNAME to it.
func viaCNAME(z map[string][]dns.RR, name string, txt []string) {
	const shared = "_ua-auto-config.hoster.test."
	rr := z[name][0].(*dns.TXT)
	rr.Hdr.Name = shared
	if txt != nil {
		rr.Txt = txt
	}
	z[shared] = []dns.RR{rr}
	z[name] = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: shared}}
}
