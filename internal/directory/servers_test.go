package directory

// The real servers the tests run against: the machine's PostgreSQL and
// MariaDB on 127.0.0.1 (each test makes a database of its own and drops
// it), and an OpenLDAP slapd the test starts itself in a temporary folder
// on a loopback port. No mocks.

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	_ "github.com/go-sql-driver/mysql"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/dbtest"
)

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	dbtest.Unavailable(t, format, args...)
}

func randomName(prefix string) string { return dbtest.RandomName(prefix) }

// Passwords put into every URL, which no error or log line may show.
const (
	pgPassword    = dbtest.PGPassword
	myPassword    = "my-S3cret/pass@word:x"
	ldapPassword  = "ldap-S3cret-bind-pw"
	ldapSuffix    = "dc=corp,dc=example"
	ldapRootDN    = "cn=admin," + ldapSuffix
	ldapPeople    = "ou=people," + ldapSuffix
	ldapDomainsOU = "ou=domains," + ldapSuffix
)

// newPG is a database of the test's own on the local PostgreSQL
// (internal/testutil/dbtest, shared with the server's tests).
func newPG(t testing.TB) *dbtest.PG { return dbtest.NewPG(t) }

// myServer is a database and a user of its own on the local MariaDB.
type myServer struct {
	admin *sql.DB
	db    *sql.DB
	name  string
	user  string
	url   string
}

func newMy(t testing.TB) *myServer {
	t.Helper()
	admin, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/?timeout=5s")
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		unavailable(t, "no MariaDB at 127.0.0.1:3306 (root, empty password): %v", err)
	}
	name := randomName("mac_test_")
	s := &myServer{admin: admin, name: name, user: name}
	for _, q := range []string{
		"CREATE DATABASE " + name + " CHARACTER SET utf8mb4",
		"CREATE USER '" + name + "'@'%' IDENTIFIED BY '" + myPassword + "'",
		"GRANT ALL ON " + name + ".* TO '" + name + "'@'%'",
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		if s.db != nil {
			s.db.Close()
		}
		s.killAll()
		admin.Exec("DROP USER '" + name + "'@'%'")
		if _, err := admin.Exec("DROP DATABASE " + name); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
		admin.Close()
	})
	s.url = (&url.URL{Scheme: "mysql", User: url.UserPassword(name, myPassword), Host: "127.0.0.1:3306", Path: "/" + name}).String()
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/"+name+"?multiStatements=false")
	if err != nil {
		t.Fatal(err)
	}
	s.db = db
	return s
}

func (s *myServer) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (s *myServer) killAll() int {
	rows, err := s.admin.Query("SELECT id FROM information_schema.processlist WHERE user = ?", s.user)
	if err != nil {
		return 0
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		s.admin.Exec(fmt.Sprintf("KILL %d", id))
	}
	return len(ids)
}

// kill ends the service's connections (KILL), mid-run.
func (s *myServer) kill(t testing.TB) { s.killAll() }

// stop locks the service's account and kills its connections: to the
// service, the database is down.
func (s *myServer) stop(t testing.TB) {
	t.Helper()
	if _, err := s.admin.Exec("ALTER USER '" + s.user + "'@'%' ACCOUNT LOCK"); err != nil {
		t.Fatal(err)
	}
	s.killAll()
}

func (s *myServer) start(t testing.TB) {
	t.Helper()
	if _, err := s.admin.Exec("ALTER USER '" + s.user + "'@'%' ACCOUNT UNLOCK"); err != nil {
		t.Fatal(err)
	}
}

// ldapServer is a slapd of the test's own.
type ldapServer struct {
	dir  string
	conf string
	bin  string
	port int
	url  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

// slapd's configuration: the mdb backend in the test's folder, no
// durability (dbnosync: the data lives as long as the test), no size limit
// (the 10,000-domain case; paging is tested against the default too).
const slapdConf = `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
sizelimit unlimited
database mdb
maxsize 268435456
suffix "` + ldapSuffix + `"
rootdn "` + ldapRootDN + `"
rootpw ` + ldapPassword + `
directory %[1]s/db
dbnosync
index mail eq
index objectClass eq
`

func newLDAP(t testing.TB) *ldapServer {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/slapd"); err2 == nil {
			bin = "/usr/sbin/slapd"
		} else {
			unavailable(t, "no slapd (apt-get install slapd ldap-utils): LDAP tests need OpenLDAP")
		}
	}
	if _, err := os.Stat("/usr/lib/ldap/back_mdb.so"); err != nil {
		unavailable(t, "slapd without /usr/lib/ldap/back_mdb.so")
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "db"), 0o700)
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(slapdConf, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &ldapServer{dir: dir, conf: conf, bin: bin}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	c := s.admin(t)
	defer c.Close()
	for _, e := range []struct {
		dn    string
		attrs map[string][]string
	}{
		{ldapSuffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"corp"}, "o": {"Corp"}}},
		{ldapPeople, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{ldapDomainsOU, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"domains"}}},
	} {
		s.add(t, c, e.dn, e.attrs)
	}
	return s
}

// start runs slapd in the foreground (-d 0) on the server's port (a new
// one the first time) and waits until it answers.
func (s *ldapServer) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.port == 0 {
		s.port = testutil.FreePort(t)
		s.url = fmt.Sprintf("ldap://127.0.0.1:%d", s.port)
	}
	s.out = &bytes.Buffer{}
	cmd := exec.Command(s.bin, "-d", "0", "-f", s.conf, "-h", s.url+"/")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("slapd: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not listen on %d: %v\n%s", s.port, err, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends slapd (SIGTERM) and waits for it: the directory is down.
func (s *ldapServer) stop(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// pause stops slapd's process (SIGSTOP): connections stay open and every
// answer waits, as from a server stuck on a slow disk. resume lets it go
// on.
func (s *ldapServer) pause(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd.Process.Signal(syscall.SIGSTOP)
	// kill(2) returns before every thread has stopped: a thread of slapd
	// already at work may still answer. Wait until each one is in state
	// T (proc(5), /proc/PID/task/TID/stat, the field after the command).
	pid := s.cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for !allStopped(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("slapd (pid %d) not stopped 5 s after SIGSTOP", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// allStopped reports whether every thread of process pid is stopped.
func allStopped(pid int) bool {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// "TID (comm) S ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

func (s *ldapServer) resume(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd.Process.Signal(syscall.SIGCONT)
}

func (s *ldapServer) admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.url)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ldapRootDN, ldapPassword); err != nil {
		t.Fatal(err)
	}
	return c
}

func ldapAdd(dn string, attrs map[string][]string) *ldap.AddRequest {
	req := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	return req
}

func (s *ldapServer) add(t testing.TB, c *ldap.Conn, dn string, attrs map[string][]string) {
	t.Helper()
	if err := c.Add(ldapAdd(dn, attrs)); err != nil {
		t.Fatalf("add %s: %v", dn, err)
	}
}
