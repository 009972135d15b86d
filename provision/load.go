package provision

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a catalog file, located by file, line and
// field path: "catalog.yaml:14: providers[0].incoming[1].port: 99999 is not
// a port (1-65535)".
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// LoadError lists the problems found in a catalog, in file order: the
// first maxErrors of them, and how many more there were.
type LoadError struct {
	Errs []*FieldError
	// More counts the problems found after the first maxErrors, which
	// are neither listed nor kept: a file of a million bad entries costs
	// the memory of a hundred messages, not of a million.
	More int
}

// maxErrors bounds the problems a LoadError lists.
const maxErrors = 100

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Errs), len(e.Errs)+1)
	for i, fe := range e.Errs {
		lines[i] = fe.Error()
	}
	if e.More > 0 {
		lines = append(lines, e.MoreLine())
	}
	return strings.Join(lines, "\n")
}

// MoreLine says how many problems were found but not listed ("and 2400
// more errors, not listed"), or is empty when every one is listed.
func (e *LoadError) MoreLine() string {
	if e.More == 0 {
		return ""
	}
	noun := "errors"
	if e.More == 1 {
		noun = "error"
	}
	return fmt.Sprintf("and %d more %s, not listed", e.More, noun)
}

// maxCatalogFile bounds one catalog file. The largest real catalog is far
// smaller: a million domains is 33 MB (README, "A million domains"), and
// would then need some 550 MB to serve. A larger file is refused before
// it is read into memory.
const maxCatalogFile = 64 << 20

// Load reads a catalog from a YAML file, or from every *.yaml and *.yml file
// of a directory (not its subdirectories), merged in name order. The whole
// catalog is validated; on any problem Load returns a *LoadError and no
// catalog. Only regular files are read (see ReadFile).
func Load(path string) (*Catalog, error) {
	srcs, err := ReadCatalog(path)
	if err != nil {
		return nil, err
	}
	return Parse(srcs...)
}

// ReadCatalog reads the files Load reads, CatalogFiles(path), each through
// ReadFile with the catalog file limit, without parsing them: what Load
// would parse, for a caller that compares it with what it read before.
// Parse(srcs...) is then what Load returns.
func ReadCatalog(path string) ([]Source, error) {
	files, err := CatalogFiles(path)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, &LoadError{Errs: []*FieldError{{File: path, Msg: "no *.yaml files in directory"}}}
	}
	srcs := make([]Source, 0, len(files))
	for _, f := range files {
		data, err := readLimited(f, maxCatalogFile, "")
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	return srcs, nil
}

// CatalogFiles lists the files Load reads for the catalog at path: path
// itself when it is not a directory (whatever it is: ReadFile refuses what
// is not a regular file), else the entries of the directory that
// CatalogFileName accepts and that are not directories, in name order.
// Symbolic links are followed, and listed by their own names.
func CatalogFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	return catalogFiles(path)
}

// CatalogFileName reports whether Load reads a directory entry of this
// name when it is given the directory: *.yaml or *.yml, and not hidden.
// Kubernetes ConfigMap volumes hold "..data" and dot-directories beside
// the keys, and editors write hidden temporary files: hidden names are
// never catalog files.
func CatalogFileName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

func catalogFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !CatalogFileName(e.Name()) {
			continue
		}
		full := filepath.Join(dir, e.Name())
		if st, err := os.Stat(full); err != nil || st.IsDir() {
			continue
		}
		files = append(files, full)
	}
	sort.Strings(files)
	return files, nil
}

// ReadFile reads a whole regular file of at most max bytes, as every file
// the program is given is read: catalogs, certificates and keys, imported
// documents. Anything but a regular file is refused by name before a byte
// is read: a named pipe (opened non-blocking, so that not even the open
// waits for a writer), a device such as /dev/zero, a socket, a directory
// (syscall.EISDIR). A file larger than max is refused on its size before
// it is read; the read is bounded as well, so a file that grows meanwhile
// cannot slip past the limit. The errors are *fs.PathError.
func ReadFile(name string, max int64) ([]byte, error) {
	return readLimited(name, max, "")
}

// readLimited is ReadFile; what ends the message of a file too large.
func readLimited(name string, max int64, what string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	refuse := func(err error) ([]byte, error) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	switch m := st.Mode(); {
	case m.IsDir():
		return refuse(syscall.EISDIR)
	case !m.IsRegular():
		return refuse(fmt.Errorf("%s, not a regular file", fileKind(m)))
	case st.Size() > max:
		return refuse(fmt.Errorf("larger than %d bytes%s", max, what))
	}
	data, err := readAllSized(io.LimitReader(f, max+1), st.Size())
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return refuse(fmt.Errorf("larger than %d bytes%s", max, what))
	}
	return data, nil
}

// readAllSized is io.ReadAll into a buffer of size bytes to start with,
// and the few more that tell a file grown meanwhile: io.ReadAll's own
// buffers grow from 512 bytes and take twice the file and more before
// the parse begins.
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size+512)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// fileKind names the type of a file that is not regular.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	default:
		return "a special file"
	}
}

// Source is one catalog document and the name used in its messages.
type Source struct {
	Name string
	Data []byte
}

// Parse builds a catalog from YAML documents, validating all of them. A
// catalog with no providers is an error: a half-written file must never be
// served.
func Parse(srcs ...Source) (*Catalog, error) {
	d := &decoder{}
	var providers []*Provider
	for _, src := range srcs {
		d.file = src.Name
		providers = append(providers, d.document(src.Data)...)
	}
	if d.count == 0 && len(providers) == 0 {
		name := "catalog"
		if len(srcs) > 0 {
			name = srcs[0].Name
		}
		d.add(&FieldError{File: name, Field: "providers", Msg: "no providers: the catalog is empty"})
	}
	served := d.crossCheck(providers)
	d.checkRedirects(providers, served)
	d.checkDirectories(providers)
	if d.count > 0 {
		return nil, &LoadError{Errs: d.errs, More: d.count - len(d.errs)}
	}
	// crossCheck refused every domain served twice: served is the index.
	c := indexedCatalog(providers, served)
	c.directories = d.dirs.list
	for _, s := range srcs {
		c.Sources = append(c.Sources, s.Name)
	}
	return c, nil
}

// decoder walks yaml nodes and collects located errors. It keeps going
// after an error so that one run counts every problem, but keeps only
// the first maxErrors.
type decoder struct {
	file string
	errs []*FieldError
	// count is the number of problems found, kept or not: code that
	// asks "did this part add an error?" compares counts, never
	// len(errs), which stops growing at maxErrors.
	count int
	// dirs holds the directories read so far (load_directories.go).
	dirs directoryDecoder
}

// add records a problem, or only counts it once maxErrors are kept.
func (d *decoder) add(fe *FieldError) {
	d.count++
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, fe)
	}
}

// full reports whether further problems are only counted, so that a
// caller can skip building their messages.
func (d *decoder) full() bool { return len(d.errs) >= maxErrors }

// errorf records a problem at n. Every string argument is printed through
// clipped: one that %q quotes shows at most maxQuoted characters of the
// catalog's value, so that a 50 MB value cannot make a 50 MB message.
func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	if d.full() {
		d.count++
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clipped(s)
		}
	}
	d.add(&FieldError{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) document(data []byte) []*Provider {
	if !d.nodesBounded(data) {
		return nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		d.add(yamlError(d.file, err))
		return nil
	}
	if len(root.Content) == 0 {
		d.errorf(nil, "", "file is empty")
		return nil
	}
	doc := root.Content[0]
	if !d.aliasesBounded(doc) {
		return nil
	}
	top := d.mapping(doc, "", "providers", "directories")
	if top == nil {
		return nil
	}
	dn, hasDirs := top["directories"]
	if hasDirs {
		d.directories(dn)
	}
	pn, ok := top["providers"]
	if !ok {
		if !hasDirs { // a file of directories alone is one part of a catalog
			d.errorf(doc, "providers", "missing")
		}
		return nil
	}
	var out []*Provider
	for i, n := range d.sequence(pn, "providers") {
		if p := d.provider(n, fmt.Sprintf("providers[%d]", i)); p != nil {
			out = append(out, p)
		}
	}
	return out
}

// yamlError turns a yaml syntax error ("yaml: line 3: ...") into a located
// FieldError.
func yamlError(file string, err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, convErr := strconv.Atoi(num); convErr == nil {
				line, msg = n, tail
			}
		}
	}
	// The library's message may quote the input (an unknown anchor's
	// name): cut it like any quoted value.
	return &FieldError{File: file, Line: line, Msg: "YAML syntax: " + clip(msg, maxQuoted)}
}

// Aliases may add at most aliasGrowth times the nodes a document holds,
// and at least aliasFloor: one anchored server list shared by every
// provider is fine, an anchor of thousands of domains aliased thousands
// of times (or aliases of aliases, "billion laughs") is refused before
// the decoder walks it. The walk then costs at most aliasGrowth+1 times a
// file of the same size without aliases.
const (
	aliasGrowth = 10
	aliasFloor  = 10_000
)

// aliasesBounded checks that the nodes doc stands for, each alias counted
// as the whole node it names, stay within the budget above and within
// maxNodes in all (load_nodes.go), and that no alias names a node that
// holds it (yaml.v3 builds such a cycle for "&a [*a]"). The anchored
// nodes' sizes are counted once each, so the check is linear in the
// document however the aliases nest.
func (d *decoder) aliasesBounded(doc *yaml.Node) bool {
	var nodes func(n *yaml.Node) int
	nodes = func(n *yaml.Node) int {
		c := 1
		for _, k := range n.Content {
			c += nodes(k)
		}
		return c
	}
	written := nodes(doc)
	budget := max(aliasFloor, aliasGrowth*written)
	// The decoder's own structures grow with the nodes it walks, the
	// aliased ones too: all of them together stay within maxNodes
	// (load_nodes.go), as the nodes written do.
	overall := budget > maxNodes-written
	if overall {
		budget = max(0, maxNodes-written)
	}

	// size[n] of an anchored node is the nodes it stands for, or -1
	// while its own children are counted. Sizes stop growing past
	// budget+1, so no sum overflows.
	size := make(map[*yaml.Node]int)
	added := 0
	ok := true
	var count func(n *yaml.Node) int
	count = func(n *yaml.Node) int {
		if !ok {
			return 0
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			t := n.Alias
			s, seen := size[t]
			if !seen {
				s = count(t)
			}
			if s < 0 {
				d.errorf(n, "", "alias *%s names a node that holds it", clip(n.Value, maxQuoted))
				ok = false
				return 0
			}
			// The document's nodes are the ones written plus, for
			// every alias written, the size of its node less the
			// alias itself: counted as they come, so the error
			// names the alias that crossed the budget.
			added += s - 1
			if added > budget && overall {
				d.errorf(n, "", "aliases add more than %d nodes to the %d written, which makes more than %d in all (at most %d a file, written and aliased): alias smaller parts, or split the catalog into files of a directory", budget, written, maxNodes, maxNodes)
				ok = false
				return 0
			}
			if added > budget {
				d.errorf(n, "", "aliases add more than %d nodes to the %d written (at most %d times the nodes written, or %d): write the repeated part out, or alias smaller parts", budget, written, aliasGrowth, aliasFloor)
				ok = false
				return 0
			}
			return s
		}
		if n.Anchor != "" {
			size[n] = -1
		}
		c := 1
		for _, k := range n.Content {
			c = min(c+count(k), budget+1)
		}
		if n.Anchor != "" {
			size[n] = c
		}
		return c
	}
	count(doc)
	return ok
}

var providerKeys = []string{
	"id", "display_name", "short_name", "organization", "domains",
	"incoming", "outgoing", "caldav", "carddav", "webmail", "oauth2", "color",
	"activesync", "redirect_address", "redirect_url", "domain_redirects",
	"tls_names", "jmap", "managesieve", "logo", "help",
	"directory", "login_directory", // load_directories.go
}

func (d *decoder) provider(n *yaml.Node, path string) *Provider {
	m := d.mapping(n, path, providerKeys...)
	if m == nil {
		return nil
	}
	before := d.count
	p := &Provider{Source: fmt.Sprintf("%s:%d", d.file, n.Line)}

	if idn, ok := d.required(m, n, path, "id"); ok {
		if raw, ok := d.str(idn, path+".id"); ok {
			id, err := NormalizeHost(raw)
			if err != nil {
				d.errorf(idn, path+".id", "%q is not a host name (Thunderbird and K-9 reject other ids)", raw)
			}
			p.ID = id
		}
	}
	p.DisplayName = d.text(m, path, "display_name", 60)
	p.ShortName = d.text(m, path, "short_name", 20)
	p.Organization = d.text(m, path, "organization", 200)
	if p.DisplayName == "" {
		p.DisplayName = p.ID
	}
	if p.ShortName == "" {
		p.ShortName = p.DisplayName
		if len(p.ShortName) > 20 {
			p.ShortName = p.ID
		}
	}

	dn, ok := m["domains"]
	if !ok && !hasDirectory(m) {
		dn, ok = d.required(m, n, path, "domains")
	}
	if ok {
		items := d.sequence(dn, path+".domains")
		seen := make(map[string]bool, len(items))
		p.Domains = make([]string, 0, len(items))
		if len(items) == 0 && dn.Kind == yaml.SequenceNode && !hasDirectory(m) {
			d.errorf(dn, path+".domains", "needs at least one domain")
		}
		for i, item := range items {
			f := fmt.Sprintf("%s.domains[%d]", path, i)
			raw, ok := d.str(item, f)
			if !ok {
				continue
			}
			dom, err := NormalizeDomain(raw)
			if err != nil {
				d.errorf(item, f, "%q is not a domain name", raw)
				continue
			}
			if seen[dom] {
				d.errorf(item, f, "%s is listed twice", dom)
				continue
			}
			seen[dom] = true
			p.Domains = append(p.Domains, dom)
		}
	}

	p.Incoming = d.servers(m, n, path, "incoming", []Protocol{IMAP, POP3})
	p.Outgoing = d.servers(m, n, path, "outgoing", []Protocol{SMTP})

	p.CalDAV = d.url(m, path, "caldav")
	p.CardDAV = d.url(m, path, "carddav")
	p.Webmail = d.url(m, path, "webmail")
	p.Color = d.color(m, path, "color")
	if on, ok := m["oauth2"]; ok {
		p.OAuth2 = d.oauth2(on, path+".oauth2")
	}
	d.autodiscoverKeys(m, path, p)
	p.TLSNames = d.tlsNames(m, path)
	d.providerDirectories(m, path, p)
	d.paccKeys(m, path, p)

	if d.count > before {
		return nil
	}
	return p
}

var serverKeys = []string{"protocol", "host", "port", "security", "auth", "username", "pop3"}

// Authentication names known to Thunderbird (docs/autoconfig.md#authentication-values).
var (
	passwordAuth = []string{"password-cleartext", "password-encrypted"}
	knownAuth    = []string{
		"password-cleartext", "password-encrypted", "OAuth2", "NTLM", "GSSAPI",
		"client-IP-address", "TLS-client-cert", "smtp-after-pop", "none",
	}
)

func (d *decoder) servers(m map[string]*yaml.Node, parent *yaml.Node, path, key string, protocols []Protocol) []Server {
	sn, ok := d.required(m, parent, path, key)
	if !ok {
		return nil
	}
	path += "." + key
	items := d.sequence(sn, path)
	var out []Server
	advertised := 0
	for i, item := range items {
		s, ok := d.server(item, fmt.Sprintf("%s[%d]", path, i), protocols)
		if !ok {
			continue
		}
		if s.Security.Advertised() {
			advertised++
		}
		out = append(out, s)
	}
	if sn.Kind == yaml.SequenceNode && len(items) == 0 {
		d.errorf(sn, path, "needs at least one server")
	} else if len(out) == len(items) && advertised == 0 && len(items) > 0 {
		d.errorf(sn, path, "needs at least one server with security tls or starttls (servers with none are never advertised)")
	}
	return out
}

func (d *decoder) server(n *yaml.Node, path string, protocols []Protocol) (Server, bool) {
	m := d.mapping(n, path, serverKeys...)
	if m == nil {
		return Server{}, false
	}
	before := d.count
	s := Server{Username: PlaceholderAddress, Auth: []string{"password-cleartext"}}

	if pn, ok := d.required(m, n, path, "protocol"); ok {
		if v, ok := d.str(pn, path+".protocol"); ok {
			if !slices.Contains(protocols, Protocol(v)) {
				d.errorf(pn, path+".protocol", "%q is not one of %s", v, joinQuoted(protocols))
			}
			s.Protocol = Protocol(v)
		}
	}
	d.hostPort(m, n, path, &s)
	if sn, ok := d.required(m, n, path, "security"); ok {
		if v, ok := d.str(sn, path+".security"); ok {
			switch Security(v) {
			case TLS, STARTTLS, None:
				s.Security = Security(v)
			default:
				d.errorf(sn, path+".security", "%q is not one of \"tls\", \"starttls\", \"none\"", v)
			}
		}
	}
	if an, ok := m["auth"]; ok {
		s.Auth = nil
		for i, item := range d.sequence(an, path+".auth") {
			f := fmt.Sprintf("%s.auth[%d]", path, i)
			v, ok := d.str(item, f)
			if !ok {
				continue
			}
			if !slices.Contains(knownAuth, v) {
				d.errorf(item, f, "%q is not a known authentication (%s)", v, strings.Join(knownAuth, ", "))
				continue
			}
			if slices.Contains(s.Auth, v) {
				d.errorf(item, f, "%q is listed twice", v)
				continue
			}
			s.Auth = append(s.Auth, v)
		}
		if d.count == before && !slices.ContainsFunc(s.Auth, IsPasswordAuth) {
			// Thunderbird skips OAuth2 for hosts it has no built-in
			// client for, K-9 drops the whole file without a usable
			// method: a password method keeps every client working.
			d.errorf(an, path+".auth", "needs password-cleartext or password-encrypted (clients skip the other methods)")
		}
	}
	if un, ok := m["username"]; ok {
		if v, ok := d.str(un, path+".username"); ok {
			if err := CheckUsernameTemplate(v); err != nil {
				d.errorf(un, path+".username", "%v", err)
			}
			s.Username = v
		}
	}
	if on, ok := m["pop3"]; ok {
		if s.Protocol != POP3 {
			d.errorf(on, path+".pop3", "only a pop3 server takes POP3 options")
		} else {
			s.POP3 = d.pop3(on, path+".pop3")
		}
	}
	return s, d.count == before
}

// IsPasswordAuth reports whether a is one of the password methods
// (password-cleartext, password-encrypted), of which every server needs
// one: clients skip the other methods.
func IsPasswordAuth(a string) bool { return slices.Contains(passwordAuth, a) }

// AuthNames lists the authentication names a server's auth may hold,
// Thunderbird's (docs/autoconfig.md#authentication-values).
func AuthNames() []string { return slices.Clone(knownAuth) }

var pop3Keys = []string{"leave_on_server", "days_on_server", "download_on_check", "check_interval"}

func (d *decoder) pop3(n *yaml.Node, path string) *POP3Options {
	m := d.mapping(n, path, pop3Keys...)
	if m == nil {
		return nil
	}
	o := &POP3Options{}
	if v, ok := m["leave_on_server"]; ok {
		if b, ok := d.bool(v, path+".leave_on_server"); ok {
			o.LeaveOnServer = &b
		}
	}
	if v, ok := m["download_on_check"]; ok {
		if b, ok := d.bool(v, path+".download_on_check"); ok {
			o.DownloadOnCheck = &b
		}
	}
	o.DaysOnServer = d.intRange(m, path, "days_on_server", 1, 36500, "days")
	o.CheckInterval = d.intRange(m, path, "check_interval", 1, 10080, "minutes")
	if o.DaysOnServer != nil && o.LeaveOnServer != nil && !*o.LeaveOnServer {
		d.errorf(m["days_on_server"], path+".days_on_server", "set, but leave_on_server is false")
	}
	return o
}

var oauth2Keys = []string{"issuer", "scope", "auth_url", "token_url"}

func (d *decoder) oauth2(n *yaml.Node, path string) *OAuth2 {
	m := d.mapping(n, path, oauth2Keys...)
	if m == nil {
		return nil
	}
	o := &OAuth2{}
	if in, ok := d.required(m, n, path, "issuer"); ok {
		if v, ok := d.str(in, path+".issuer"); ok {
			h, err := NormalizeHost(v)
			if err != nil {
				d.errorf(in, path+".issuer", "%q is not a host name", v)
			}
			o.Issuer = h
		}
	}
	if _, ok := d.required(m, n, path, "scope"); ok {
		o.Scope = d.text(m, path, "scope", 1000)
	}
	if _, ok := d.required(m, n, path, "auth_url"); ok {
		o.AuthURL = d.url(m, path, "auth_url")
	}
	if _, ok := d.required(m, n, path, "token_url"); ok {
		o.TokenURL = d.url(m, path, "token_url")
	}
	return o
}

// crossCheck finds what no single provider can see: one domain or one id
// claimed twice. It returns each domain's (first) provider.
func (d *decoder) crossCheck(providers []*Provider) map[string]*Provider {
	total := 0
	for _, p := range providers {
		total += len(p.Domains)
	}
	// Sized once: a million domains would otherwise rehash the map
	// twenty times while it grows.
	domains := make(map[string]*Provider, total)
	ids := make(map[string]*Provider, len(providers))
	for _, p := range providers {
		if other, ok := ids[p.ID]; ok {
			d.providerErrorf(p, "id", "%s is also the id of the provider at %s", p.ID, other.Source)
		}
		ids[p.ID] = p
		for _, dom := range p.Domains {
			if other, ok := domains[dom]; ok {
				d.providerErrorf(p, "domains", "%s is already served by provider %s (%s)", dom, other.ID, other.Source)
				continue
			}
			domains[dom] = p
		}
	}
	return domains
}

// providerErrorf records a problem of provider p as a whole, located at
// the provider's first line. Its arguments are names the decoder has
// already normalized, never raw input.
func (d *decoder) providerErrorf(p *Provider, field, format string, args ...any) {
	if d.full() {
		d.count++
		return
	}
	i := strings.LastIndexByte(p.Source, ':')
	line, _ := strconv.Atoi(p.Source[i+1:])
	d.add(&FieldError{File: p.Source[:i], Line: line, Field: "provider " + p.ID + "." + field, Msg: fmt.Sprintf(format, args...)})
}

// CheckUsernameTemplate checks a server's username as the catalog takes
// it: printable characters without white space, and % only as part of a
// known placeholder.
func CheckUsernameTemplate(t string) error {
	if t == "" {
		return errors.New("empty (leave it out for the default %EMAILADDRESS%)")
	}
	if len(t) > 320 {
		return errors.New("longer than 320 bytes")
	}
	rest := t
	for {
		i := strings.IndexByte(rest, '%')
		if i < 0 {
			break
		}
		rest = rest[i:]
		switch {
		case strings.HasPrefix(rest, PlaceholderAddress):
			rest = rest[len(PlaceholderAddress):]
		case strings.HasPrefix(rest, PlaceholderLocal):
			rest = rest[len(PlaceholderLocal):]
		case strings.HasPrefix(rest, PlaceholderDomain):
			rest = rest[len(PlaceholderDomain):]
		case strings.HasPrefix(rest, PlaceholderLogin):
			rest = rest[len(PlaceholderLogin):]
		default:
			return fmt.Errorf("%s: %% only in %s, %s, %s or %s", quote(t), PlaceholderAddress, PlaceholderLocal, PlaceholderDomain, PlaceholderLogin)
		}
	}
	for _, r := range t {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%s: no white space or control characters (K-9 rejects them)", quote(t))
		}
	}
	return nil
}

// --- node helpers ---

// mapping checks that n is a mapping with only the known keys, each once,
// and returns its values by key.
func (d *decoder) mapping(n *yaml.Node, path string, known ...string) map[string]*yaml.Node {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, fieldName(path), "must be a mapping, not %s", kindName(n))
		return nil
	}
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		f := joinField(path, key)
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, fieldName(path), "keys must be plain strings")
			continue
		}
		if key == "<<" {
			d.errorf(k, f, "merge keys are not supported")
			continue
		}
		if !slices.Contains(known, key) {
			d.errorf(k, f, "unknown key (known: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := m[key]; dup {
			d.errorf(k, f, "given twice")
			continue
		}
		m[key] = resolveAlias(v)
	}
	return m
}

func (d *decoder) required(m map[string]*yaml.Node, parent *yaml.Node, path, key string) (*yaml.Node, bool) {
	n, ok := m[key]
	if !ok {
		d.errorf(parent, joinField(path, key), "missing")
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		d.errorf(n, joinField(path, key), "empty")
		return nil, false
	}
	return n, true
}

func (d *decoder) sequence(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, not %s", kindName(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolveAlias(c)
	}
	return out
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, path, "must be a string, not %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) int(n *yaml.Node, path string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, "%s is not a whole number", quoteNode(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		// Too large for int, or a yaml 1.1 form such as 0x10: still
		// not a port or a count.
		d.errorf(n, path, "%s is not a whole number in range", quoteNode(n))
		return 0, false
	}
	return v, true
}

func (d *decoder) bool(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, path, "%s is not true or false", quoteNode(n))
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

func (d *decoder) intRange(m map[string]*yaml.Node, path, key string, lo, hi int, unit string) *int {
	n, ok := m[key]
	if !ok {
		return nil
	}
	v, ok := d.int(n, path+"."+key)
	if !ok {
		return nil
	}
	if v < lo || v > hi {
		d.errorf(n, path+"."+key, "%d is out of range (%d-%d %s)", v, lo, hi, unit)
		return nil
	}
	return &v
}

// text reads an optional single-line string of at most max characters.
func (d *decoder) text(m map[string]*yaml.Node, path, key string, max int) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := joinField(path, key)
	v, ok := d.str(n, f)
	if !ok {
		return ""
	}
	if len([]rune(v)) > max {
		d.errorf(n, f, "longer than %d characters", max)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			d.errorf(n, f, "control character %q (one line of printable text)", r)
			break
		}
	}
	return strings.TrimSpace(v)
}

// url reads an optional absolute http(s) URL.
func (d *decoder) url(m map[string]*yaml.Node, path, key string) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := joinField(path, key)
	v, ok := d.str(n, f)
	if !ok {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.ContainsFunc(v, unicode.IsSpace) {
		d.errorf(n, f, "%q is not an absolute http(s) URL", v)
		return ""
	}
	if _, err := NormalizeHost(u.Hostname()); err != nil {
		d.errorf(n, f, "%q: %v", v, err)
	}
	return v
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return quoteNode(n)
	}
	return "something else"
}

func quoteNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		// Numbers and booleans read best bare; anything else (a string,
		// or a scalar of a custom tag with line breaks in it) is quoted,
		// so that a message stays on one line, and so is a value too
		// long to show whole.
		if n.Tag == "!!str" || n.Value == "" || len(n.Value) > maxQuoted || strings.ContainsFunc(n.Value, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) {
			return quote(n.Value)
		}
		return n.Value
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "something else"
}

// joinField appends key to path. A key that is not one printable word
// (a catalog's own unknown key may hold spaces or line breaks) is quoted,
// so that an error stays on one line and shows where the key ends; so is
// one too long to show whole, cut as quote cuts it.
func joinField(path, key string) string {
	if key == "" || len(key) > maxQuoted || strings.ContainsFunc(key, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' || r == '"' }) {
		key = quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// maxQuoted bounds, in characters, how much of a catalog's value an error
// message shows: enough to find it in the file, and a value of megabytes
// still makes a message of one short line.
const maxQuoted = 80

// quote is strconv.Quote of s, or, when s is longer than maxQuoted
// characters, of its first maxQuoted characters, marked as cut after the
// closing quote with s's full length: "abc…"… (52428800 bytes). The cut
// falls between characters, so the quoted part is never a broken rune.
func quote(s string) string {
	head, cut := clipAt(s, maxQuoted)
	if !cut {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(head), len(s))
}

// clip is s cut like quote cuts it, without quotes: for a message of the
// yaml library, which may hold input of its own.
func clip(s string, max int) string {
	head, cut := clipAt(s, max)
	if !cut {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", head, len(s))
}

// clipAt returns the first max characters of s (a byte that is not UTF-8
// counts as one), and whether anything was left out.
func clipAt(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i], true
		}
		n++
	}
	return s, false
}

// clipped is a string argument of errorf: %q prints it through quote,
// every other verb prints it unchanged.
type clipped string

func (c clipped) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, quote(string(c)))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), string(c))
}

func fieldName(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func joinQuoted[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(string(v))
	}
	return strings.Join(q, ", ")
}

// hostPort reads a server's required host and port keys into s.
func (d *decoder) hostPort(m map[string]*yaml.Node, n *yaml.Node, path string, s *Server) {
	if hn, ok := d.required(m, n, path, "host"); ok {
		if v, ok := d.str(hn, path+".host"); ok {
			h, err := NormalizeHost(v)
			if err != nil {
				d.errorf(hn, path+".host", "%q is not a host name: %v", v, err)
			}
			s.Host = h
		}
	}
	if pn, ok := d.required(m, n, path, "port"); ok {
		if v, ok := d.int(pn, path+".port"); ok {
			if v < 1 || v > 65535 {
				d.errorf(pn, path+".port", "%d is not a port (1-65535)", v)
			}
			s.Port = v
		}
	}
}
