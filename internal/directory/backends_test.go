package directory

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailautoconf/provision"
)

// backend is one kind of directory, set up on its real server, with the
// operations the shared tests need.
type backend struct {
	dir     *provision.Directory
	env     map[string]string
	secrets []string // what no error or log line may hold
	// addDomains stores domains as given (any bytes the server takes).
	addDomains func(t testing.TB, domains ...string)
	// addUser stores a user; login "" stores one without a login.
	addUser func(t testing.TB, email, login string)
	// slow makes the lookup of email take about a second (SQL: the
	// query sleeps; LDAP: slapd is stopped with SIGSTOP) until the
	// returned function is called.
	slow func(t testing.TB, email string) (resume func())
	// kill ends the service's connections; stop makes the server
	// unreachable to it, start undoes stop.
	kill, stop, start func(t testing.TB)
	// dbExec runs a statement on the test's database (SQL only).
	dbExec func(q string, args ...any) (any, error)
}

func (b *backend) getenv(k string) string { return b.env[k] }

type backendKind struct {
	name string
	new  func(t testing.TB) *backend
}

var backends = []backendKind{{"postgres", newPGBackend}, {"mysql", newMyBackend}, {"ldap", newLDAPBackend}}

// eachBackend runs f once per kind of directory.
func eachBackend(t *testing.T, f func(t *testing.T, b *backend)) {
	for _, k := range backends {
		t.Run(k.name, func(t *testing.T) { f(t, k.new(t)) })
	}
}

func baseDirectory(name, typ string) *provision.Directory {
	return &provision.Directory{
		Name: name, Type: typ, URLEnv: strings.ToUpper(name) + "_URL",
		Refresh: time.Minute, CacheTTL: 5 * time.Minute, NegativeTTL: time.Minute, Timeout: 500 * time.Millisecond,
	}
}

func newPGBackend(t testing.TB) *backend {
	pg := newPG(t)
	pg.Exec(t, `CREATE TABLE domain (domain text NOT NULL, active boolean NOT NULL DEFAULT true)`)
	pg.Exec(t, `CREATE TABLE mail_user (email text NOT NULL, login text, delay float8 NOT NULL DEFAULT 0)`)
	pg.Exec(t, `CREATE INDEX ON mail_user (email)`)
	d := baseDirectory("hosting", provision.DirectoryPostgres)
	d.Domains = `SELECT domain FROM domain WHERE active`
	// The sleep is in a fenced subquery (OFFSET 0) so that only the
	// matching row pays it.
	d.Login = `SELECT login FROM (SELECT login, pg_sleep(delay) FROM mail_user WHERE email = $1 OFFSET 0) s`
	return &backend{
		dir: d, env: map[string]string{d.URLEnv: pg.URL}, secrets: []string{pgPassword, pg.URL},
		addDomains: func(t testing.TB, domains ...string) {
			pg.Exec(t, `INSERT INTO domain (domain) SELECT unnest($1::text[])`, domains)
		},
		addUser: func(t testing.TB, email, login string) {
			var l any = login
			if login == "" {
				l = nil
			}
			pg.Exec(t, `INSERT INTO mail_user (email, login) VALUES ($1, $2)`, email, l)
		},
		slow: func(t testing.TB, email string) func() {
			pg.Exec(t, `UPDATE mail_user SET delay = 1 WHERE email = $1`, email)
			return func() {}
		},
		kill: pg.Kill, stop: pg.Stop, start: pg.Start,
		dbExec: func(q string, args ...any) (any, error) { return pg.DB.Exec(q, args...) },
	}
}

func newMyBackend(t testing.TB) *backend {
	my := newMy(t)
	my.exec(t, `CREATE TABLE domain (domain VARCHAR(255) NOT NULL, active BOOL NOT NULL DEFAULT 1)`)
	my.exec(t, `CREATE TABLE mail_user (email VARCHAR(320) NOT NULL, login VARCHAR(255), delay DOUBLE NOT NULL DEFAULT 0, INDEX (email))`)
	d := baseDirectory("hosting", provision.DirectoryMySQL)
	d.Domains = `SELECT domain FROM domain WHERE active`
	d.Login = `SELECT login FROM mail_user WHERE email = ? AND SLEEP(delay) = 0`
	return &backend{
		dir: d, env: map[string]string{d.URLEnv: my.url}, secrets: []string{myPassword, my.url},
		addDomains: func(t testing.TB, domains ...string) {
			// One statement, so that the rows arrive at once.
			q := "INSERT INTO domain (domain) VALUES " + strings.TrimSuffix(strings.Repeat("(?),", len(domains)), ",")
			args := make([]any, len(domains))
			for i, v := range domains {
				args[i] = v
			}
			my.exec(t, q, args...)
		},
		addUser: func(t testing.TB, email, login string) {
			var l any = login
			if login == "" {
				l = nil
			}
			my.exec(t, `INSERT INTO mail_user (email, login) VALUES (?, ?)`, email, l)
		},
		slow: func(t testing.TB, email string) func() {
			my.exec(t, `UPDATE mail_user SET delay = 1 WHERE email = ?`, email)
			return func() {}
		},
		kill: my.kill, stop: my.stop, start: my.start,
	}
}

func newLDAPBackend(t testing.TB) *backend {
	ls := newLDAP(t)
	d := baseDirectory("corp", provision.DirectoryLDAP)
	d.BindDN, d.BindPasswordEnv = ldapRootDN, "CORP_LDAP_PASSWORD"
	d.Base = ldapPeople
	d.LoginFilter = "(&(objectClass=inetOrgPerson)(mail=%s))"
	d.LoginAttribute = "uid"
	// associatedDomain (RFC 4524 section 2.1) is an IA5String and cannot
	// hold a U-label; description, a Directory String, can, so that the
	// IDN case exists for LDAP too.
	d.DomainsBase, d.DomainsFilter, d.DomainsAttribute = ldapDomainsOU, "(objectClass=domain)", "description"
	var n atomic.Int64
	return &backend{
		dir:     d,
		env:     map[string]string{d.URLEnv: ls.url, "CORP_LDAP_PASSWORD": ldapPassword},
		secrets: []string{ldapPassword},
		addDomains: func(t testing.TB, domains ...string) {
			// Eight writers, each on a connection of its own.
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for w := range 8 {
				wg.Go(func() {
					c := ls.admin(t)
					defer c.Close()
					for i := w; i < len(domains); i += 8 {
						dc := fmt.Sprintf("d%d", n.Add(1))
						req := ldapAdd("dc="+dc+","+ldapDomainsOU, map[string][]string{
							"objectClass": {"domain"}, "dc": {dc}, "description": {domains[i]}})
						if err := c.Add(req); err != nil {
							errs <- fmt.Errorf("add %q: %v", domains[i], err)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		},
		addUser: func(t testing.TB, email, login string) {
			c := ls.admin(t)
			defer c.Close()
			cn := fmt.Sprintf("u%d", n.Add(1))
			attrs := map[string][]string{"objectClass": {"inetOrgPerson"}, "cn": {cn}, "sn": {cn}, "mail": {email}}
			if login != "" {
				attrs["uid"] = []string{login}
			}
			ls.add(t, c, "cn="+cn+","+ldapPeople, attrs)
		},
		slow: func(t testing.TB, email string) func() {
			ls.pause(t)
			return func() { ls.resume(t) }
		},
		kill:  func(t testing.TB) { ls.stop(t); ls.start(t) },
		stop:  ls.stop,
		start: ls.start,
	}
}
