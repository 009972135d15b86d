package dnscheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/beevik/etree"

	"mailautoconf/provision"
)

// probeBody bounds the body a probe reads: a configuration document is a
// few kilobytes.
const probeBody = 64 << 10

// DefaultProbeTimeout bounds one probe, connection and body included.
const DefaultProbeTimeout = 3 * time.Second

// HTTPProbe returns a Probe that asks
// https://<host>/mail/config-v1.1.xml?emailaddress=postmaster@<domain>
// (the URL Thunderbird asks first, docs/autoconfig.md) and finds another
// service there when the answer is a clientConfig document that ours does
// not accept. ours, when set, tells our own document served through a
// proxy (true: not foreign); nil counts every document as another
// service's, since the name does not lead to us. dial, when set, replaces
// the dialer (tests map ports); certificates are not verified: the
// question is who answers, not whether a client would trust it.
func HTTPProbe(timeout time.Duration, dial func(ctx context.Context, network, addr string) (net.Conn, error), ours func(domain string, doc *etree.Document) bool) Probe {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: timeout}).DialContext
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:            dial,
			TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // who answers, not whether to trust it
			TLSHandshakeTimeout:    timeout,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 16 << 10,
			DisableKeepAlives:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context, domain, host string) (bool, string) {
		u := url.URL{Scheme: "https", Host: host, Path: "/mail/config-v1.1.xml",
			RawQuery: url.Values{"emailaddress": {"postmaster@" + domain}}.Encode()}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return false, ""
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, ""
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, ""
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, probeBody))
		if err != nil {
			return false, ""
		}
		doc := etree.NewDocument()
		doc.ReadSettings.Permissive = false
		if doc.ReadFromBytes(body) != nil || doc.Root() == nil || doc.Root().Tag != "clientConfig" {
			return false, ""
		}
		if ours != nil && ours(domain, doc) {
			return false, ""
		}
		provider := ""
		if ep := doc.Root().SelectElement("emailProvider"); ep != nil {
			provider = ep.SelectAttrValue("id", "")
		}
		if len(provider) > 64 {
			provider = provider[:64]
		}
		what := fmt.Sprintf("%s answers with a configuration document", u.Scheme+"://"+host+u.Path)
		if provider != "" {
			what += fmt.Sprintf(" of provider %q", strings.ToValidUTF8(provider, "?"))
		}
		return true, what
	}
}

// PublicDialer is a dialer for HTTPProbe that connects only to public
// addresses: a customer controls where its names lead, and the watch in
// serve must not be made to send requests into the hoster's own network
// (loopback, private, shared and link-local addresses). Such a name is
// judged by its DNS alone: drift, not conflict.
func PublicDialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	d := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !Public(ap.Addr()) {
			return fmt.Errorf("not probed: %s is not a public address", address)
		}
		return nil
	}}
	return d.DialContext
}

// sharedSpace is RFC 6598's shared address space (carrier-grade NAT).
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// Public reports whether a is a public unicast address: not loopback,
// private (RFC 1918, RFC 4193), shared (RFC 6598), link-local,
// multicast or unspecified.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !sharedSpace.Contains(a)
}

// Ours is the HTTPProbe's ours of `dns --check`, the watch in serve and
// the doctor alike: our own autoconfig document, served through a proxy
// or at another name, is one whose emailProvider id is the domain's
// provider's (provision/autoconfig.go writes the provider id there), or
// that names the same servers (SameServers). lookup gives the domain's
// provider (the catalog's Lookup); nil knows no document as ours.
func Ours(lookup func(domain string) (*provision.Provider, error)) func(domain string, doc *etree.Document) bool {
	same := SameServers(lookup)
	return func(domain string, doc *etree.Document) bool {
		if lookup == nil {
			return false
		}
		p, err := lookup(domain)
		if err != nil {
			return false
		}
		if ep := doc.Root().SelectElement("emailProvider"); ep != nil && ep.SelectAttrValue("id", "") == p.ID {
			return true
		}
		return same(domain, doc)
	}
}

// SameServers reports whether a document names the same incoming and
// outgoing servers (host and port, any letter case, with or without the
// final dot) as the domain's provider, as lookup gives it.
func SameServers(lookup func(domain string) (*provision.Provider, error)) func(domain string, doc *etree.Document) bool {
	return func(domain string, doc *etree.Document) bool {
		if lookup == nil {
			return false
		}
		p, err := lookup(domain)
		if err != nil {
			return false
		}
		var want, got []string
		for _, s := range append(p.AdvertisedIncoming(), p.AdvertisedOutgoing()...) {
			want = append(want, serverKey(s.Host, strconv.Itoa(s.Port)))
		}
		for _, e := range doc.FindElements("/clientConfig/emailProvider/*") {
			if e.Tag != "incomingServer" && e.Tag != "outgoingServer" {
				continue
			}
			got = append(got, serverKey(textOf(e, "hostname"), textOf(e, "port")))
		}
		slices.Sort(want)
		slices.Sort(got)
		return len(got) > 0 && slices.Equal(slices.Compact(want), slices.Compact(got))
	}
}

func serverKey(host, port string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".") + ":" + strings.TrimSpace(port)
}

func textOf(e *etree.Element, tag string) string {
	if c := e.SelectElement(tag); c != nil {
		return c.Text()
	}
	return ""
}
