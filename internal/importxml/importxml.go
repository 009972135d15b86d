// Package importxml turns config-v1.1.xml documents (self-hosted autoconfig
// files, the ISPDB's format, docs/autoconfig.md) into catalog YAML: the
// `import` command. It reads and writes bytes only; the catalog's rules
// stay in provision, which checks every result (provision.Parse) and does
// not import this package.
package importxml

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"

	"mailautoconf/provision"
)

// MaxSize bounds one config-v1.1.xml document. The largest ISPDB file
// is under 20 kB; a megabyte leaves room for hand-made files with long
// domain lists and refuses anything that is not such a file.
const MaxSize = 1 << 20

// File is what became of one config-v1.1.xml document.
type File struct {
	Name string
	// Providers is the document's provider, or one provider per domain
	// when the document uses %EMAILDOMAIN% where the catalog has no
	// placeholder (host names, names, URLs). Nil when Err is set.
	Providers []*provision.Provider
	// Warnings name, one per line, what was dropped and why; each starts
	// with Name and the element's path.
	Warnings []string
	// Err is an *Error when the document cannot be expressed in the
	// catalog at all.
	Err error
}

// Error says why a document cannot become a catalog provider.
type Error struct {
	File    string
	Reasons []string
}

func (e *Error) Error() string {
	return e.File + ": not imported: " + strings.Join(e.Reasons, "; ")
}

// Files converts config-v1.1.xml documents (self-hosted autoconfig files,
// the ISPDB's format) into one catalog, in the order given. A domain that
// an earlier document already serves is dropped, with a warning, from the
// later one; a provider id used twice is renamed, with a warning. The YAML
// is nil when no document could be imported; otherwise Parse accepts it
// (Files checks), so that an imported catalog is exactly what `check`
// accepts. err is set only if that check fails, which is a bug here.
func Files(srcs ...provision.Source) (yamlDoc []byte, files []File, err error) {
	files = make([]File, len(srcs))
	for i, src := range srcs {
		files[i] = Document(src.Name, src.Data)
	}
	// An id that names its own file (zoho.com in zoho.com.xml) stays;
	// other files with that id (zoho.eu.xml) are renamed, whatever the
	// order.
	reserved := map[string]int{}
	for i, f := range files {
		for _, p := range f.Providers {
			if p.ID == fileBase(f.Name) {
				if _, dup := reserved[p.ID]; !dup {
					reserved[p.ID] = i
				}
			}
		}
	}
	domains := map[string]string{} // domain -> "provider id (file)"
	ids := map[string]bool{}
	var all []*provision.Provider
	for i := range files {
		f := files[i]
		if f.Err != nil {
			continue
		}
		var kept []*provision.Provider
		var claimedBy []string
		for _, p := range f.Providers {
			var ds []string
			for _, d := range p.Domains {
				if owner, dup := domains[d]; dup {
					f.Warnings = append(f.Warnings, fmt.Sprintf("%s: domain %s: dropped: already served by %s", f.Name, d, owner))
					if !slices.Contains(claimedBy, owner) {
						claimedBy = append(claimedBy, owner)
					}
					continue
				}
				ds = append(ds, d)
			}
			if len(ds) == 0 {
				continue
			}
			p.Domains = ds
			if owner, ok := reserved[p.ID]; ids[p.ID] || ok && owner != i {
				old := p.ID
				p.ID = freeID(ids, reserved, p.ID, f.Name)
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s: emailProvider id %s: renamed to %s: another file has that id, and a catalog needs unique ids", f.Name, old, p.ID))
			}
			ids[p.ID] = true
			for _, d := range p.Domains {
				domains[d] = fmt.Sprintf("provider %s (%s)", p.ID, f.Name)
			}
			kept = append(kept, p)
		}
		if len(kept) == 0 {
			f.Err = &Error{File: f.Name, Reasons: []string{"every domain is already served by " + strings.Join(claimedBy, ", ")}}
			f.Providers = nil
		} else {
			f.Providers = kept
			all = append(all, kept...)
		}
		files[i] = f
	}
	if len(all) == 0 {
		return nil, files, nil
	}
	out := marshalCatalog(all, func(p *provision.Provider) string { return "from " + quoteName(p.Source) })
	if _, err := provision.Parse(provision.Source{Name: "imported catalog", Data: out}); err != nil {
		return nil, files, fmt.Errorf("the imported catalog does not load (a bug in import): %w", err)
	}
	return out, files, nil
}

// freeID picks an unused id for a provider whose id is taken: the file's
// base name if that is a host name (ISPDB files are named after a domain),
// else the id with a number.
func freeID(ids map[string]bool, reserved map[string]int, id, file string) string {
	free := func(c string) bool {
		_, r := reserved[c]
		return !ids[c] && !r
	}
	if h, err := provision.NormalizeHost(fileBase(file)); err == nil && free(h) {
		return h
	}
	for n := 2; ; n++ {
		c := id + "-" + strconv.Itoa(n)
		if _, err := provision.NormalizeHost(c); err != nil {
			// The id is at its length limit: shorten it. Parse
			// reports it if that is still not a host name.
			c = id[:len(id)-len(strconv.Itoa(n))-1] + "-" + strconv.Itoa(n)
		}
		if free(c) {
			return c
		}
	}
}

// fileBase is a file's name without directory and extension, lower case:
// ISPDB files are named after a domain.
func fileBase(name string) string {
	return strings.ToLower(strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)))
}

// quoteName returns a file name fit for a one-line YAML comment.
func quoteName(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// Document converts one config-v1.1.xml document (docs/autoconfig.md#document-structure) into
// catalog providers, dropping with a warning what the catalog cannot
// express (Exchange-type servers, documentation, enable instructions,
// input fields, unknown authentication values, ...). It reads the format
// the way Thunderbird does where that matters (the first emailProvider,
// exact type and socketType values, servers in document order) and is
// lenient about white space around values. The result is checked by
// running it through Parse, so an accepted document is one the catalog
// loader accepts. It does not look at other files: Files does that.
func Document(name string, data []byte) File {
	im := &importer{name: name, seen: map[string]bool{}}
	d := im.document(data)
	f := File{Name: name}
	var ps []*provision.Provider
	if len(im.reasons) == 0 {
		ps = im.expand(d)
	}
	f.Warnings = im.warnings
	if len(im.reasons) > 0 {
		f.Err = &Error{File: name, Reasons: im.reasons}
		return f
	}
	// The providers handed out are the loader's own reading of the YAML:
	// exactly what `check` will see, defaults filled in.
	cat, err := provision.Parse(provision.Source{Name: name + " (imported)", Data: MarshalCatalog(ps)})
	if err != nil {
		f.Err = &Error{File: name, Reasons: []string{"the catalog loader refuses the result: " + strings.ReplaceAll(err.Error(), "\n", "; ")}}
		return f
	}
	f.Providers = cat.Providers()
	for _, p := range f.Providers {
		p.Source = name
	}
	return f
}

// importer collects the warnings and the fatal reasons of one document.
type importer struct {
	name     string
	warnings []string
	seen     map[string]bool
	reasons  []string
}

func (im *importer) warnf(el *etree.Element, format string, args ...any) {
	w := fmt.Sprintf("%s: %s: %s", im.name, elPath(el), fmt.Sprintf(format, args...))
	if !im.seen[w] {
		im.seen[w] = true
		im.warnings = append(im.warnings, w)
	}
}

func (im *importer) fail(format string, args ...any) {
	im.reasons = append(im.reasons, fmt.Sprintf(format, args...))
}

// elPath names an element XPath-style, "clientConfig/emailProvider/
// incomingServer[2]", with an index where siblings share the name.
func elPath(el *etree.Element) string {
	var parts []string
	for e := el; e != nil && e.Parent() != nil; e = e.Parent() {
		part := e.FullTag()
		if p := e.Parent(); p != nil {
			same := 0
			idx := 0
			for _, c := range p.ChildElements() {
				if c.FullTag() == e.FullTag() {
					same++
					if c == e {
						idx = same
					}
				}
			}
			if same > 1 {
				part += "[" + strconv.Itoa(idx) + "]"
			}
		}
		parts = append(parts, part)
	}
	slices.Reverse(parts)
	return strings.Join(parts, "/")
}

// draft is a provider as read from the document, before %EMAILDOMAIN% is
// expanded.
type draft struct {
	id                    string
	displayName           string
	displayNameEl         *etree.Element
	shortName             string
	shortNameEl           *etree.Element
	domains               []string
	incoming, outgoing    []provision.Server
	carddav, caldav       davDraft
	webmail               string
	oauth2                *provision.OAuth2
	usesDomainPlaceholder bool
	// inNotes and outNotes say why servers are not advertised.
	inNotes, outNotes []string
}

type davDraft struct {
	el         *etree.Element
	url        string
	username   string
	usernameEl *etree.Element
	auth       []string
	authEl     *etree.Element
}

// document parses the XML and reads the first emailProvider and the
// clientConfig-level sections.
func (im *importer) document(data []byte) *draft {
	root := im.parse(data)
	if root == nil {
		return nil
	}
	d := &draft{}
	var provider *etree.Element
	for _, c := range root.ChildElements() {
		switch c.FullTag() {
		case "emailProvider":
			if provider != nil {
				im.warnf(c, "dropped: clients read only the first emailProvider")
				continue
			}
			provider = c
			im.provider(c, d)
		case "addressBook", "addressbook":
			im.dav(c, "carddav", &d.carddav)
		case "calendar":
			im.dav(c, "caldav", &d.caldav)
		case "webMail":
			im.webMail(c, d)
		case "oAuth2":
			im.oauth2(c, d)
		default:
			im.dropElement(c)
		}
	}
	if provider == nil {
		im.fail("no clientConfig/emailProvider element")
		return nil
	}
	im.check(d)
	if len(im.reasons) > 0 {
		return nil
	}
	return d
}

// parse checks the document's bytes and returns its root element, or nil
// with a reason.
func (im *importer) parse(data []byte) *etree.Element {
	if len(data) > MaxSize {
		im.fail("larger than %d bytes", MaxSize)
		return nil
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		im.fail("not valid UTF-8 (autoconfig files are UTF-8)")
		return nil
	}
	ascii := !slices.ContainsFunc(data, func(b byte) bool { return b >= utf8.RuneSelf })
	doc := etree.NewDocument()
	doc.ReadSettings.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		// The bytes are valid UTF-8 (checked above): a declaration of
		// another encoding is a lie unless the text is plain ASCII.
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		}
		if ascii {
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q declared, but the bytes are UTF-8", charset)
	}
	err := doc.ReadFromBytes(data)
	// The tree read up to an error is kept: a DOCTYPE is the better
	// reason when its entities are what broke the document.
	if bad := findDirective(&doc.Element); bad != "" {
		im.fail("holds <!%s...>: DOCTYPE and entity declarations are not accepted", bad)
		return nil
	}
	if err != nil {
		im.fail("not well-formed XML: %v", err)
		return nil
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				im.fail("more than one root element")
				return nil
			}
			root = t
		case *etree.CharData:
			if !t.IsWhitespace() {
				im.fail("text outside the root element")
				return nil
			}
		}
	}
	switch {
	case root == nil:
		im.fail("no root element")
		return nil
	case root.FullTag() != "clientConfig":
		im.fail("root element is <%s>, not <clientConfig>", root.FullTag())
		return nil
	}
	return root
}

func findDirective(el *etree.Element) string {
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Directive:
			word, _, _ := strings.Cut(strings.TrimSpace(t.Data), " ")
			if len(word) > 20 {
				word = word[:20]
			}
			return strings.ToUpper(word)
		case *etree.Element:
			if s := findDirective(t); s != "" {
				return s
			}
		}
	}
	return ""
}

// dropReasons explains, per element name, why the catalog has no place for
// it.
var dropReasons = map[string]string{
	"documentation":      "the catalog has no documentation links (no client shows them during setup)",
	"enable":             "the catalog has no enable instructions (no client shows them)",
	"instruction":        "the catalog has no enable instructions (no client shows them)",
	"inputField":         "the catalog has no input fields (no client prompts for them)",
	"fileShare":          "the catalog has no file shares",
	"clientConfigUpdate": "the catalog has no update URL (no client reads it)",
	"instructionsURL":    "the catalog has no instructions URL",
	"identity":           "the catalog has no identity defaults",
	"chatServer":         "the catalog has no chat servers",
	"videoConference":    "the catalog has no video conference servers",
	"setupServer":        "the catalog has no setup servers",
}

func (im *importer) dropElement(el *etree.Element) {
	if r, ok := dropReasons[el.FullTag()]; ok {
		im.warnf(el, "dropped: %s", r)
		return
	}
	im.warnf(el, "dropped: unknown element")
}

// text returns the trimmed character data of a leaf element. An element
// with child elements has no text value (Thunderbird reads it as
// "[object Object]").
func (im *importer) text(el *etree.Element) (string, bool) {
	if len(el.ChildElements()) > 0 {
		im.warnf(el, "dropped: holds elements, not a value")
		return "", false
	}
	var b strings.Builder
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	v := strings.TrimSpace(b.String())
	if v == "" {
		im.warnf(el, "dropped: empty")
		return "", false
	}
	return v, true
}

// otherPlaceholders are the placeholders the catalog can express only in
// usernames.
var otherPlaceholders = []string{provision.PlaceholderAddress, provision.PlaceholderLocal, "%REALNAME%"}

func hasOtherPlaceholder(s string) bool {
	return slices.ContainsFunc(otherPlaceholders, func(p string) bool { return strings.Contains(s, p) })
}

// sampleDomain stands in for %EMAILDOMAIN% when a value is checked before
// it is expanded.
const sampleDomain = "example.com"

func (im *importer) provider(ep *etree.Element, d *draft) {
	rawID := strings.TrimSpace(ep.SelectAttrValue("id", ""))
	if rawID == "" {
		im.fail("emailProvider has no id (Thunderbird and K-9 reject the file)")
	} else if id, err := provision.NormalizeHost(rawID); err != nil {
		im.fail("emailProvider id %q is not a host name (Thunderbird and K-9 reject the file)", rawID)
	} else {
		d.id = id
	}
	seenDomain := map[string]bool{}
	for _, c := range ep.ChildElements() {
		switch c.FullTag() {
		case "domain":
			v, ok := im.text(c)
			if !ok {
				continue
			}
			if p := c.SelectAttrValue("purpose", ""); p != "" {
				im.warnf(c, "%s: dropped: purpose=%q marks a provider's MX domain, not a mail domain", v, p)
				continue
			}
			dom, err := provision.NormalizeDomain(v)
			if err != nil {
				im.warnf(c, "%q: dropped: not a domain name", v)
				continue
			}
			if seenDomain[dom] {
				im.warnf(c, "%s: dropped: listed twice", dom)
				continue
			}
			seenDomain[dom] = true
			d.domains = append(d.domains, dom)
		case "displayName":
			if d.displayNameEl != nil {
				im.warnf(c, "dropped: given twice, the first is used")
				continue
			}
			d.displayName, d.displayNameEl = im.providerName(c, d, 60)
		case "displayShortName":
			if d.shortNameEl != nil {
				im.warnf(c, "dropped: given twice, the first is used")
				continue
			}
			d.shortName, d.shortNameEl = im.providerName(c, d, 20)
		case "incomingServer":
			d.incoming = im.addServer(c, d, true, d.incoming, &d.inNotes)
		case "outgoingServer":
			d.outgoing = im.addServer(c, d, false, d.outgoing, &d.outNotes)
		case "webMail":
			im.webMail(c, d)
		case "oAuth2":
			im.oauth2(c, d)
		default:
			im.dropElement(c)
		}
	}
}

// check finds what makes the whole document inexpressible, once every
// section is read.
func (im *importer) check(d *draft) {
	if len(d.domains) == 0 {
		im.fail("no <domain> that is a domain name")
	}
	if !slices.ContainsFunc(d.incoming, func(s provision.Server) bool { return s.Security.Advertised() }) {
		im.fail("no incoming IMAP or POP3 server with SSL or STARTTLS that the catalog can express (it needs one; plain servers are never advertised)%s", notes(d.inNotes))
	}
	if !slices.ContainsFunc(d.outgoing, func(s provision.Server) bool { return s.Security.Advertised() }) {
		im.fail("no outgoing SMTP server with SSL or STARTTLS that the catalog can express (it needs one; plain servers are never advertised)%s", notes(d.outNotes))
	}
	im.davUsers(d)
}

// providerName reads displayName or displayShortName. The length limit is checked
// again after expansion.
func (im *importer) providerName(el *etree.Element, d *draft, max int) (string, *etree.Element) {
	v, ok := im.text(el)
	if !ok {
		return "", nil
	}
	switch {
	case hasOtherPlaceholder(v):
		im.warnf(el, "%q: dropped: the catalog has no placeholders in names except %s", v, provision.PlaceholderDomain)
		return "", nil
	case strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }):
		im.warnf(el, "%q: dropped: control characters (one line of printable text)", v)
		return "", nil
	case utf8.RuneCountInString(strings.ReplaceAll(v, provision.PlaceholderDomain, sampleDomain)) > max:
		im.warnf(el, "%q: dropped: longer than %d characters", v, max)
		return "", nil
	}
	if strings.Contains(v, provision.PlaceholderDomain) {
		d.usesDomainPlaceholder = true
	}
	return v, el
}

// Server types the catalog cannot express, with the reason.
var serverTypeReasons = map[string]string{
	"ews":        "Exchange Web Services",
	"owa":        "Outlook Web Access",
	"graph":      "Microsoft Graph",
	"exchange":   "Exchange",
	"jmap":       "JMAP",
	"activeSync": "ActiveSync",
	"activesync": "ActiveSync",
	"nntp":       "news (NNTP)",
}

// authAliases maps the deprecated autoconfig spellings to the names the
// catalog knows (docs/autoconfig.md#authentication-values).
var authAliases = map[string]string{
	"plain":          "password-cleartext",
	"secure":         "password-encrypted",
	"SMTP-after-POP": "smtp-after-pop",
}

// addServer reads a server into list, noting in notes why a server is not
// advertised (dropped, or plain).
func (im *importer) addServer(el *etree.Element, d *draft, incoming bool, list []provision.Server, notes *[]string) []provision.Server {
	path := elPath(el)
	path = path[strings.LastIndexByte(path, '/')+1:]
	s, why := im.server(el, d, incoming)
	switch {
	case why != "":
		*notes = append(*notes, path+": "+why)
		return list
	case !s.Security.Advertised():
		*notes = append(*notes, fmt.Sprintf("%s: %s:%d is plain", path, s.Host, s.Port))
	}
	return append(list, s)
}

func notes(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return ": " + strings.Join(ns, "; ")
}

// server reads an incomingServer or outgoingServer. Everything the catalog
// cannot express about the server is dropped with a warning; a server
// that loses what the catalog needs is dropped whole, and why says why.
func (im *importer) server(el *etree.Element, d *draft, incoming bool) (s provision.Server, why string) {
	drop := func(format string, args ...any) (provision.Server, string) {
		why := fmt.Sprintf(format, args...)
		im.warnf(el, "dropped: %s", why)
		return provision.Server{}, why
	}
	typ := el.SelectAttrValue("type", "")
	switch {
	case incoming && (typ == "imap" || typ == "pop3"):
		s.Protocol = provision.Protocol(typ)
	case !incoming && typ == "smtp":
		s.Protocol = provision.SMTP
	case typ == "":
		return drop("no type attribute")
	case !incoming:
		return drop("type %q: outgoing servers must be smtp", typ)
	case serverTypeReasons[typ] != "":
		return drop("type %q: the catalog has no %s servers (IMAP, POP3 and SMTP only)", typ, serverTypeReasons[typ])
	default:
		return drop("type %q is not imap or pop3 (clients compare the type exactly)", typ)
	}

	var host, port, user *etree.Element
	var socks, auths []*etree.Element
	var pop3 *etree.Element
	first := func(slot **etree.Element, c *etree.Element) {
		if *slot != nil {
			im.warnf(c, "dropped: given twice, the first is used")
			return
		}
		*slot = c
	}
	for _, c := range el.ChildElements() {
		switch c.FullTag() {
		case "hostname":
			first(&host, c)
		case "port":
			first(&port, c)
		case "socketType":
			socks = append(socks, c)
		case "username":
			first(&user, c)
		case "authentication":
			auths = append(auths, c)
		case "pop3":
			if s.Protocol != provision.POP3 {
				im.warnf(c, "dropped: POP3 options on a %s server", s.Protocol)
				continue
			}
			first(&pop3, c)
		case "password":
			im.warnf(c, "dropped: the catalog never hands out passwords")
		case "addThisServer", "useGlobalPreferredServer":
			im.warnf(c, "dropped: a client preference the catalog does not express")
		case "restriction":
			im.warnf(c, "dropped: the catalog has no server restrictions (no client reads them)")
		default:
			im.warnf(c, "dropped: unknown element")
		}
	}

	if host == nil {
		return drop("no hostname")
	}
	h, ok := im.text(host)
	if !ok {
		return drop("no hostname")
	}
	hn, err := hostTemplate(h)
	if err != nil {
		return drop("hostname %q: %v", h, err)
	}
	s.Host = hn
	if strings.Contains(hn, provision.PlaceholderDomain) {
		d.usesDomainPlaceholder = true
	}

	if port == nil {
		return drop("no port")
	}
	pv, ok := im.text(port)
	if !ok {
		return drop("no port")
	}
	if n, err := strconv.Atoi(pv); err != nil || n < 1 || n > 65535 {
		return drop("port %q is not a port (1-65535)", pv)
	} else {
		s.Port = n
	}

	for _, c := range socks {
		v, ok := im.text(c)
		if !ok {
			continue
		}
		if s.Security != "" {
			im.warnf(c, "%q: dropped: socketType given twice, the first is used", v)
			continue
		}
		switch v {
		case "SSL":
			s.Security = provision.TLS
		case "STARTTLS":
			s.Security = provision.STARTTLS
		case "plain":
			s.Security = provision.None
		default:
			im.warnf(c, "%q: dropped: not SSL, STARTTLS or plain (clients compare it exactly)", v)
		}
	}
	if s.Security == "" {
		return drop("no socketType SSL, STARTTLS or plain")
	}

	for _, c := range auths {
		v, ok := im.text(c)
		if !ok {
			continue
		}
		if sys := c.SelectAttrValue("system", ""); sys != "" {
			im.warnf(c, "%q (system=%q): dropped: the catalog has only Thunderbird's authentication names", v, sys)
			continue
		}
		if a, ok := authAliases[v]; ok {
			v = a
		}
		if !slices.Contains(provision.AuthNames(), v) {
			im.warnf(c, "%q: dropped: not a known authentication (%s)", v, strings.Join(provision.AuthNames(), ", "))
			continue
		}
		if slices.Contains(s.Auth, v) {
			im.warnf(c, "%q: dropped: listed twice", v)
			continue
		}
		s.Auth = append(s.Auth, v)
	}
	switch {
	case len(s.Auth) == 0:
		return drop("no usable authentication")
	case !slices.ContainsFunc(s.Auth, provision.IsPasswordAuth):
		return drop("authentication %s only, and the catalog needs password-cleartext or password-encrypted in every server (clients skip the other methods)", strings.Join(s.Auth, ", "))
	}

	if user == nil {
		s.Username = provision.PlaceholderAddress
		im.warnf(el, "no username: the catalog's default %s is used (Thunderbird would use the word \"undefined\", K-9 rejects the file)", provision.PlaceholderAddress)
	} else {
		v, ok := im.text(user)
		if !ok {
			return drop("empty username")
		}
		if err := provision.CheckUsernameTemplate(v); err != nil {
			return drop("username: %v", err)
		}
		s.Username = v
	}

	if pop3 != nil {
		s.POP3 = im.pop3(pop3)
	}
	return s, ""
}

// hostTemplate normalises a host name that may hold %EMAILDOMAIN% as whole
// labels ("mail.%EMAILDOMAIN%"), the one placeholder a catalog can express
// in a host name, by writing one provider per domain.
func hostTemplate(h string) (string, error) {
	h = strings.TrimSuffix(h, ".")
	if hasOtherPlaceholder(h) {
		return "", fmt.Errorf("a placeholder other than %s, which the catalog cannot express in a host name", provision.PlaceholderDomain)
	}
	if !strings.Contains(h, provision.PlaceholderDomain) {
		n, err := provision.NormalizeHost(h)
		if err != nil {
			return "", fmt.Errorf("not a host name (%v)", err)
		}
		return n, nil
	}
	parts := strings.Split(h, provision.PlaceholderDomain)
	for i, p := range parts {
		parts[i] = strings.ToLower(p)
		if i > 0 && p != "" && p[0] != '.' || i < len(parts)-1 && p != "" && p[len(p)-1] != '.' {
			return "", fmt.Errorf("%s must stand for whole labels", provision.PlaceholderDomain)
		}
	}
	t := strings.Join(parts, provision.PlaceholderDomain)
	if _, err := provision.NormalizeHost(strings.ReplaceAll(t, provision.PlaceholderDomain, sampleDomain)); err != nil {
		return "", fmt.Errorf("not a host name (%v)", err)
	}
	return t, nil
}

func (im *importer) pop3(el *etree.Element) *provision.POP3Options {
	o := &provision.POP3Options{}
	var daysEl *etree.Element
	for _, c := range el.ChildElements() {
		switch c.FullTag() {
		case "leaveMessagesOnServer":
			o.LeaveOnServer = im.boolValue(c, o.LeaveOnServer)
		case "downloadOnBiff":
			o.DownloadOnCheck = im.boolValue(c, o.DownloadOnCheck)
		case "daysToLeaveMessagesOnServer":
			if v, ok := im.text(c); ok {
				o.DaysOnServer = im.intValue(c, v, o.DaysOnServer, 1, 36500)
				daysEl = c
			}
		case "checkInterval":
			v := c.SelectAttrValue("minutes", "")
			if v == "" {
				im.warnf(c, "dropped: no minutes attribute")
				continue
			}
			o.CheckInterval = im.intValue(c, v, o.CheckInterval, 1, 10080)
		default:
			im.warnf(c, "dropped: unknown POP3 option")
		}
	}
	if o.DaysOnServer != nil && o.LeaveOnServer != nil && !*o.LeaveOnServer {
		im.warnf(daysEl, "dropped: leaveMessagesOnServer is false")
		o.DaysOnServer = nil
	}
	if *o == (provision.POP3Options{}) {
		return nil
	}
	return o
}

func (im *importer) boolValue(el *etree.Element, prev *bool) *bool {
	if prev != nil {
		im.warnf(el, "dropped: given twice, the first is used")
		return prev
	}
	v, ok := im.text(el)
	if !ok {
		return nil
	}
	// JXON turns true/false in any letter case into booleans.
	switch strings.ToLower(v) {
	case "true":
		b := true
		return &b
	case "false":
		b := false
		return &b
	}
	im.warnf(el, "%q: dropped: not true or false", v)
	return nil
}

func (im *importer) intValue(el *etree.Element, v string, prev *int, lo, hi int) *int {
	if prev != nil {
		im.warnf(el, "dropped: given twice, the first is used")
		return prev
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		im.warnf(el, "%q: dropped: not a whole number from %d to %d", v, lo, hi)
		return nil
	}
	return &n
}

// dav reads a v1.1 addressBook/calendar (serverURL) or a draft 1.2
// addressbook/calendar (url).
func (im *importer) dav(el *etree.Element, want string, dst *davDraft) {
	if typ := el.SelectAttrValue("type", ""); typ != want {
		im.warnf(el, "type %q: dropped: the catalog has only %s here", typ, want)
		return
	}
	if dst.el != nil {
		im.warnf(el, "dropped: the catalog has one %s URL, the first is used", want)
		return
	}
	dav := davDraft{el: el}
	for _, c := range el.ChildElements() {
		switch c.FullTag() {
		case "serverURL", "url":
			if dav.url != "" {
				im.warnf(c, "dropped: given twice, the first is used")
				continue
			}
			if v, ok := im.text(c); ok {
				dav.url = im.url(c, v)
			}
		case "username":
			if v, ok := im.text(c); ok && dav.usernameEl == nil {
				dav.username, dav.usernameEl = v, c
			}
		case "authentication":
			if v, ok := im.text(c); ok {
				dav.auth = append(dav.auth, v)
				dav.authEl = c
			}
		default:
			im.warnf(c, "dropped: unknown element")
		}
	}
	if dav.url == "" {
		im.warnf(el, "dropped: no usable serverURL")
		return
	}
	*dst = dav
}

// davUsers warns where a DAV section's login differs from what the
// catalog renders: the first advertised incoming server's username and
// http-basic.
func (im *importer) davUsers(d *draft) {
	var user string
	for _, s := range d.incoming {
		if s.Security.Advertised() {
			user = s.Username
			break
		}
	}
	for _, dav := range []davDraft{d.carddav, d.caldav} {
		if dav.el == nil {
			continue
		}
		if dav.usernameEl != nil && dav.username != user {
			im.warnf(dav.usernameEl, "%q: dropped: the catalog uses the first incoming server's username (%s)", dav.username, user)
		}
		for _, a := range dav.auth {
			if a != "http-basic" && a != "Basic" {
				im.warnf(dav.authEl, "%q: dropped: the catalog always uses http-basic", a)
			}
		}
	}
}

func (im *importer) webMail(el *etree.Element, d *draft) {
	for _, c := range el.ChildElements() {
		switch c.FullTag() {
		case "loginPage":
			if d.webmail != "" {
				im.warnf(c, "dropped: the catalog has one webmail URL, the first is used")
				continue
			}
			v := strings.TrimSpace(c.SelectAttrValue("url", ""))
			if v == "" {
				im.warnf(c, "dropped: no url attribute")
				continue
			}
			d.webmail = im.url(c, v)
		case "loginPageInfo":
			im.warnf(c, "dropped: the catalog keeps only the login page URL (no client fills in web forms)")
		default:
			im.warnf(c, "dropped: unknown element")
		}
	}
}

func (im *importer) oauth2(el *etree.Element, d *draft) {
	if d.oauth2 != nil {
		im.warnf(el, "dropped: given twice, the first is used")
		return
	}
	o := &provision.OAuth2{}
	fields := map[string]*string{"issuer": &o.Issuer, "scope": &o.Scope, "authURL": &o.AuthURL, "tokenURL": &o.TokenURL}
	bad := false
	for _, c := range el.ChildElements() {
		dst, ok := fields[c.FullTag()]
		if !ok {
			switch c.FullTag() {
			case "clientID", "clientSecret":
				im.warnf(c, "dropped: the catalog has no OAuth2 client registration")
			default:
				im.warnf(c, "dropped: unknown element")
			}
			continue
		}
		if *dst != "" {
			im.warnf(c, "dropped: given twice, the first is used")
			continue
		}
		v, ok := im.text(c)
		if !ok {
			bad = true
			continue
		}
		switch c.FullTag() {
		case "issuer":
			h, err := hostTemplate(v)
			if err != nil {
				im.warnf(c, "%q: %v", v, err)
				bad = true
				continue
			}
			v = h
		case "scope":
			if len(v) > 1000 || strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) {
				im.warnf(c, "%q: not one line of up to 1000 characters", v)
				bad = true
				continue
			}
		default:
			if v = im.url(c, v); v == "" {
				bad = true
				continue
			}
		}
		*dst = v
	}
	if bad || o.Issuer == "" || o.Scope == "" || o.AuthURL == "" || o.TokenURL == "" {
		im.warnf(el, "dropped: the catalog needs a valid issuer, scope, authURL and tokenURL")
		return
	}
	if strings.Contains(o.Issuer+o.AuthURL+o.TokenURL, provision.PlaceholderDomain) {
		d.usesDomainPlaceholder = true
	}
	d.oauth2 = o
}

// url returns v if it is a URL the catalog accepts (absolute http or
// https, a host name, no credentials, no white space), else "" with a
// warning. %EMAILDOMAIN% is allowed and marks the draft for expansion.
func (im *importer) url(el *etree.Element, v string) string {
	if hasOtherPlaceholder(v) {
		im.warnf(el, "%q: dropped: the catalog has no placeholders in URLs except %s", v, provision.PlaceholderDomain)
		return ""
	}
	check := strings.ReplaceAll(v, provision.PlaceholderDomain, sampleDomain)
	u, err := url.Parse(check)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.ContainsFunc(check, unicode.IsSpace) {
		im.warnf(el, "%q: dropped: not an absolute http(s) URL", v)
		return ""
	}
	if _, err := provision.NormalizeHost(u.Hostname()); err != nil {
		im.warnf(el, "%q: dropped: %v", v, err)
		return ""
	}
	return v
}

// expand turns the draft into providers: one, or one per domain when the
// document uses %EMAILDOMAIN% outside usernames.
func (im *importer) expand(d *draft) []*provision.Provider {
	if d == nil {
		return nil
	}
	if !d.usesDomainPlaceholder {
		return []*provision.Provider{im.providerFor(d, d.id, d.domains, "")}
	}
	if len(d.domains) == 1 {
		return []*provision.Provider{im.providerFor(d, d.id, d.domains, d.domains[0])}
	}
	im.warnings = append(im.warnings, fmt.Sprintf("%s: uses %s in a host name, name or URL, where the catalog has no placeholder: written as %d providers, one per domain", im.name, provision.PlaceholderDomain, len(d.domains)))
	out := make([]*provision.Provider, len(d.domains))
	for i, dom := range d.domains {
		out[i] = im.providerFor(d, dom, []string{dom}, dom)
	}
	return out
}

// providerFor builds one provider, replacing %EMAILDOMAIN% with domain
// (unless domain is empty).
func (im *importer) providerFor(d *draft, id string, domains []string, domain string) *provision.Provider {
	x := func(s string) string {
		if domain == "" {
			return s
		}
		return strings.ReplaceAll(s, provision.PlaceholderDomain, domain)
	}
	p := &provision.Provider{ID: id, Domains: domains, Source: im.name, CalDAV: x(d.caldav.url), CardDAV: x(d.carddav.url), Webmail: x(d.webmail)}
	p.DisplayName = im.expandedName(d.displayNameEl, x(d.displayName), 60)
	p.ShortName = im.expandedName(d.shortNameEl, x(d.shortName), 20)
	servers := func(in []provision.Server) []provision.Server {
		out := make([]provision.Server, len(in))
		for i, s := range in {
			s.Host = x(s.Host)
			s.Auth = slices.Clone(s.Auth)
			out[i] = s
		}
		return out
	}
	p.Incoming = servers(d.incoming)
	p.Outgoing = servers(d.outgoing)
	if o := d.oauth2; o != nil {
		p.OAuth2 = &provision.OAuth2{Issuer: x(o.Issuer), Scope: o.Scope, AuthURL: x(o.AuthURL), TokenURL: x(o.TokenURL)}
	}
	return p
}

func (im *importer) expandedName(el *etree.Element, v string, max int) string {
	if utf8.RuneCountInString(v) > max {
		im.warnf(el, "%q: dropped: longer than %d characters once %s is filled in", v, max, provision.PlaceholderDomain)
		return ""
	}
	return v
}
