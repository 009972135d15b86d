// Package directory reads hosting providers' domain lists and users' login
// names from the directories they already run: PostgreSQL, MariaDB/MySQL
// and LDAP (issue 15).
//
// A Source is one directory's two queries, straight to the server. A Set
// is the runtime over all the catalog's directories: it reads each domain
// list at start and every refresh, off the request path, keeps the last
// good list when the server is away (in memory and, with a data directory,
// on disk), and answers login lookups from a bounded cache within the
// directory's timeout. Neither merges domains into a catalog: that is
// provision's (*Catalog).WithDirectoryDomains, called by whoever receives
// the lists.
//
// Connection URLs come from the environment only. They never appear in an
// error, a log line or a metric: errors name the directory and the
// variable, and whatever a driver says is scrubbed of the URL and the
// passwords before it leaves this package.
package directory

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"mailautoconf/provision"
)

// Source is one directory's queries, made on the server each time: no
// cache, no retry beyond the driver's own. Every method is safe for
// concurrent use.
type Source interface {
	// Domains returns the directory's domain list as the server holds
	// it: one value a row (SQL) or every value of the domains attribute
	// (LDAP), unvalidated, in the server's order. NULL rows are left out.
	// Checking that each is a host name is the merge's business.
	Domains(ctx context.Context) ([]string, error)
	// Login returns the login name the directory holds for the address.
	// found is false when it holds none: no row or entry, an empty or
	// NULL value, or several rows or entries (ErrAmbiguous, which is not
	// a failure of the server).
	Login(ctx context.Context, address string) (login string, found bool, err error)
	// Close releases the connections.
	Close() error
}

// ErrAmbiguous is the error of a login query that matched several rows or
// entries, or of a login attribute that has several values. The lookup answers "no login" (the
// address stands in), as for no match: picking one of them could hand a
// client someone else's login name.
var ErrAmbiguous = errors.New("several logins match")

// errNoQuery: the directory has no query of that kind (a login-only or a
// domains-only directory).
var errNoQuery = errors.New("no query configured")

// Limits on what a directory may hand back, so that a broken or hostile
// row cannot grow memory without bound.
const (
	// MaxAddress is the longest address looked up (RFC 5321 section
	// 4.5.3.1.3 allows a path of 256 octets); a longer one gets the
	// fallback without a query.
	MaxAddress = 320
	// MaxLogin is the longest login name kept; a longer value is
	// treated as no login.
	MaxLogin = 256
)

// Open returns the Source for one directory. The connection URL is read
// from the environment variable d.URLEnv through getenv, the LDAP bind
// password from d.BindPasswordEnv. Open does not connect: the first query
// does, so that a directory that is down at start does not stop the
// service.
func Open(d *provision.Directory, getenv func(string) string) (Source, error) {
	if d.URLEnv == "" {
		return nil, fmt.Errorf("directory %q: url_env is empty", d.Name)
	}
	raw := getenv(d.URLEnv)
	if raw == "" {
		return nil, fmt.Errorf("directory %q: environment variable %s is not set", d.Name, d.URLEnv)
	}
	switch d.Type {
	case provision.DirectoryPostgres:
		return openPostgres(d, raw)
	case provision.DirectoryMySQL:
		return openMySQL(d, raw)
	case provision.DirectoryLDAP:
		pw := ""
		if d.BindDN != "" && d.BindPasswordEnv != "" {
			pw = getenv(d.BindPasswordEnv)
			if pw == "" {
				return nil, fmt.Errorf("directory %q: environment variable %s (bind_password_env) is not set", d.Name, d.BindPasswordEnv)
			}
		}
		return openLDAP(d, raw, pw)
	default:
		return nil, fmt.Errorf("directory %q: type %q is not one of postgres, mysql, ldap", d.Name, d.Type)
	}
}

// scrubber removes secrets from driver messages: the whole URL, and each
// password as given and URL-escaped.
type scrubber struct {
	name    string // the directory's, for messages
	secrets []string
}

func newScrubber(name, rawURL string, passwords ...string) *scrubber {
	s := &scrubber{name: name}
	add := func(v string) {
		if v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
	add(rawURL)
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			passwords = append(passwords, p)
		}
	}
	// A password with an unescaped delimiter is cut up by the parsers
	// ("a%2Fb@c@host": pgx dials the host "c@host" and says so), so the
	// raw text between "://" and the last "@" is taken apart too, and
	// each piece of three bytes or more is hidden.
	if _, rest, ok := strings.Cut(rawURL, "://"); ok {
		if i := strings.LastIndex(rest, "@"); i > 0 {
			_, pw, _ := strings.Cut(rest[:i], ":")
			if un, err := url.PathUnescape(pw); err == nil {
				pw += "\x00" + un
			}
			for _, part := range strings.FieldsFunc(pw, func(r rune) bool { return strings.ContainsRune("@/:?#%\x00", r) }) {
				if len(part) >= 3 {
					add(part)
				}
			}
		}
	}
	for _, p := range passwords {
		add(p)
		add(url.QueryEscape(p))
		add(url.PathEscape(p))
		add(url.UserPassword("", p).String()[1:]) // userinfo escaping
	}
	// Longest first, so that the URL goes before the password inside it.
	for i := 1; i < len(s.secrets); i++ {
		for j := i; j > 0 && len(s.secrets[j]) > len(s.secrets[j-1]); j-- {
			s.secrets[j], s.secrets[j-1] = s.secrets[j-1], s.secrets[j]
		}
	}
	return s
}

func (s *scrubber) text(msg string) string {
	for _, v := range s.secrets {
		msg = strings.ReplaceAll(msg, v, "xxxxx")
	}
	return msg
}

// err returns err with the directory's name and without secrets. The
// driver's error is not wrapped (its Error or fields could still hold the
// URL); timeouts stay recognisable with errors.Is(err,
// context.DeadlineExceeded), and ErrAmbiguous and errNoQuery stay themselves.
func (s *scrubber) err(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrAmbiguous) || errors.Is(err, errNoQuery) {
		return fmt.Errorf("directory %q: %s: %w", s.name, op, err)
	}
	msg := s.text(err.Error())
	if errors.Is(err, context.DeadlineExceeded) {
		return &driverError{msg: fmt.Sprintf("directory %q: %s: %s", s.name, op, msg), kind: context.DeadlineExceeded}
	}
	if errors.Is(err, context.Canceled) {
		return &driverError{msg: fmt.Sprintf("directory %q: %s: %s", s.name, op, msg), kind: context.Canceled}
	}
	return &driverError{msg: fmt.Sprintf("directory %q: %s: %s", s.name, op, msg)}
}

// driverError is a driver's failure, scrubbed.
type driverError struct {
	msg  string
	kind error // context.DeadlineExceeded, context.Canceled or nil
}

func (e *driverError) Error() string { return e.msg }

func (e *driverError) Is(target error) bool { return e.kind != nil && target == e.kind }

// domainsLimit bounds a domain list query: lists of a million rows take
// seconds, far beyond a login lookup's timeout, but a query must not hang
// a refresh for ever.
func domainsLimit(d *provision.Directory) time.Duration {
	return max(d.Timeout, time.Minute)
}
