package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"mailautoconf/internal/dirquery"
	"mailautoconf/provision"
)

// ldapPage is the page size of a domain list search (RFC 2696 paged
// results): Active Directory answers at most 1000 entries a page
// (MaxPageSize), and OpenLDAP's default size limit is 500 entries without
// paging.
const ldapPage = 500

// ldapSource is an LDAP directory over one connection, dialled on first
// use and again after the server dropped it. go-ldap multiplexes
// concurrent operations on a connection (RFC 4511 section 4.1.1, message
// IDs), so lookups do not queue behind a domain refresh.
type ldapSource struct {
	url      string
	host     string // for TLS server name checks
	bindDN   string
	bindPW   string
	startTLS bool

	base, loginFilter, loginAttr string
	domBase, domFilter, domAttr  string

	dial   time.Duration
	dlimit time.Duration
	scrub  *scrubber

	mu   sync.Mutex
	conn *ldap.Conn
}

func openLDAP(d *provision.Directory, raw, bindPW string) (Source, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, fmt.Errorf("directory %q: %s does not hold an ldap:// or ldaps:// URL (its value is not shown)", d.Name, d.URLEnv)
	}
	if d.StartTLS && u.Scheme == "ldaps" {
		return nil, fmt.Errorf("directory %q: start_tls is for ldap:// URLs; %s holds an ldaps:// one", d.Name, d.URLEnv)
	}
	s := &ldapSource{
		url: raw, host: u.Hostname(), bindDN: d.BindDN, bindPW: bindPW, startTLS: d.StartTLS,
		base: d.Base, loginFilter: d.LoginFilter, loginAttr: d.LoginAttribute,
		domBase: d.DomainsBase, domFilter: d.DomainsFilter, domAttr: d.DomainsAttribute,
		dial: connectTimeout(d), dlimit: domainsLimit(d),
		scrub: newScrubber(d.Name, raw, bindPW),
	}
	if s.domBase == "" {
		s.domBase = s.base
	}
	if s.domFilter == "" {
		s.domFilter = "(objectClass=*)"
	}
	// Filters are checked here, with a harmless value for %s, so that a
	// typo shows at start rather than as a failed lookup.
	if s.loginFilter != "" {
		if err := dirquery.CheckFilter(s.loginFilter, 1); err != nil {
			return nil, fmt.Errorf("directory %q: login_filter: %v", d.Name, err)
		}
		if _, err := ldap.CompileFilter(strings.ReplaceAll(s.loginFilter, dirquery.Placeholder, "x")); err != nil {
			return nil, fmt.Errorf("directory %q: login_filter %q: %v", d.Name, s.loginFilter, err)
		}
		if s.loginAttr == "" {
			return nil, fmt.Errorf("directory %q: login_filter needs login_attribute", d.Name)
		}
	}
	if s.domAttr != "" {
		if _, err := ldap.CompileFilter(s.domFilter); err != nil {
			return nil, fmt.Errorf("directory %q: domains_filter %q: %v", d.Name, s.domFilter, err)
		}
	}
	return s, nil
}

// connect returns the live connection, dialling (and binding) when there
// is none or the last one broke.
func (s *ldapSource) connect() (*ldap.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && !s.conn.IsClosing() {
		return s.conn, nil
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	tc := &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	c, err := ldap.DialURL(s.url, ldap.DialWithDialer(&net.Dialer{Timeout: s.dial}), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, s.scrub.err("connect", err)
	}
	// A bound on each response, for the operations without a context
	// (bind, StartTLS, paged search); lookups have their context.
	c.SetTimeout(s.dlimit)
	if s.startTLS {
		if err := c.StartTLS(tc); err != nil {
			c.Close()
			return nil, s.scrub.err("StartTLS", err)
		}
	}
	if s.bindDN != "" {
		if err := c.Bind(s.bindDN, s.bindPW); err != nil {
			c.Close()
			return nil, s.scrub.err("bind", err)
		}
	}
	s.conn = c
	return c, nil
}

// drop forgets a connection after a network error, so that the next
// operation dials afresh.
func (s *ldapSource) drop(c *ldap.Conn, err error) {
	if !ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == c {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *ldapSource) Domains(ctx context.Context) ([]string, error) {
	if s.domAttr == "" {
		return nil, s.scrub.err("domains", errNoQuery)
	}
	c, err := s.connect()
	if err != nil {
		return nil, err
	}
	req := ldap.NewSearchRequest(s.domBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, int(s.dlimit/time.Second), false, s.domFilter, []string{s.domAttr}, nil)
	// SearchWithPaging takes no context: run it aside and stop waiting
	// when the context ends (the connection's timeout ends the search).
	type result struct {
		r   *ldap.SearchResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.SearchWithPaging(req, ldapPage)
		done <- result{r, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return nil, s.scrub.err("domains search", ctx.Err())
	}
	if res.err != nil {
		s.drop(c, res.err)
		return nil, s.scrub.err("domains search", res.err)
	}
	var out []string
	for _, e := range res.r.Entries {
		out = append(out, e.GetEqualFoldAttributeValues(s.domAttr)...)
	}
	return out, nil
}

func (s *ldapSource) Login(ctx context.Context, address string) (string, bool, error) {
	if s.loginFilter == "" {
		return "", false, s.scrub.err("login", errNoQuery)
	}
	if !usable(address) {
		return "", false, nil
	}
	c, err := s.connect()
	if err != nil {
		return "", false, err
	}
	// RFC 4515 section 3: the address is an assertion value; EscapeFilter
	// turns *, (, ), \ and NUL (and every non-ASCII octet) into \XX.
	// ReplaceAll, not Sprintf: a filter may hold other % signs.
	filter := strings.ReplaceAll(s.loginFilter, dirquery.Placeholder, ldap.EscapeFilter(address))
	// Size limit 2: one entry is the answer, a second makes it ambiguous.
	req := ldap.NewSearchRequest(s.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, filter, []string{s.loginAttr}, nil)
	resp := c.SearchAsync(ctx, req, 4)
	var values []string
	n := 0
	for resp.Next() {
		if e := resp.Entry(); e != nil {
			n++
			values = e.GetEqualFoldAttributeValues(s.loginAttr)
		}
	}
	err = resp.Err()
	// SearchAsync reports an ended context as a normal end.
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded), err == nil && n > 1:
		return "", false, s.scrub.err("login search", ErrAmbiguous)
	case err != nil:
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.drop(c, err)
		}
		return "", false, s.scrub.err("login search", err)
	}
	switch {
	case n == 0 || len(values) == 0 || values[0] == "" || len(values[0]) > MaxLogin:
		return "", false, nil
	case len(values) > 1:
		return "", false, s.scrub.err("login search", ErrAmbiguous)
	}
	return values[0], true, nil
}

func (s *ldapSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}
