package provision

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"mailautoconf/internal/dirquery"
	"mailautoconf/internal/yamlcheck"
)

// The decoder of the `directories:` key and of the providers' `directory`
// and `login_directory` keys (README, "Directories"). It checks what can
// be checked without connecting: names, types, which keys go with which
// type, the parameters of each query, the shape of each LDAP filter, the
// durations. Whether a query runs is `mailautoconf check`'s question.

var directoryKeys = []string{
	"name", "type", "url_env", "domains", "login",
	"refresh", "cache_ttl", "negative_ttl", "timeout",
	"bind_dn", "bind_password_env", "start_tls",
	"base", "login_filter", "login_attribute",
	"domains_base", "domains_filter", "domains_attribute",
}

// ldapOnlyKeys are the keys of type ldap; sqlOnlyKeys those of postgres
// and mysql.
var (
	ldapOnlyKeys = []string{"bind_dn", "bind_password_env", "start_tls", "base", "login_filter", "login_attribute", "domains_base", "domains_filter", "domains_attribute"}
	sqlOnlyKeys  = []string{"domains", "login"}
)

// directoryDecoder is the decoder's state for directories: the ones read
// so far, from every file, and the providers' references to them, which
// are resolved once every file is read (a provider may name a directory
// of a later file).
type directoryDecoder struct {
	list   []*Directory
	byName map[string]*Directory
	// invalid holds the names of directories with errors: references
	// to them are not checked further, so that one mistake makes one
	// message.
	invalid map[string]bool
	refs    []directoryRef
}

// directoryRef is a provider's `directory` or `login_directory`, where
// it was written.
type directoryRef struct {
	p           *Provider
	field, name string
	file        string
	line        int
}

// directories reads the top-level `directories:` list of one file.
func (d *decoder) directories(n *yaml.Node) {
	if d.dirs.byName == nil {
		d.dirs.byName, d.dirs.invalid = map[string]*Directory{}, map[string]bool{}
	}
	for i, item := range d.Sequence(n, "directories") {
		dir, ok := d.directory(item, fmt.Sprintf("directories[%d]", i))
		if dir == nil || dir.Name == "" {
			continue
		}
		if other, dup := d.dirs.byName[dir.Name]; dup {
			d.Errorf(item, fmt.Sprintf("directories[%d].name", i), "%s is also the name of the directory at %s", dir.Name, other.Source)
			continue
		}
		d.dirs.byName[dir.Name] = dir
		if !ok {
			d.dirs.invalid[dir.Name] = true
			continue
		}
		d.dirs.list = append(d.dirs.list, dir)
	}
}

// directory reads one directory; ok is false when it has errors (dir,
// when not nil, then holds what could be read, its name among it).
func (d *decoder) directory(n *yaml.Node, path string) (dir *Directory, ok bool) {
	m := d.Mapping(n, path, directoryKeys...)
	if m == nil {
		return nil, false
	}
	before := d.Count()
	dir = &Directory{Source: fmt.Sprintf("%s:%d", d.File, n.Line)}
	if nn, ok := d.Required(m, n, path, "name"); ok {
		if v, ok := d.Str(nn, path+".name"); ok {
			if !directoryName(v) {
				d.Errorf(nn, path+".name", "%q is not a directory name (lower-case letters, digits, - and _, at most 63, starting with a letter or digit: it names metrics and files)", v)
			}
			dir.Name = v
		}
	}
	if tn, ok := d.Required(m, n, path, "type"); ok {
		if v, ok := d.Str(tn, path+".type"); ok {
			switch v {
			case DirectoryPostgres, DirectoryMySQL, DirectoryLDAP:
				dir.Type = v
			default:
				d.Errorf(tn, path+".type", "%q is not one of %q, %q, %q", v, DirectoryPostgres, DirectoryMySQL, DirectoryLDAP)
			}
		}
	}
	dir.URLEnv = d.envName(m, n, path, "url_env", true)
	dir.Refresh = d.Duration(m, path, "refresh", DefaultDirectoryRefresh, time.Second, 24*time.Hour, true)
	dir.CacheTTL = d.Duration(m, path, "cache_ttl", DefaultDirectoryCacheTTL, 0, 24*time.Hour, false)
	dir.NegativeTTL = d.Duration(m, path, "negative_ttl", DefaultDirectoryNegativeTTL, 0, 24*time.Hour, false)
	dir.Timeout = d.Duration(m, path, "timeout", DefaultDirectoryTimeout, time.Millisecond, 10*time.Second, false)

	wrongType := func(keys []string, want string) {
		for _, k := range keys {
			if kn, ok := m[k]; ok {
				d.Errorf(kn, path+"."+k, "only for type %s (this directory is %s)", want, dir.Type)
			}
		}
	}
	switch dir.Type {
	case DirectoryPostgres, DirectoryMySQL:
		wrongType(ldapOnlyKeys, "ldap")
		dir.Domains = d.sqlQuery(m, path, "domains", dir.Type, false)
		dir.Login = d.sqlQuery(m, path, "login", dir.Type, true)
		if _, ok := m["domains"]; !ok {
			if _, ok := m["login"]; !ok {
				d.Errorf(n, path, "needs a domains query, a login query or both")
			}
		}
	case DirectoryLDAP:
		wrongType(sqlOnlyKeys, "postgres or mysql")
		dir.BindDN = d.ldapDN(m, path, "bind_dn")
		dir.BindPasswordEnv = d.envName(m, n, path, "bind_password_env", false)
		if (dir.BindDN == "") != (dir.BindPasswordEnv == "") && d.Count() == before {
			d.Errorf(n, path, "bind_dn and bind_password_env go together (neither: an anonymous bind)")
		}
		if sn, ok := m["start_tls"]; ok {
			dir.StartTLS, _ = d.Bool(sn, path+".start_tls")
		}
		dir.Base = d.ldapDN(m, path, "base")
		dir.LoginFilter = d.ldapFilter(m, path, "login_filter", 1)
		dir.LoginAttribute = d.ldapAttribute(m, path, "login_attribute")
		dir.DomainsBase = d.ldapDN(m, path, "domains_base")
		dir.DomainsFilter = d.ldapFilter(m, path, "domains_filter", 0)
		dir.DomainsAttribute = d.ldapAttribute(m, path, "domains_attribute")
		logins := d.Together(m, n, path, "base", "login_filter", "login_attribute")
		domains := d.Together(m, n, path, "domains_base", "domains_filter", "domains_attribute")
		if !logins && !domains {
			d.Errorf(n, path, "needs base, login_filter and login_attribute (logins), domains_base, domains_filter and domains_attribute (domains), or both")
		}
	}
	return dir, d.Count() == before
}

// directoryName reports whether s may name a directory: it becomes a
// metrics label and the name of the file its domains are kept in.
func directoryName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// envName reads the name of an environment variable: POSIX's portable
// form (upper-case letters, digits and _, not starting with a digit;
// IEEE Std 1003.1-2017, Base Definitions §8.1), and never MAILAUTOCONF_*,
// which are the service's settings (an unknown one stops it at start).
func (d *decoder) envName(m map[string]*yaml.Node, parent *yaml.Node, path, key string, required bool) string {
	n, ok := m[key]
	if !ok {
		if required {
			d.Errorf(parent, path+"."+key, "missing (the environment variable holding the URL: the URL itself, with its password, is never in a catalog)")
		}
		return ""
	}
	f := path + "." + key
	v, ok := d.Str(n, f)
	if !ok {
		return ""
	}
	valid := v != "" && len(v) <= 128 && !(v[0] >= '0' && v[0] <= '9')
	for i := 0; i < len(v) && valid; i++ {
		c := v[i]
		valid = c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
	}
	switch {
	case !valid:
		d.Errorf(n, f, "%q is not an environment variable name (A-Z, 0-9 and _, not starting with a digit)", v)
	case strings.HasPrefix(v, "MAILAUTOCONF_"):
		d.Errorf(n, f, "%q: MAILAUTOCONF_* are the service's settings; name the variable otherwise", v)
	default:
		return v
	}
	return ""
}

// maxQuery bounds a query, a filter or a DN.
const maxQuery = 4096

// queryText reads a query, filter or DN, refusing what has no place in
// one: nothing but white space, invalid UTF-8, control characters (tabs
// and line breaks only where lines says: a query may span lines).
func (d *decoder) queryText(n *yaml.Node, f string, lines bool) (string, bool) {
	v, ok := d.Str(n, f)
	if !ok {
		return "", false
	}
	switch {
	case strings.TrimSpace(v) == "":
		d.Errorf(n, f, "empty")
		return "", false
	case len(v) > maxQuery:
		d.Errorf(n, f, "longer than %d bytes", maxQuery)
		return "", false
	case !utf8.ValidString(v):
		d.Errorf(n, f, "not UTF-8")
		return "", false
	}
	for _, r := range v {
		if lines && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if !unicode.IsPrint(r) {
			d.Errorf(n, f, "control character %q", r)
			return "", false
		}
	}
	return strings.TrimSpace(v), true
}

// sqlQuery reads an optional SQL query of a directory of typ, whose
// parameters dirquery.CheckSQL checks: the login query has one, the
// address; the domains query none.
func (d *decoder) sqlQuery(m map[string]*yaml.Node, path, key, typ string, login bool) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := path + "." + key
	q, ok := d.queryText(n, f, true)
	if !ok {
		return ""
	}
	dialect := dirquery.Postgres
	if typ == DirectoryMySQL {
		dialect = dirquery.MySQL
	}
	if err := dirquery.CheckSQL(q, dialect, login); err != nil {
		d.Errorf(n, f, "%v", err)
		return ""
	}
	return q
}

// ldapFilter reads an optional LDAP search filter with placeholders %s
// (dirquery.CheckFilter).
func (d *decoder) ldapFilter(m map[string]*yaml.Node, path, key string, placeholders int) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := path + "." + key
	v, ok := d.queryText(n, f, false)
	if !ok {
		return ""
	}
	if err := dirquery.CheckFilter(v, placeholders); err != nil {
		d.Errorf(n, f, "%v", err)
		return ""
	}
	return v
}

// ldapDN reads an optional distinguished name: one printable line
// (queryText) that dirquery.CheckDN takes.
func (d *decoder) ldapDN(m map[string]*yaml.Node, path, key string) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := path + "." + key
	v, ok := d.queryText(n, f, false)
	if !ok {
		return ""
	}
	if err := dirquery.CheckDN(v); err != nil {
		d.Errorf(n, f, "%v", err)
		return ""
	}
	return v
}

// ldapAttribute reads an optional attribute description
// (dirquery.AttributeName).
func (d *decoder) ldapAttribute(m map[string]*yaml.Node, path, key string) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := path + "." + key
	v, ok := d.Str(n, f)
	if !ok {
		return ""
	}
	if !dirquery.AttributeName(v) {
		d.Errorf(n, f, "%q is not an attribute name, such as uid or associatedDomain", v)
		return ""
	}
	return v
}

// providerDirectories reads a provider's `directory` and
// `login_directory`; checkDirectories resolves them once every file is
// read.
func (d *decoder) providerDirectories(m map[string]*yaml.Node, path string, p *Provider) {
	for _, key := range []string{"directory", "login_directory"} {
		n, ok := m[key]
		if !ok {
			continue
		}
		v, ok := d.Str(n, path+"."+key)
		if !ok {
			continue
		}
		if key == "directory" {
			p.Directory = v
		} else {
			p.LoginDirectory = v
		}
		d.dirs.refs = append(d.dirs.refs, directoryRef{p: p, field: path + "." + key, name: v, file: d.File, line: n.Line})
	}
}

// hasDirectory reports whether a provider's mapping names a directory for
// its domains: then its own `domains` may be left out or empty.
func hasDirectory(m map[string]*yaml.Node) bool {
	_, ok := m["directory"]
	return ok
}

// checkDirectories resolves the providers' references to directories: each
// names one the catalog declares, `directory` one with domains given to
// no other provider, `login_directory` one with logins; and %LOGIN% is
// used where, and only where, a provider has a directory to look it up
// in. It sets each provider's LoginDirectory.
func (d *decoder) checkDirectories(providers []*Provider) {
	refError := func(r directoryRef, format string, args ...any) {
		d.Addf(r.file, r.line, r.field, format, args...)
	}
	domainsOf := map[string]*Provider{}
	explicitLogin := map[*Provider]bool{}
	unresolved := map[*Provider]bool{} // a reference already in error
	for _, r := range d.dirs.refs {
		dir := d.dirs.byName[r.name]
		switch {
		case d.dirs.invalid[r.name]:
			// Its own errors say what is wrong.
			unresolved[r.p] = true
		case dir == nil:
			unresolved[r.p] = true
			refError(r, "%s: no such directory (the catalog's directories: %s)", yamlcheck.Quote(r.name), d.directoryNames())
		case strings.HasSuffix(r.field, ".login_directory"):
			explicitLogin[r.p] = true
			if !dir.HasLogin() {
				refError(r, "directory %s has no login query (login, or login_filter for ldap)", dir.Name)
			}
		case !dir.HasDomains():
			refError(r, "directory %s lists no domains (domains, or domains_base for ldap): name it in login_directory for logins only", dir.Name)
		case domainsOf[dir.Name] != nil:
			other := domainsOf[dir.Name]
			refError(r, "directory %s already gives its domains to provider %s (%s)", dir.Name, other.ID, other.Source)
		default:
			domainsOf[dir.Name] = r.p
		}
	}
	for _, p := range providers {
		if p.LoginDirectory == "" {
			if dir := d.dirs.byName[p.Directory]; dir != nil && dir.HasLogin() {
				p.LoginDirectory = dir.Name
			}
		}
		switch uses := usesLogin(p); {
		case unresolved[p]:
		case uses && p.LoginDirectory == "":
			d.providerErrorf(p, "username", "%s needs a directory to look logins up in: login_directory, or a directory with a login query", PlaceholderLogin)
		case !uses && explicitLogin[p]:
			d.providerErrorf(p, "login_directory", "set, but no server's username uses %s", PlaceholderLogin)
		}
	}
}

// directoryNames lists the declared directories for a message.
func (d *decoder) directoryNames() string {
	if len(d.dirs.list) == 0 {
		return "none"
	}
	names := make([]string, len(d.dirs.list))
	for i, dir := range d.dirs.list {
		names[i] = dir.Name
	}
	return strings.Join(names, ", ")
}
