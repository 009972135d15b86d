package dnscheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
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
