package provision

import (
	"fmt"
	"strings"
	"time"

	"mailautoconf/internal/yamlcheck"
)

// Directory is a database or LDAP server a catalog declares (the
// `directories:` key, docs/guide/directories.md): where a provider's domains
// and its users' login names are read. provision only describes it: it
// never reads URLEnv or BindPasswordEnv, never connects, and never runs a
// query; internal/directory does, and hands the domains it read to
// Catalog.WithDirectoryDomains. A Directory is immutable once loaded.
type Directory struct {
	// Name is how providers refer to it, and its one metrics label:
	// lower-case letters, digits, '-' and '_', at most 63 bytes.
	Name string
	// Type is DirectoryPostgres, DirectoryMySQL or DirectoryLDAP.
	Type string
	// URLEnv names the environment variable holding the connection URL,
	// password and all: the URL never appears in a catalog.
	URLEnv string

	// Domains (SQL) reads one domain a row from its one column, and takes
	// no parameter. Login (SQL) reads the login name of the address,
	// which is its one parameter ($1 for postgres, ? for mysql). Either
	// may be "", not both.
	Domains, Login string

	// Refresh is how often the domains are read again; 0 reads them only
	// on SIGHUP. CacheTTL and NegativeTTL (the keys cache_ttl and
	// negative_ttl) bound how long a login lookup's answer is kept: a
	// login found and "no such user" alike, for the shorter of the two
	// (AnswerTTL). Timeout bounds each query.
	Refresh, CacheTTL, NegativeTTL, Timeout time.Duration

	// BindDN and BindPasswordEnv (LDAP) are the account to bind as, or
	// both "" for an anonymous bind; StartTLS upgrades an ldap:// URL.
	BindDN, BindPasswordEnv string
	StartTLS                bool
	// Base, LoginFilter and LoginAttribute (LDAP) find the login: the
	// entry under Base that LoginFilter matches, its %s replaced by the
	// address escaped per RFC 4515 §3, and the value of LoginAttribute.
	// All three or none.
	Base, LoginFilter, LoginAttribute string
	// DomainsBase, DomainsFilter and DomainsAttribute (LDAP) list the
	// domains: every value of DomainsAttribute of the entries under
	// DomainsBase that DomainsFilter matches. All three or none.
	DomainsBase, DomainsFilter, DomainsAttribute string

	// Source is "file:line" of the directory's entry, for messages.
	Source string
}

// Directory types.
const (
	DirectoryPostgres = "postgres"
	DirectoryMySQL    = "mysql"
	DirectoryLDAP     = "ldap"
)

// Directory defaults (docs/guide/directories.md).
const (
	DefaultDirectoryRefresh     = time.Minute
	DefaultDirectoryCacheTTL    = time.Minute
	DefaultDirectoryNegativeTTL = time.Minute
	DefaultDirectoryTimeout     = 500 * time.Millisecond
)

// HasDomains reports whether the directory lists domains: a domains
// query, or an LDAP domains_base.
func (d *Directory) HasDomains() bool { return d.Domains != "" || d.DomainsBase != "" }

// HasLogin reports whether the directory looks login names up: a login
// query, or an LDAP login_filter.
func (d *Directory) HasLogin() bool { return d.Login != "" || d.LoginFilter != "" }

// Directories returns the catalog's directories in catalog order.
func (c *Catalog) Directories() []*Directory { return c.directories }

// Directory returns the directory of that name, or nil.
func (c *Catalog) Directory(name string) *Directory {
	for _, d := range c.directories {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// DomainsProvider returns the provider whose domains directory name
// lists (its `directory` key), or nil: a directory gives its domains to
// one provider at most.
func (c *Catalog) DomainsProvider(name string) *Provider {
	for _, p := range c.providers {
		if p.Directory == name {
			return p
		}
	}
	return nil
}

// maxDomainWarnings bounds the warnings one WithDirectoryDomains returns,
// as yamlcheck.MaxErrors bounds a LoadError: a list of a million bad rows makes a
// hundred lines and a count, not a million lines.
const maxDomainWarnings = 100

// WithDirectoryDomains returns a catalog serving c's file domains and the
// domains each directory of lists (its name to the values it read, as
// read: U-labels or A-labels, any letter case, maybe not host names),
// each for the provider whose `directory` it is. c is not changed: the
// new catalog shares c's providers, directories and pre-rendered
// templates, and has an index of its own, built once. A directory that
// gives its domains to no provider adds none.
//
// A value that is not a host name is skipped with a warning naming it
// (quoted, cut at 80 characters); a value listed twice by one directory
// counts once. A domain served twice, by the files and a directory or by
// two directories, is an error when strict (the first read at start, as
// for two providers of the files; the error is a *LoadError), and
// otherwise stays with its first owner, the files first, then the
// directories in catalog order, with a warning naming both (a domain both
// the provider's `domains` and its directory list is served once, without
// a word). A refresh, which knows who serves a domain now, is
// MergeDirectoryDomains with MergeOptions.Served. A row that is another
// provider's service name is skipped with a warning, strict or not
// (MergeDirectoryDomains). An unknown directory name is an error, strict
// or not: the caller's mistake, not the directory's.
//
// WithDirectoryDomains is c's file domains plus lists whatever c is: a
// catalog it made forgets the directory domains it was made with.
func (c *Catalog) WithDirectoryDomains(lists map[string][]string, strict bool) (*Catalog, []string, error) {
	var o MergeOptions
	if strict {
		o.FirstRead = make(map[string]bool, len(lists))
		for name := range lists {
			o.FirstRead[name] = true
		}
	}
	return c.MergeDirectoryDomains(lists, o)
}

// MergeOptions says how MergeDirectoryDomains settles a domain that two
// owners claim.
type MergeOptions struct {
	// Served is the catalog served now (made by a merge from an earlier
	// file catalog, or this one), or nil at start. A domain it serves
	// for a directory that still lists it stays with that directory,
	// whatever the catalog order: the newcomer's claim is skipped with a
	// warning. A domain the files list that Served serves for a
	// directory still listing it is an error: the files gained it at a
	// reload, and the reload is refused rather than take the domain from
	// the customers the directory serves it to.
	Served *Catalog
	// FirstRead names the directories whose lists are merged for the
	// first time at start (from the copy on disk or the first read): a
	// domain one of them shares with another owner is an error, as for
	// two providers of the files, and so is its provider's
	// redirect_address going wrong.
	FirstRead map[string]bool
}

// servicePrefixes are the labels the service puts in front of a domain
// <d> for the names it answers at for <d>'s provider: the handlers take
// <d> from a Host header that is one of them (docs/autoconfig.md,
// docs/autodiscover.md, docs/pacc.md), and TLSNames asks for a
// certificate for each.
var servicePrefixes = [...]string{"autoconfig.", "autodiscover.", "ua-auto-config."}

// serviceBase returns <d> when dom is a service name of <d>
// (servicePrefixes).
func serviceBase(dom string) (string, bool) {
	for _, p := range servicePrefixes {
		if len(dom) > len(p) && dom[:len(p)] == p {
			return dom[len(p):], true
		}
	}
	return "", false
}

// MergeDirectoryDomains is WithDirectoryDomains with the owners of a
// domain claimed twice settled by o: the owner that serves it now
// (o.Served) keeps it, the files first, then the directories in catalog
// order when none does, and a claim by a directory of o.FirstRead is an
// error.
//
// A directory row that is another provider's service name is skipped
// with a warning, whatever the order the rows came in: autoconfig.<d>,
// autodiscover.<d> or ua-auto-config.<d> (servicePrefixes) when another
// provider serves <d>, a name another provider lists in tls_names, and
// <d> itself when the files give one of its service names to another
// provider. The host-based routes answer for <d>'s provider at these
// names, so a directory (a customer's control panel, say) must not put
// its answers there; the names of a domain follow the domain, and when a
// provider later gains <d>, a directory's autoconfig.<d> leaves. A file
// domain never leaves for a directory row.
func (c *Catalog) MergeDirectoryDomains(lists map[string][]string, o MergeOptions) (*Catalog, []string, error) {
	total := len(c.file)
	for name, list := range lists {
		if c.Directory(name) == nil {
			return nil, nil, fmt.Errorf("no directory %q in the catalog", name)
		}
		total += len(list)
	}
	m := make(map[string]*Provider, total)
	for d, p := range c.file {
		m[d] = p
	}
	w := &domainWarnings{}
	problems := &LoadError{}
	problem := func(fe *FieldError) {
		if len(problems.Errs) < yamlcheck.MaxErrors {
			problems.Errs = append(problems.Errs, fe)
		} else {
			problems.More++
		}
	}
	names := c.serviceNames()
	var rows []string     // directory rows that may be another provider's service name
	var added []*Provider // providers given domains, in catalog order
	for _, dir := range c.directories {
		list, ok := lists[dir.Name]
		p := c.DomainsProvider(dir.Name)
		if !ok || p == nil {
			continue
		}
		added = append(added, p)
		from := "directory " + dir.Name
		for _, raw := range list {
			dom, err := NormalizeDomain(raw)
			if err != nil {
				w.add("%s: %s is not a domain name, skipped", from, yamlcheck.Quote(raw))
				continue
			}
			other, taken := m[dom]
			switch {
			case !taken:
				m[dom] = p
				if names.suspect(dom) {
					rows = append(rows, dom)
				}
				continue
			case other == p:
				// Listed twice by this directory (in two letter
				// cases, say), or by it and by p's own domains:
				// served once, by the provider either names.
				continue
			}
			fromFile := c.file[dom] == other
			now := o.Served.directoryOf(dom)
			if fromFile && now == dir.Name {
				problem(&FieldError{File: from, Msg: fmt.Sprintf("%s, which this directory serves now, is also listed by provider %s (%s): the files cannot take it from the directory's customers", dom, other.ID, other.Source)})
				continue
			}
			// The claim that loses: this row's, unless this directory
			// serves dom now and the other owner, earlier in catalog
			// order, is a directory that gains it.
			loser, winner, winnerFrom := dir.Name, other, owner(c, other, dom)
			if !fromFile && now == dir.Name {
				m[dom] = p
				loser, winner, winnerFrom = other.Directory, p, from
			}
			if o.FirstRead[dir.Name] || !fromFile && o.FirstRead[other.Directory] {
				problem(&FieldError{File: "directory " + loser, Msg: fmt.Sprintf("%s is already served by provider %s (%s)", dom, winner.ID, winnerFrom)})
			} else {
				w.add("directory %s: %s is already served by provider %s (%s): it stays there", loser, dom, winner.ID, winnerFrom)
			}
		}
	}
	for _, dom := range rows {
		p := m[dom]
		if msg := names.taken(c, m, dom, p); msg != "" {
			delete(m, dom)
			w.add("directory %s: %s, skipped", p.Directory, msg)
		}
	}
	// A provider-wide redirect_address applies to its directory domains
	// too: Parse checked it for the listed ones only.
	for _, p := range added {
		msg := redirectProblem(p, m)
		switch {
		case msg == "":
		case o.FirstRead[p.Directory]:
			problem(&FieldError{File: "directory " + p.Directory, Msg: msg})
		default:
			w.add("directory %s: %s", p.Directory, msg)
		}
	}
	if len(problems.Errs) > 0 {
		return nil, w.lines(), problems
	}
	nc := *c
	nc.byDomain = m
	return &nc, w.lines(), nil
}

// directoryOf returns the name of the directory that c, a merged catalog,
// serves dom for, or "": dom is a file domain, not served, or c is nil.
func (c *Catalog) directoryOf(dom string) string {
	if c == nil {
		return ""
	}
	p, ok := c.byDomain[dom]
	if !ok || c.file[dom] == p {
		return ""
	}
	return p.Directory
}

// serviceNames are the names of c's files that a directory row may not
// take from their provider: every provider's tls_names, and the file
// domains that are a service name of some <d> (by <d>).
type serviceNames struct {
	tls   map[string]*Provider // tls_names, to their (first) provider
	bases map[string]string    // <d> to the file domain autoconfig.<d> (...)
}

func (c *Catalog) serviceNames() serviceNames {
	var n serviceNames
	for _, p := range c.providers {
		for _, h := range p.TLSNames {
			if _, ok := n.tls[h]; !ok {
				if n.tls == nil {
					n.tls = map[string]*Provider{}
				}
				n.tls[h] = p
			}
		}
	}
	for dom := range c.file {
		if base, ok := serviceBase(dom); ok {
			if n.bases == nil {
				n.bases = map[string]string{}
			}
			// Of two, the least: the same warning at every merge.
			if prev, ok := n.bases[base]; !ok || dom < prev {
				n.bases[base] = dom
			}
		}
	}
	return n
}

// suspect reports whether a directory row may be a service name of
// another provider: it has a service prefix, is a tls_name, or has a
// service name in the files. Cheap, for every row.
func (n serviceNames) suspect(dom string) bool {
	if _, ok := serviceBase(dom); ok {
		return true
	}
	if _, ok := n.tls[dom]; ok {
		return true
	}
	_, ok := n.bases[dom]
	return ok
}

// taken says why the directory row dom, given to p in m, is a service
// name of another provider, or "" when it is not.
func (n serviceNames) taken(c *Catalog, m map[string]*Provider, dom string, p *Provider) string {
	if base, ok := serviceBase(dom); ok {
		if q, ok := m[base]; ok && q != p {
			return fmt.Sprintf("%s is a service name of %s, which provider %s serves (%s)", dom, base, q.ID, owner(c, q, base))
		}
	}
	if q, ok := n.tls[dom]; ok && q != p {
		return fmt.Sprintf("%s is in the tls_names of provider %s (%s)", dom, q.ID, q.Source)
	}
	if name, ok := n.bases[dom]; ok {
		if q := c.file[name]; q != p {
			return fmt.Sprintf("%s: its service name %s is served by provider %s (%s)", dom, name, q.ID, q.Source)
		}
	}
	return ""
}

// redirectProblem is what is wrong with p's redirect_address now that p
// serves the domains of m, or "": as checkRedirects says for the files, a
// domain of p's directory may not redirect to itself, nor to a domain
// that redirects again (clients follow few hops).
func redirectProblem(p *Provider, m map[string]*Provider) string {
	if p.Redirect.Address == "" {
		return ""
	}
	target := p.Redirect.Address[strings.LastIndexByte(p.Redirect.Address, '@')+1:]
	tp, ok := m[target]
	switch {
	case !ok:
	case tp == p && p.RedirectFor(target) == p.Redirect:
		return fmt.Sprintf("%s redirects to itself (provider %s's redirect_address)", target, p.ID)
	case !tp.RedirectFor(target).IsZero():
		return fmt.Sprintf("provider %s's domains redirect to %s, which redirects again (clients follow few hops)", p.ID, target)
	}
	return ""
}

// owner says where a provider's claim to dom comes from: its catalog
// entry, or its directory.
func owner(c *Catalog, p *Provider, dom string) string {
	if c.file[dom] == p {
		return p.Source
	}
	return "directory " + p.Directory
}

// domainWarnings collects WithDirectoryDomains's warnings, the first
// maxDomainWarnings of them and a count of the rest.
type domainWarnings struct {
	list []string
	more int
}

func (w *domainWarnings) add(format string, args ...any) {
	if len(w.list) >= maxDomainWarnings {
		w.more++
		return
	}
	w.list = append(w.list, fmt.Sprintf(format, args...))
}

func (w *domainWarnings) lines() []string {
	if w.more > 0 {
		noun := "warnings"
		if w.more == 1 {
			noun = "warning"
		}
		return append(w.list, fmt.Sprintf("and %d more %s, not listed", w.more, noun))
	}
	return w.list
}

// usesLogin reports whether any server of p, advertised or not, has
// %LOGIN% in its username: NeedsLogin for the loader's checks.
func usesLogin(p *Provider) bool {
	for _, servers := range [2][]Server{p.Incoming, p.Outgoing} {
		for _, s := range servers {
			if strings.Contains(s.Username, PlaceholderLogin) {
				return true
			}
		}
	}
	return false
}
