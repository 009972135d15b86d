package provision

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"mailautoconf/internal/regularfile"
	"mailautoconf/internal/yamlcheck"
)

// FieldError is one problem in a catalog file, located by file, line and
// field path: "catalog.yaml:14: providers[0].incoming[1].port: 99999 is not
// a port (1-65535)".
type FieldError = yamlcheck.Error

// LoadError lists the problems found in a catalog, in file order: the
// first yamlcheck.MaxErrors of them, and how many more there were.
type LoadError = yamlcheck.ErrorList

// maxCatalogFile bounds one catalog file. The largest real catalog is far
// smaller: a million domains is 33 MB (README, "A million domains"), and
// would then need some 550 MB to serve. A larger file is refused before
// it is read into memory.
const maxCatalogFile = 64 << 20

// Load reads a catalog from a YAML file, or from every *.yaml and *.yml file
// of a directory (not its subdirectories), merged in name order. The whole
// catalog is validated; on any problem Load returns a *LoadError and no
// catalog. Only regular files are read (regularfile.Read).
func Load(path string) (*Catalog, error) {
	srcs, err := ReadCatalog(path)
	if err != nil {
		return nil, err
	}
	return Parse(srcs...)
}

// ReadCatalog reads the files Load reads, CatalogFiles(path), each through
// regularfile.Read with the catalog file limit, without parsing them:
// what Load would parse, for a caller that compares it with what it read
// before. Parse(srcs...) is then what Load returns.
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
		data, err := regularfile.Read(f, maxCatalogFile)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	return srcs, nil
}

// CatalogFiles lists the files Load reads for the catalog at path: path
// itself when it is not a directory (whatever it is: regularfile.Read refuses what
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
		d.File = src.Name
		providers = append(providers, d.document(src.Data)...)
	}
	if d.Count() == 0 && len(providers) == 0 {
		name := "catalog"
		if len(srcs) > 0 {
			name = srcs[0].Name
		}
		d.Add(&FieldError{File: name, Field: "providers", Msg: "no providers: the catalog is empty"})
	}
	served := d.crossCheck(providers)
	d.checkRedirects(providers, served)
	d.checkDirectories(providers)
	d.checkPACCTXT(providers) // load_dnsupdates.go
	if err := d.Err(); err != nil {
		return nil, err
	}
	// crossCheck refused every domain served twice: served is the index.
	c := indexedCatalog(providers, served)
	c.directories = d.dirs.list
	c.dnsUpdates = d.upd.list
	for _, s := range srcs {
		c.Sources = append(c.Sources, s.Name)
	}
	return c, nil
}

// decoder reads a catalog's YAML nodes: the rules of its keys, here and
// in load_*.go, on yamlcheck's reading of nodes, which collects located
// errors and keeps going after one.
type decoder struct {
	yamlcheck.Decoder
	// dirs holds the directories read so far (load_directories.go).
	dirs directoryDecoder
	upd  dnsUpdateDecoder // load_dnsupdates.go
}

func (d *decoder) document(data []byte) []*Provider {
	if !d.nodesBounded(data) {
		return nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		d.Add(yamlcheck.SyntaxError(d.File, err))
		return nil
	}
	if len(root.Content) == 0 {
		d.Errorf(nil, "", "file is empty")
		return nil
	}
	doc := root.Content[0]
	if !d.AliasesBounded(doc, maxNodes) {
		return nil
	}
	top := d.Mapping(doc, "", "providers", "directories", "dns_updates")
	if top == nil {
		return nil
	}
	if un, ok := top["dns_updates"]; ok {
		d.dnsUpdates(un) // load_dnsupdates.go
	}
	dn, hasDirs := top["directories"]
	if hasDirs {
		d.directories(dn)
	}
	pn, ok := top["providers"]
	if !ok {
		if !hasDirs && top["dns_updates"] == nil { // a file of directories or dns_updates alone is one part of a catalog
			d.Errorf(doc, "providers", "missing")
		}
		return nil
	}
	var out []*Provider
	for i, n := range d.Sequence(pn, "providers") {
		if p := d.provider(n, fmt.Sprintf("providers[%d]", i)); p != nil {
			out = append(out, p)
		}
	}
	return out
}

var providerKeys = []string{
	"id", "display_name", "short_name", "organization", "domains",
	"incoming", "outgoing", "caldav", "carddav", "webmail", "oauth2", "color",
	"activesync", "redirect_address", "redirect_url", "domain_redirects",
	"tls_names", "jmap", "managesieve", "logo", "help",
	"directory", "login_directory", // load_directories.go
	"ews", "owa", // exchange.go
	"texts",    // texts.go
	"pacc_txt", // load_dnsupdates.go
}

func (d *decoder) provider(n *yaml.Node, path string) *Provider {
	m := d.Mapping(n, path, providerKeys...)
	if m == nil {
		return nil
	}
	before := d.Count()
	p := &Provider{Source: fmt.Sprintf("%s:%d", d.File, n.Line)}

	if idn, ok := d.Required(m, n, path, "id"); ok {
		if raw, ok := d.Str(idn, path+".id"); ok {
			id, err := NormalizeHost(raw)
			if err != nil {
				d.Errorf(idn, path+".id", "%q is not a host name (Thunderbird and K-9 reject other ids)", raw)
			}
			p.ID = id
		}
	}
	p.DisplayName = d.Text(m, path, "display_name", 60)
	p.ShortName = d.Text(m, path, "short_name", 20)
	p.Organization = d.Text(m, path, "organization", 200)
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
		dn, ok = d.Required(m, n, path, "domains")
	}
	if ok {
		items := d.Sequence(dn, path+".domains")
		seen := make(map[string]bool, len(items))
		p.Domains = make([]string, 0, len(items))
		if len(items) == 0 && dn.Kind == yaml.SequenceNode && !hasDirectory(m) {
			d.Errorf(dn, path+".domains", "needs at least one domain")
		}
		for i, item := range items {
			f := fmt.Sprintf("%s.domains[%d]", path, i)
			raw, ok := d.Str(item, f)
			if !ok {
				continue
			}
			dom, err := NormalizeDomain(raw)
			if err != nil {
				d.Errorf(item, f, "%q is not a domain name", raw)
				continue
			}
			if seen[dom] {
				d.Errorf(item, f, "%s is listed twice", dom)
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
	d.exchangeKeys(m, path, p) // exchange.go
	p.Texts = d.texts(m, path)

	if d.Count() > before {
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
	sn, ok := d.Required(m, parent, path, key)
	if !ok {
		return nil
	}
	path += "." + key
	items := d.Sequence(sn, path)
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
		d.Errorf(sn, path, "needs at least one server")
	} else if len(out) == len(items) && advertised == 0 && len(items) > 0 {
		d.Errorf(sn, path, "needs at least one server with security tls or starttls (servers with none are never advertised)")
	}
	return out
}

func (d *decoder) server(n *yaml.Node, path string, protocols []Protocol) (Server, bool) {
	m := d.Mapping(n, path, serverKeys...)
	if m == nil {
		return Server{}, false
	}
	before := d.Count()
	s := Server{Username: PlaceholderAddress, Auth: []string{"password-cleartext"}}

	if pn, ok := d.Required(m, n, path, "protocol"); ok {
		if v, ok := d.Str(pn, path+".protocol"); ok {
			if !slices.Contains(protocols, Protocol(v)) {
				d.Errorf(pn, path+".protocol", "%q is not one of %s", v, yamlcheck.JoinQuoted(protocols))
			}
			s.Protocol = Protocol(v)
		}
	}
	d.hostPort(m, n, path, &s)
	if sn, ok := d.Required(m, n, path, "security"); ok {
		if v, ok := d.Str(sn, path+".security"); ok {
			switch Security(v) {
			case TLS, STARTTLS, None:
				s.Security = Security(v)
			default:
				d.Errorf(sn, path+".security", "%q is not one of \"tls\", \"starttls\", \"none\"", v)
			}
		}
	}
	if an, ok := m["auth"]; ok {
		s.Auth = nil
		for i, item := range d.Sequence(an, path+".auth") {
			f := fmt.Sprintf("%s.auth[%d]", path, i)
			v, ok := d.Str(item, f)
			if !ok {
				continue
			}
			if !slices.Contains(knownAuth, v) {
				d.Errorf(item, f, "%q is not a known authentication (%s)", v, strings.Join(knownAuth, ", "))
				continue
			}
			if slices.Contains(s.Auth, v) {
				d.Errorf(item, f, "%q is listed twice", v)
				continue
			}
			s.Auth = append(s.Auth, v)
		}
		if d.Count() == before && !slices.ContainsFunc(s.Auth, IsPasswordAuth) {
			// Thunderbird skips OAuth2 for hosts it has no built-in
			// client for, K-9 drops the whole file without a usable
			// method: a password method keeps every client working.
			d.Errorf(an, path+".auth", "needs password-cleartext or password-encrypted (clients skip the other methods)")
		}
	}
	if un, ok := m["username"]; ok {
		if v, ok := d.Str(un, path+".username"); ok {
			if err := CheckUsernameTemplate(v); err != nil {
				d.Errorf(un, path+".username", "%v", err)
			}
			s.Username = v
		}
	}
	if on, ok := m["pop3"]; ok {
		if s.Protocol != POP3 {
			d.Errorf(on, path+".pop3", "only a pop3 server takes POP3 options")
		} else {
			s.POP3 = d.pop3(on, path+".pop3")
		}
	}
	return s, d.Count() == before
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
	m := d.Mapping(n, path, pop3Keys...)
	if m == nil {
		return nil
	}
	o := &POP3Options{}
	if v, ok := m["leave_on_server"]; ok {
		if b, ok := d.Bool(v, path+".leave_on_server"); ok {
			o.LeaveOnServer = &b
		}
	}
	if v, ok := m["download_on_check"]; ok {
		if b, ok := d.Bool(v, path+".download_on_check"); ok {
			o.DownloadOnCheck = &b
		}
	}
	o.DaysOnServer = d.IntRange(m, path, "days_on_server", 1, 36500, "days")
	o.CheckInterval = d.IntRange(m, path, "check_interval", 1, 10080, "minutes")
	if o.DaysOnServer != nil && o.LeaveOnServer != nil && !*o.LeaveOnServer {
		d.Errorf(m["days_on_server"], path+".days_on_server", "set, but leave_on_server is false")
	}
	return o
}

var oauth2Keys = []string{"issuer", "scope", "auth_url", "token_url"}

func (d *decoder) oauth2(n *yaml.Node, path string) *OAuth2 {
	m := d.Mapping(n, path, oauth2Keys...)
	if m == nil {
		return nil
	}
	o := &OAuth2{}
	if in, ok := d.Required(m, n, path, "issuer"); ok {
		if v, ok := d.Str(in, path+".issuer"); ok {
			h, err := NormalizeHost(v)
			if err != nil {
				d.Errorf(in, path+".issuer", "%q is not a host name", v)
			}
			o.Issuer = h
		}
	}
	if _, ok := d.Required(m, n, path, "scope"); ok {
		o.Scope = d.Text(m, path, "scope", 1000)
	}
	if _, ok := d.Required(m, n, path, "auth_url"); ok {
		o.AuthURL = d.url(m, path, "auth_url")
	}
	if _, ok := d.Required(m, n, path, "token_url"); ok {
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
	i := strings.LastIndexByte(p.Source, ':')
	line, _ := strconv.Atoi(p.Source[i+1:])
	d.Addf(p.Source[:i], line, "provider "+p.ID+"."+field, format, args...)
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
			return fmt.Errorf("%s: %% only in %s, %s, %s or %s", yamlcheck.Quote(t), PlaceholderAddress, PlaceholderLocal, PlaceholderDomain, PlaceholderLogin)
		}
	}
	for _, r := range t {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%s: no white space or control characters (K-9 rejects them)", yamlcheck.Quote(t))
		}
	}
	return nil
}

// url reads an optional absolute http(s) URL.
func (d *decoder) url(m map[string]*yaml.Node, path, key string) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := yamlcheck.JoinField(path, key)
	v, ok := d.Str(n, f)
	if !ok {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.ContainsFunc(v, unicode.IsSpace) {
		d.Errorf(n, f, "%q is not an absolute http(s) URL", v)
		return ""
	}
	if _, err := NormalizeHost(u.Hostname()); err != nil {
		d.Errorf(n, f, "%q: %v", v, err)
	}
	return v
}

// hostPort reads a server's required host and port keys into s.
func (d *decoder) hostPort(m map[string]*yaml.Node, n *yaml.Node, path string, s *Server) {
	if hn, ok := d.Required(m, n, path, "host"); ok {
		if v, ok := d.Str(hn, path+".host"); ok {
			h, err := NormalizeHost(v)
			if err != nil {
				d.Errorf(hn, path+".host", "%q is not a host name: %v", v, err)
			}
			s.Host = h
		}
	}
	if pn, ok := d.Required(m, n, path, "port"); ok {
		if v, ok := d.Int(pn, path+".port"); ok {
			if v < 1 || v > 65535 {
				d.Errorf(pn, path+".port", "%d is not a port (1-65535)", v)
			}
			s.Port = v
		}
	}
}
