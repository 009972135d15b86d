package importxml

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"mailautoconf/provision"

	"mailautoconf/internal/testutil"
)

// What the ISPDB snapshot (thunderbird/autoconfig ispdb/ at commit c6ad7965, read from ../shared/reference/ispdb)
// imports to. A change here is a change in what import does: read the
// logged lists before updating the numbers.
const (
	ispdbFiles = 163
	// ispdbNotImported: 33 files whose incoming servers (and in 32 of
	// them the outgoing ones too) are all plain, mostly small Japanese
	// ISPs; kokuyou.ne.jp (plain, and SMTP with authentication none);
	// hotmail.com, mit.edu and office365.com, whose IMAP/POP3 servers
	// take OAuth2 only.
	ispdbNotImported = 37
	// ispdbServersLost: SSL/STARTTLS IMAP, POP3 and SMTP servers of
	// imported files that the catalog does not carry: none.
	ispdbServersLost = 0
)

// ispdbServer is one IMAP, POP3 or SMTP server as a client reads it.
type ispdbServer struct {
	path                    string // elPath of the element, for warnings
	typ, host, port, socket string
	username                string // "" when the element is absent
	outgoing                bool
}

func (s ispdbServer) key() string { return s.typ + " " + s.host + ":" + s.port + " " + s.socket }

// readISPDBFile reads a config-v1.1.xml with etree, independently of the
// importer: the valid domains (first occurrence) and the IMAP, POP3 and
// SMTP servers with SSL or STARTTLS of the first emailProvider, in order.
func readISPDBFile(t *testing.T, name string, data []byte) (domains []string, servers []ispdbServer) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ep := doc.FindElement("/clientConfig/emailProvider")
	if ep == nil {
		t.Fatalf("%s: no emailProvider", name)
	}
	for _, d := range ep.SelectElements("domain") {
		if n, err := provision.NormalizeDomain(strings.TrimSpace(d.Text())); err == nil && !slices.Contains(domains, n) {
			domains = append(domains, n)
		}
	}
	for _, el := range ep.ChildElements() {
		out := el.Tag == "outgoingServer"
		if el.Tag != "incomingServer" && !out {
			continue
		}
		typ := el.SelectAttrValue("type", "")
		if typ != "imap" && typ != "pop3" && typ != "smtp" {
			continue
		}
		s := ispdbServer{path: elPath(el), typ: typ, outgoing: out}
		if h := el.SelectElement("hostname"); h != nil {
			s.host = strings.ToLower(strings.TrimSpace(h.Text()))
		}
		if p := el.SelectElement("port"); p != nil {
			s.port = strings.TrimSpace(p.Text())
		}
		if st := el.SelectElement("socketType"); st != nil {
			s.socket = strings.TrimSpace(st.Text())
		}
		if u := el.SelectElement("username"); u != nil {
			s.username = strings.TrimSpace(u.Text())
		}
		if s.socket == "SSL" || s.socket == "STARTTLS" {
			servers = append(servers, s)
		}
	}
	return domains, servers
}

// renderedServers reads the servers of a rendered autoconfig document.
func renderedServers(t *testing.T, doc []byte) []ispdbServer {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatalf("rendered document is not well-formed: %v\n%s", err, doc)
	}
	var out []ispdbServer
	for _, el := range d.FindElements("/clientConfig/emailProvider/*[@type]") {
		out = append(out, ispdbServer{
			typ: el.SelectAttrValue("type", ""), outgoing: el.Tag == "outgoingServer",
			host: el.FindElement("hostname").Text(), port: el.FindElement("port").Text(),
			socket: el.FindElement("socketType").Text(), username: el.FindElement("username").Text(),
		})
	}
	return out
}

// TestImportISPDB imports every file of the ISPDB snapshot into one
// catalog, loads it, renders every domain, and checks that every SSL and
// STARTTLS IMAP, POP3 and SMTP server of the original comes back with the
// same host, port, socket type and username, in the original order.
// Files that cannot be expressed are logged with the reason and counted.
func TestImportISPDB(t *testing.T) {
	dir := testutil.SharedDir(t, "reference", "ispdb", "ispdb")
	names, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != ispdbFiles {
		t.Fatalf("%s holds %d files, want %d (STATS.md)", dir, len(names), ispdbFiles)
	}
	var srcs []provision.Source
	for _, n := range names {
		srcs = append(srcs, provision.Source{Name: filepath.Base(n), Data: mustRead(t, n)})
	}
	y, files, err := Files(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := provision.Parse(provision.Source{Name: "ispdb.yaml", Data: y})
	if err != nil {
		t.Fatalf("the imported ISPDB does not load: %v", err)
	}

	var notImported, lost []string
	warnings, checked, domainsChecked := 0, 0, 0
	for i, f := range files {
		warnings += len(f.Warnings)
		if f.Err != nil {
			notImported = append(notImported, f.Err.Error())
			continue
		}
		domains, servers := readISPDBFile(t, f.Name, srcs[i].Data)
		for _, dom := range domains {
			p, err := cat.Lookup(dom)
			if err != nil {
				if !hasWarning(f, "domain "+dom+": dropped") {
					t.Errorf("%s: domain %s is not served, and no warning says why", f.Name, dom)
				}
				continue
			}
			if !slices.ContainsFunc(f.Providers, func(q *provision.Provider) bool { return q.ID == p.ID }) {
				t.Errorf("%s: domain %s is served by provider %s from another file", f.Name, dom, p.ID)
			}
			domainsChecked++
			got := renderedServers(t, etreeAutoconfig(p, dom, nil))
			at := 0 // the original's order must be kept
			for _, s := range servers {
				want := s
				want.host = strings.ReplaceAll(s.host, strings.ToLower(provision.PlaceholderDomain), dom)
				if want.username == "" {
					want.username = provision.PlaceholderAddress
				}
				j := slices.IndexFunc(got, func(g ispdbServer) bool { return g.key() == want.key() })
				switch {
				case j < 0:
					why := "no warning says why"
					for _, w := range f.Warnings {
						if strings.HasPrefix(w, f.Name+": "+s.path+": dropped") {
							why = w
						}
					}
					lost = append(lost, fmt.Sprintf("%s: %s for %s: %s", f.Name, want.key(), dom, why))
					if why == "no warning says why" {
						t.Errorf("%s: server %s (%s) is lost, and no warning says why", f.Name, want.key(), s.path)
					}
				case j < at:
					t.Errorf("%s: server %s comes back out of order", f.Name, want.key())
				case got[j].username != want.username:
					t.Errorf("%s: server %s: username %q, want %q", f.Name, want.key(), got[j].username, want.username)
				default:
					at = j
					checked++
				}
			}
		}
	}
	t.Logf("%d files: %d imported as %d providers serving %d domains; %d SSL/STARTTLS servers checked over %d domains; %d warnings",
		len(files), len(files)-len(notImported), len(cat.Providers()), len(cat.Domains()), checked, domainsChecked, warnings)
	t.Logf("%d files not imported:\n%s", len(notImported), strings.Join(notImported, "\n"))
	t.Logf("%d servers of imported files not carried over:\n%s", len(lost), strings.Join(lost, "\n"))
	if len(notImported) != ispdbNotImported {
		t.Errorf("%d files not imported, want %d (see the log)", len(notImported), ispdbNotImported)
	}
	if len(lost) != ispdbServersLost {
		t.Errorf("%d servers lost, want %d (see the log)", len(lost), ispdbServersLost)
	}
}

func hasWarning(f File, substr string) bool {
	return slices.ContainsFunc(f.Warnings, func(w string) bool { return strings.Contains(w, substr) })
}

// TestImportISPDBEachAlone imports every file on its own, as an admin
// migrating one domain would: the same files fail, and every accepted one
// renders.
func TestImportISPDBEachAlone(t *testing.T) {
	dir := testutil.SharedDir(t, "reference", "ispdb", "ispdb")
	names, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	failed := 0
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		f := Document(filepath.Base(n), data)
		if f.Err != nil {
			failed++
			continue
		}
		for _, p := range f.Providers {
			renderedServers(t, etreeAutoconfig(p, p.Domains[0], nil))
		}
	}
	if failed != ispdbNotImported {
		t.Errorf("%d files fail alone, want %d", failed, ispdbNotImported)
	}
}
