package provision

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// dirCatalog declares the directories of the example: a
// PostgreSQL one giving a hoster its domains and logins, an LDAP one for
// logins only, and a MariaDB one for domains only.
const dirCatalog = `directories:
  - name: hosting
    type: postgres
    url_env: HOSTING_DB_URL
    domains: SELECT domain FROM domain WHERE active
    login: SELECT login FROM mail_user WHERE email = $1
    refresh: 2m
    cache_ttl: 10m
    negative_ttl: 30s
    timeout: 250ms
  - name: corp
    type: ldap
    url_env: CORP_LDAP_URL
    bind_dn: cn=autoconfig,ou=services,dc=corp,dc=example
    bind_password_env: CORP_LDAP_PASSWORD
    start_tls: true
    base: ou=people,dc=corp,dc=example
    login_filter: (&(objectClass=inetOrgPerson)(mail=%s))
    login_attribute: uid
  - name: shop
    type: mysql
    url_env: SHOP_DB_URL
    domains: |
      SELECT name FROM domains
      WHERE note <> '?' -- not a parameter: ?
    refresh: 0
providers:
  - id: hosting.example
    directory: hosting
    incoming:
      - {protocol: imap, host: imap.hosting.example, port: 993, security: tls, username: "%LOGIN%"}
    outgoing:
      - {protocol: smtp, host: smtp.hosting.example, port: 465, security: tls, username: "%LOGIN%"}
  - id: corp.example
    domains: [corp.example]
    login_directory: corp
    incoming:
      - {protocol: imap, host: imap.corp.example, port: 993, security: tls, username: "CORP\\%LOGIN%"}
    outgoing:
      - {protocol: smtp, host: smtp.corp.example, port: 465, security: tls}
  - id: shop.example
    directory: shop
    domains: [shop.example]
    incoming:
      - {protocol: imap, host: imap.shop.example, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.shop.example, port: 465, security: tls}
`

func TestParseDirectories(t *testing.T) {
	c, err := Parse(Source{Name: "c.yaml", Data: []byte(dirCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	want := []*Directory{
		{Name: "hosting", Type: DirectoryPostgres, URLEnv: "HOSTING_DB_URL",
			Domains: "SELECT domain FROM domain WHERE active", Login: "SELECT login FROM mail_user WHERE email = $1",
			Refresh: 2 * time.Minute, CacheTTL: 10 * time.Minute, NegativeTTL: 30 * time.Second, Timeout: 250 * time.Millisecond,
			Source: "c.yaml:2"},
		{Name: "corp", Type: DirectoryLDAP, URLEnv: "CORP_LDAP_URL",
			Refresh: time.Minute, CacheTTL: time.Minute, NegativeTTL: time.Minute, Timeout: 500 * time.Millisecond,
			BindDN: "cn=autoconfig,ou=services,dc=corp,dc=example", BindPasswordEnv: "CORP_LDAP_PASSWORD", StartTLS: true,
			Base: "ou=people,dc=corp,dc=example", LoginFilter: "(&(objectClass=inetOrgPerson)(mail=%s))", LoginAttribute: "uid",
			Source: "c.yaml:11"},
		{Name: "shop", Type: DirectoryMySQL, URLEnv: "SHOP_DB_URL",
			Domains: "SELECT name FROM domains\nWHERE note <> '?' -- not a parameter: ?",
			Refresh: 0, CacheTTL: time.Minute, NegativeTTL: time.Minute, Timeout: 500 * time.Millisecond,
			Source: "c.yaml:20"},
	}
	if got := c.Directories(); !reflect.DeepEqual(got, want) {
		for i := range got {
			t.Errorf("directory %d = %+v", i, *got[i])
		}
		t.Fatal("Directories() differ")
	}
	for _, tc := range []struct {
		id, dir, login string
		needs          bool
	}{
		{"hosting.example", "hosting", "hosting", true},
		{"corp.example", "", "corp", true},
		{"shop.example", "shop", "", false},
	} {
		p := c.Providers()[slicesIndex(c.Providers(), tc.id)]
		if p.Directory != tc.dir || p.LoginDirectory != tc.login || p.NeedsLogin() != tc.needs {
			t.Errorf("%s: Directory %q, LoginDirectory %q, NeedsLogin %v; want %q, %q, %v", tc.id, p.Directory, p.LoginDirectory, p.NeedsLogin(), tc.dir, tc.login, tc.needs)
		}
	}
	if c.Directory("corp") != c.Directories()[1] || c.Directory("nope") != nil {
		t.Error("Directory(name) does not find the directories by name")
	}
	if p := c.DomainsProvider("hosting"); p == nil || p.ID != "hosting.example" || c.DomainsProvider("corp") != nil {
		t.Errorf("DomainsProvider(hosting) = %v; DomainsProvider(corp) should be nil", p)
	}
	// The file's domains are served; the directories' come later.
	if _, err := c.Lookup("shop.example"); err != nil {
		t.Error(err)
	}
	if c.DomainCount() != 2 {
		t.Errorf("DomainCount = %d, want 2 (corp.example, shop.example)", c.DomainCount())
	}
}

func slicesIndex(ps []*Provider, id string) int {
	for i, p := range ps {
		if p.ID == id {
			return i
		}
	}
	panic("no provider " + id)
}

// TestParseDirectoryErrors lists the mistakes of the directory keys with
// the message an operator sees.
func TestParseDirectoryErrors(t *testing.T) {
	edit := func(pairs ...string) string {
		s := dirCatalog
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(s, pairs[i]) {
				panic("dirCatalog lacks " + pairs[i])
			}
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		return s
	}
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown type", edit("type: postgres", "type: oracle"),
			[]string{`c.yaml:3: directories[0].type: "oracle" is not one of "postgres", "mysql", "ldap"`}},
		{"bad name", edit("name: hosting\n", "name: Hosting DB\n", "directory: hosting", "directory: Hosting DB"),
			[]string{`c.yaml:2: directories[0].name: "Hosting DB" is not a directory name (lower-case letters, digits, - and _, at most 63, starting with a letter or digit: it names metrics and files)`}},
		{"name twice", edit("name: shop", "name: corp"),
			[]string{`c.yaml:20: directories[2].name: corp is also the name of the directory at c.yaml:11`,
				`c.yaml:42: providers[2].directory: "shop": no such directory (the catalog's directories: hosting, corp)`}},
		{"url_env missing", edit("    url_env: HOSTING_DB_URL\n", ""),
			[]string{`c.yaml:2: directories[0].url_env: missing (the environment variable holding the URL: the URL itself, with its password, is never in a catalog)`}},
		{"url_env a URL", edit("url_env: HOSTING_DB_URL", "url_env: postgres://u:secret@db/x"),
			[]string{`c.yaml:4: directories[0].url_env: "postgres://u:secret@db/x" is not an environment variable name (A-Z, 0-9 and _, not starting with a digit)`}},
		{"url_env a setting", edit("url_env: HOSTING_DB_URL", "url_env: MAILAUTOCONF_DB"),
			[]string{`c.yaml:4: directories[0].url_env: "MAILAUTOCONF_DB": MAILAUTOCONF_* are the service's settings; name the variable otherwise`}},
		{"login without parameter", edit("WHERE email = $1", "WHERE email = 'x'"),
			[]string{`c.yaml:6: directories[0].login: needs exactly one parameter, $1: the address (found 0)`}},
		{"login with $2", edit("WHERE email = $1", "WHERE email = $1 AND x = $2"),
			[]string{`c.yaml:6: directories[0].login: its one parameter is $1, the address (found $2)`}},
		{"login parameter in a literal", edit("WHERE email = $1", "WHERE email = '$1'"),
			[]string{`c.yaml:6: directories[0].login: needs exactly one parameter, $1: the address (found 0)`}},
		{"login parameter in dollar quotes", edit("WHERE email = $1", "WHERE email = $q$ $1 $q$"),
			[]string{`c.yaml:6: directories[0].login: needs exactly one parameter, $1: the address (found 0)`}},
		{"unterminated literal", edit("WHERE email = $1", "WHERE email = $1 AND x = 'y"),
			[]string{`c.yaml:6: directories[0].login: unterminated ' quote`}},
		{"domains with a parameter", edit("WHERE active", "WHERE owner = $1"),
			[]string{`c.yaml:5: directories[0].domains: takes no parameter (it reads every domain); found 1`}},
		{"mysql domains with ?", edit("WHERE note <> '?' -- not a parameter: ?", "WHERE note <> ?"),
			[]string{`c.yaml:23: directories[2].domains: takes no parameter (it reads every domain); found 1`}},
		{"mysql login with two ?", edit("    refresh: 0\n", "    refresh: 0\n    login: SELECT login FROM u WHERE email = ? OR alias = ?\n"),
			[]string{`c.yaml:27: directories[2].login: needs exactly one parameter, ?: the address (found 2)`}},
		{"sql without queries", edit("    domains: |\n      SELECT name FROM domains\n      WHERE note <> '?' -- not a parameter: ?\n", ""),
			[]string{`c.yaml:20: directories[2]: needs a domains query, a login query or both`}},
		{"query with NUL", edit("domains: SELECT domain FROM domain WHERE active", `domains: "SELECT domain FROM domain WHERE active\x01"`),
			[]string{`c.yaml:5: directories[0].domains: control character '\x01'`}},
		{"ldap key on sql", edit("    timeout: 250ms\n", "    timeout: 250ms\n    base: dc=x\n"),
			[]string{`c.yaml:11: directories[0].base: only for type ldap (this directory is postgres)`}},
		{"sql key on ldap", edit("    login_attribute: uid\n", "    login_attribute: uid\n    login: SELECT 1\n"),
			[]string{`c.yaml:20: directories[1].login: only for type postgres or mysql (this directory is ldap)`}},
		{"filter without %s", edit("(mail=%s))", "(mail=x))"),
			[]string{`c.yaml:18: directories[1].login_filter: "(&(objectClass=inetOrgPerson)(mail=x))" needs one %s, where the address goes, and no other %`}},
		{"filter with two %s", edit("(mail=%s))", "(mail=%s)(uid=%s))"),
			[]string{`c.yaml:18: directories[1].login_filter: "(&(objectClass=inetOrgPerson)(mail=%s)(uid=%s))" needs one %s, where the address goes, and no other %`}},
		{"filter unbalanced", edit("login_filter: (&(objectClass=inetOrgPerson)(mail=%s))", "login_filter: (&(objectClass=inetOrgPerson)(mail=%s)"),
			[]string{`c.yaml:18: directories[1].login_filter: "(&(objectClass=inetOrgPerson)(mail=%s)" is not a filter in parentheses (RFC 4515), such as (mail=%s)`}},
		{"filter two filters", edit("login_filter: (&(objectClass=inetOrgPerson)(mail=%s))", "login_filter: (uid=x)(mail=%s)"),
			[]string{`c.yaml:18: directories[1].login_filter: "(uid=x)(mail=%s)" is not a filter in parentheses (RFC 4515), such as (mail=%s)`}},
		{"bad attribute", edit("login_attribute: uid", "login_attribute: uid;x"),
			[]string{`c.yaml:19: directories[1].login_attribute: "uid;x" is not an attribute name, such as uid or associatedDomain`}},
		{"login keys apart", edit("    login_attribute: uid\n", ""),
			[]string{`c.yaml:11: directories[1]: base and login_filter given without login_attribute (base, login_filter, login_attribute go together)`,
				`c.yaml:11: directories[1]: needs base, login_filter and login_attribute (logins), domains_base, domains_filter and domains_attribute (domains), or both`}},
		{"bind_dn alone", edit("    bind_password_env: CORP_LDAP_PASSWORD\n", ""),
			[]string{`c.yaml:11: directories[1]: bind_dn and bind_password_env go together (neither: an anonymous bind)`}},
		{"bad dn", edit("base: ou=people,dc=corp,dc=example", "base: people"),
			[]string{`c.yaml:17: directories[1].base: "people" is not a distinguished name, such as ou=people,dc=example,dc=com`}},
		{"start_tls not a bool", edit("start_tls: true", "start_tls: yes please"),
			[]string{`c.yaml:16: directories[1].start_tls: "yes please" is not true or false`}},
		{"duration without unit", edit("refresh: 2m", "refresh: 60"),
			[]string{`c.yaml:7: directories[0].refresh: 60 is not a duration such as 500ms, 1m or 1h (the unit is required)`}},
		{"duration out of range", edit("timeout: 250ms", "timeout: 1m"),
			[]string{`c.yaml:10: directories[0].timeout: 1m0s is out of range (1ms to 10s)`}},
		{"refresh too often", edit("refresh: 2m", "refresh: 10ms"),
			[]string{`c.yaml:7: directories[0].refresh: 10ms is out of range (1s to 24h0m0s, or 0)`}},
		{"unknown directory", edit("directory: hosting", "directory: hostnig"),
			[]string{`c.yaml:29: providers[0].directory: "hostnig": no such directory (the catalog's directories: hosting, corp, shop)`}},
		{"directory without domains", edit("login_directory: corp", "directory: corp"),
			[]string{`c.yaml:36: providers[1].directory: directory corp lists no domains (domains, or domains_base for ldap): name it in login_directory for logins only`}},
		{"login_directory without logins", edit("login_directory: corp", "login_directory: shop"),
			[]string{`c.yaml:36: providers[1].login_directory: directory shop has no login query (login, or login_filter for ldap)`}},
		{"one directory two providers", edit("directory: shop", "directory: hosting"),
			[]string{`c.yaml:42: providers[2].directory: directory hosting already gives its domains to provider hosting.example (c.yaml:28)`}},
		{"%LOGIN% without a directory", edit(`username: "CORP\\%LOGIN%"}`, `username: "CORP\\%LOGIN%"}`, "    login_directory: corp\n", ""),
			[]string{`c.yaml:34: provider corp.example.username: %LOGIN% needs a directory to look logins up in: login_directory, or a directory with a login query`}},
		{"login_directory unused", edit(`username: "CORP\\%LOGIN%"}`, `username: "CORP\\%EMAILLOCALPART%"}`),
			[]string{`c.yaml:34: provider corp.example.login_directory: set, but no server's username uses %LOGIN%`}},
		{"no domains without directory", edit("    domains: [corp.example]\n", ""),
			[]string{`c.yaml:34: providers[1].domains: missing`}},
		{"empty domains without directory", edit("domains: [corp.example]", "domains: []"),
			[]string{`c.yaml:35: providers[1].domains: needs at least one domain`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "c.yaml", Data: []byte(tt.yaml)})
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse = %v, want a *LoadError", err)
			}
			if got := le.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestLoadDirectoriesAcrossFiles: directories may be declared in a file
// of their own, before or after the providers that name them.
func TestLoadDirectoriesAcrossFiles(t *testing.T) {
	i := strings.Index(dirCatalog, "providers:")
	dir := t.TempDir()
	for name, data := range map[string]string{"a-providers.yaml": dirCatalog[i:], "z-directories.yaml": dirCatalog[:i]} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Directories()) != 3 || c.Directories()[0].Source != filepath.Join(dir, "z-directories.yaml")+":2" {
		t.Errorf("Directories() = %v", c.Directories())
	}
}
