package doctor

// Each client's reader of config-v1.1.xml, as pure functions of the HTTP
// answer (docs/thunderbird-parser.md#readfromxml; docs/autoconfig.md#other-parsers, docs/thunderbird-parser.md#http-layer; docs/thunderbird-parser.md#readfromxml). They
// answer one question: would this client accept the document, and which
// servers would it use?

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// verdict is a client reader's decision on one document.
type verdict struct {
	ok       bool
	reason   string // why the document was refused (when !ok)
	fix      string // what the admin changes
	incoming *Endpoint
	outgoing *Endpoint
	// candidates are every server the client would try, in order (Delta
	// Chat probes them all).
	candidates []Endpoint
	warnings   []string // make the client's status a warning
	// fails make the client's status a failure although it accepts the
	// document: it would configure a server the document does not
	// prefer. fix says what to change.
	fails []string
	// caveats go into the client's reason without changing its status.
	caveats []string
	notes   []string // worth knowing, not a problem
}

func refuse(reason, fix string) verdict { return verdict{reason: reason, fix: fix} }

// ident is what placeholders expand to.
type ident struct {
	address, local, domain string
}

func newIdent(local, domain string) ident {
	return ident{address: local + "@" + domain, local: local, domain: domain}
}

func (id ident) expand(s string) string {
	return strings.NewReplacer(
		"%EMAILADDRESS%", id.address,
		"%EMAILLOCALPART%", id.local,
		"%EMAILDOMAIN%", id.domain,
	).Replace(s)
}

const (
	fixContentType = "serve config-v1.1.xml with Content-Type: text/xml; charset=utf-8"
	fixWellFormed  = "serve a well-formed config-v1.1.xml (clientConfig/emailProvider, docs/autoconfig.md#document-structure)"
	fixSection     = "give every incomingServer/outgoingServer hostname, port, socketType SSL or STARTTLS, username and a password authentication (docs/autoconfig.md#what-we-generate)"
)

// xmlContentType reports whether Thunderbird's fetcher parses a body of
// this type as XML: a case-sensitive prefix test (FetchHTTP).
func xmlContentType(ct string) bool {
	return strings.HasPrefix(ct, "text/xml") || strings.HasPrefix(ct, "application/xml") || strings.HasPrefix(ct, "text/rdf")
}

// isHostname is Thunderbird's hostname test: letters, digits, '-' and '.',
// labels of 1-63, or an IP address. A trailing dot is allowed.
func isHostname(h string) bool {
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return true
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isHostTemplate accepts a hostname, or one with %NAME% placeholders in
// Thunderbird's pattern ^[a-zA-Z0-9.-]*(%[A-Z0-9]+%[a-zA-Z0-9.-]*)+$.
func isHostTemplate(h string, id ident) bool {
	if !strings.Contains(h, "%") {
		return isHostname(h)
	}
	for i, part := range strings.Split(h, "%") {
		if i%2 == 1 {
			if part == "" || strings.Trim(part, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
				return false
			}
		} else if strings.Trim(part, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" {
			return false
		}
	}
	return strings.Count(h, "%")%2 == 0 && isHostname(id.expand(h))
}

// jxonNumber reads text the way JXON then parseInt do: white space
// around a number is fine, trailing garbage after digits is cut.
func jxonNumber(s string) (int, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, false
	}
	if _, err := strconv.ParseFloat(t, 64); err != nil {
		// Not a JXON number: parseInt of the raw string.
		t = strings.TrimLeft(s, " \t\r\n")
	}
	end := 0
	for end < len(t) && (t[end] >= '0' && t[end] <= '9' || end == 0 && (t[end] == '-' || t[end] == '+')) {
		end++
	}
	v, err := strconv.Atoi(t[:end])
	return v, err == nil
}

// Thunderbird's authentication values (InputSanitizer, readFromXML).
var (
	tbIncomingAuth = []string{"password-cleartext", "plain", "password-encrypted", "secure", "GSSAPI", "NTLM", "OAuth2"}
	tbOutgoingAuth = append(slices.Clone(tbIncomingAuth), "none", "client-IP-address", "smtp-after-pop")
	tbIncomingType = []string{"pop3", "imap", "nntp", "exchange", "ews", "owa"}
)

// tbOAuth2Domains are base domains of hosts in Thunderbird's built-in
// OAuth2Providers list (docs/autoconfig.md#authentication-values); OAuth2 for any other host is
// skipped. The list is an approximation of Thunderbird's table.
var tbOAuth2Domains = []string{
	"gmail.com", "googlemail.com", "google.com", "office365.com", "outlook.com", "yahoo.com",
	"aol.com", "yandex.com", "yandex.ru", "mail.ru", "fastmail.com", "comcast.net", "thundermail.com",
}

func tbOAuth2Host(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	for _, d := range tbOAuth2Domains {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// thunderbirdAutoconfig is Thunderbird desktop's readFromXML
// (docs/thunderbird-parser.md#http-layer; docs/thunderbird-parser.md#readfromxml): XML content type, clientConfig with a
// first emailProvider whose id and one domain are hostnames, and at least
// one valid incoming and one valid outgoing section. Invalid sections are
// skipped; the first valid ones are used.
func thunderbirdAutoconfig(contentType string, body []byte, id ident) verdict {
	if !xmlContentType(contentType) {
		return refuse(fmt.Sprintf("Content-Type %q is not XML: Thunderbird reads the body as text and finds no configuration", contentType), fixContentType)
	}
	root, err := parseXML(body)
	if err != nil {
		return refuse("not well-formed XML: "+err.Error(), fixWellFormed)
	}
	ep := root.child("emailProvider")
	if root.qname() != "clientConfig" || ep == nil {
		return refuse("no clientConfig/emailProvider", fixWellFormed)
	}
	if pid, ok := ep.attrs["id"]; !ok || !isHostname(strings.TrimSpace(pid)) {
		return refuse(fmt.Sprintf("emailProvider id %q is not a host name", pid), "make emailProvider's id attribute a host name")
	}
	domains := ep.all("domain")
	if !slices.ContainsFunc(domains, func(d *node) bool { return isHostname(strings.TrimSpace(d.text)) }) {
		return refuse("no <domain> that is a host name", "list the mail domain in a <domain> element")
	}
	var v verdict
	var lastErr string
	for _, s := range ep.all("incomingServer") {
		e, problem := tbSection(s, id, true)
		if problem != "" {
			lastErr = problem
			v.notes = append(v.notes, "incomingServer skipped: "+problem)
			continue
		}
		v.candidates = append(v.candidates, e)
		if v.incoming == nil {
			v.incoming = &e
		}
	}
	if v.incoming == nil {
		if lastErr == "" {
			lastErr = "no incomingServer"
		}
		return refuse("no usable incomingServer: "+lastErr, fixSection)
	}
	lastErr = "no outgoingServer"
	for _, s := range ep.all("outgoingServer") {
		e, problem := tbSection(s, id, false)
		if problem != "" {
			lastErr = problem
			v.notes = append(v.notes, "outgoingServer skipped: "+problem)
			continue
		}
		v.candidates = append(v.candidates, e)
		if v.outgoing == nil {
			v.outgoing = &e
		}
	}
	if v.outgoing == nil {
		return refuse("no usable outgoingServer (Thunderbird requires one): "+lastErr, fixSection)
	}
	v.ok = true
	return v
}

// tbSection validates one server section as readFromXML does.
func tbSection(s *node, id ident, incoming bool) (Endpoint, string) {
	typ := s.attrs["type"]
	if incoming && !slices.Contains(tbIncomingType, typ) {
		return Endpoint{}, fmt.Sprintf("type %q is not one Thunderbird knows", typ)
	}
	if !incoming && typ != "smtp" {
		return Endpoint{}, fmt.Sprintf("outgoing type %q is not smtp", typ)
	}
	e := Endpoint{Protocol: typ}
	if u := s.child("url"); u != nil && (typ == "ews" || typ == "owa" || typ == "exchange") {
		// URL types take host and TLS from the URL.
		host := strings.TrimPrefix(strings.TrimSpace(u.text), "https://")
		host, _, _ = strings.Cut(host, "/")
		e.Host, e.Socket, e.Port = strings.ToLower(host), "SSL", 443
	} else {
		h := strings.TrimSpace(textOf(s.child("hostname")))
		if h == "" {
			return e, "no hostname"
		}
		if !isHostTemplate(h, id) {
			return e, fmt.Sprintf("hostname %q is not a host name", h)
		}
		e.Host = strings.ToLower(id.expand(h))
		if pn := s.child("port"); pn != nil {
			p, ok := jxonNumber(pn.text)
			if !ok || p < 1 || p > 65535 {
				return e, fmt.Sprintf("port %q is not 1-65535", pn.text)
			}
			e.Port = p
		} else if !incoming {
			return e, "no port (required for SMTP)"
		}
		for _, st := range s.all("socketType") {
			if slices.Contains([]string{"plain", "SSL", "STARTTLS"}, st.text) {
				e.Socket = st.text
				break
			}
		}
		if e.Socket == "" {
			return e, fmt.Sprintf("no socketType among plain, SSL, STARTTLS (exact, case-sensitive; got %q)", textOf(s.child("socketType")))
		}
	}
	allowed := tbIncomingAuth
	if !incoming {
		allowed = tbOutgoingAuth
	}
	auth := ""
	for _, a := range s.all("authentication") {
		if !slices.Contains(allowed, a.text) {
			continue
		}
		if a.text == "OAuth2" && !tbOAuth2Host(e.Host) {
			continue
		}
		auth = a.text
		break
	}
	if auth == "" {
		return e, "no authentication Thunderbird can use (OAuth2 counts only for hosts in its built-in list)"
	}
	un := s.child("username")
	switch {
	case un != nil && len(un.kids) == 0 && un.text == "":
		e.Username = "true" // JXON: an empty element is the boolean true
	case un != nil:
		e.Username = id.expand(strings.TrimSpace(un.text))
	case incoming || auth == "password-cleartext" || auth == "password-encrypted" || auth == "plain" || auth == "secure":
		e.Username = "undefined"
	}
	if e.Username == "undefined" || e.Username == "true" {
		return e, fmt.Sprintf("no <username>: Thunderbird would log in as %q", e.Username)
	}
	return e, ""
}

// k9Autoconfig is Thunderbird for Android / K-9's RealAutoconfigParser
// (docs/autoconfig.md#thunderbird-for-android-k-9): any error inside an imap or smtp section aborts
// the whole document; values are read verbatim; pop3 and unknown types
// are skipped; the first imap and first smtp sections are used.
func k9Autoconfig(body []byte, id ident) verdict {
	root, err := parseXML(body)
	if err != nil {
		return refuse("not well-formed XML: "+err.Error(), fixWellFormed)
	}
	ep := root.child("emailProvider")
	if root.qname() != "clientConfig" || ep == nil {
		return refuse("no clientConfig/emailProvider", fixWellFormed)
	}
	if !isHostname(ep.attrs["id"]) {
		return refuse(fmt.Sprintf("emailProvider id %q is not a host name", ep.attrs["id"]), "make emailProvider's id attribute a host name")
	}
	if !slices.ContainsFunc(ep.all("domain"), func(d *node) bool { return isHostname(d.text) }) {
		return refuse("no <domain> that is a host name", "list the mail domain in a <domain> element")
	}
	var v verdict
	for _, s := range ep.kids {
		var want string
		switch s.qname() {
		case "incomingServer":
			want = "imap"
		case "outgoingServer":
			want = "smtp"
		default:
			continue
		}
		if s.attrs["type"] != want {
			continue
		}
		e, problem := k9Section(s, want, id)
		if problem != "" {
			return refuse(fmt.Sprintf("%s section %s: K-9 drops the whole document", want, problem), k9Fix(problem))
		}
		if want == "imap" && v.incoming == nil {
			v.incoming = &e
		}
		if want == "smtp" && v.outgoing == nil {
			v.outgoing = &e
		}
		v.candidates = append(v.candidates, e)
	}
	if v.incoming == nil {
		return refuse("no imap incomingServer (K-9 reads only IMAP)", "add an incomingServer type=\"imap\"")
	}
	if v.outgoing == nil {
		return refuse("no smtp outgoingServer", "add an outgoingServer type=\"smtp\"")
	}
	v.ok = true
	return v
}

func k9Fix(problem string) string {
	if strings.Contains(problem, "plain") {
		return "remove the socketType plain section: K-9 rejects the whole file for it (offer SSL or STARTTLS only)"
	}
	if strings.Contains(problem, "white space") {
		return "remove the white space around values: K-9 reads them verbatim"
	}
	return fixSection
}

func k9Section(s *node, typ string, id ident) (Endpoint, string) {
	e := Endpoint{Protocol: typ}
	get := func(name string) (string, string) {
		n := s.child(name)
		if n == nil {
			return "", "has no <" + name + ">"
		}
		if strings.TrimSpace(n.text) != n.text {
			return "", fmt.Sprintf("<%s> %q has white space around it", name, n.text)
		}
		return n.text, ""
	}
	h, p := get("hostname")
	if p != "" {
		return e, p
	}
	if !isHostTemplate(h, id) {
		return e, fmt.Sprintf("hostname %q is not a host name", h)
	}
	e.Host = strings.ToLower(id.expand(h))
	ps, p := get("port")
	if p != "" {
		return e, p
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return e, fmt.Sprintf("port %q is not a number 0-65535", ps)
	}
	e.Port = port
	st, p := get("socketType")
	if p != "" {
		return e, p
	}
	if st != "SSL" && st != "STARTTLS" {
		return e, fmt.Sprintf("socketType %q (K-9 accepts only SSL and STARTTLS; plain kills the file)", st)
	}
	e.Socket = st
	u, p := get("username")
	if p != "" {
		return e, p
	}
	e.Username = id.expand(u)
	if !slices.ContainsFunc(s.all("authentication"), func(a *node) bool {
		return slices.Contains([]string{"OAuth2", "password-cleartext", "password-encrypted"}, a.text)
	}) {
		return e, "has no authentication among OAuth2, password-cleartext, password-encrypted"
	}
	return e, ""
}

// evolutionAutoconfig is Evolution's parser (mail_autoconfig_parse_text
// in src/mail/e-mail-autoconfig.c, docs/clients/evolution.md): every
// section of a type overwrites the values of the previous one, so the last
// section of each type wins and values it lacks are kept from earlier
// ones. IMAP is used when present, else POP3. The username's EVOLUTIONUSER
// placeholder, which Evolution sends in place of the address, becomes the
// local part of the real one.
//
// A document is for every client at once, and its order is the order of
// preference: when Evolution's pick of a type differs from the first
// section of that type, the verdict carries a failure naming the server
// Evolution would configure.
func evolutionAutoconfig(body []byte, id ident) verdict {
	ep, refused := emailProvider(body)
	if ep == nil {
		return refused
	}
	merged := map[string]*Endpoint{}
	first := map[string]*Endpoint{}
	sections := map[string]int{}
	for _, s := range ep.kids {
		if s.qname() != "incomingServer" && s.qname() != "outgoingServer" {
			continue
		}
		typ := s.attrs["type"]
		if typ != "imap" && typ != "pop3" && typ != "smtp" {
			continue
		}
		sections[typ]++
		e := merged[typ]
		if e == nil {
			e = &Endpoint{Protocol: typ}
			merged[typ] = e
		}
		evolutionSection(e, s, id)
		if first[typ] == nil {
			f := &Endpoint{Protocol: typ}
			evolutionSection(f, s, id)
			first[typ] = f
		}
	}
	var v verdict
	in := merged["imap"]
	if in == nil {
		in = merged["pop3"]
	}
	out := merged["smtp"]
	switch {
	case in == nil:
		return refuse("no imap or pop3 incomingServer", "add an incomingServer type=\"imap\"")
	case out == nil:
		return refuse("no smtp outgoingServer", "add an outgoingServer type=\"smtp\"")
	}
	for _, e := range []*Endpoint{in, out} {
		if e.Host == "" || e.Port == 0 {
			return refuse(fmt.Sprintf("%s section without hostname or port", e.Protocol), fixSection)
		}
		if e.Socket == "" {
			return refuse(fmt.Sprintf("%s section without socketType plain, SSL or STARTTLS", e.Protocol), fixSection)
		}
		if n := sections[e.Protocol]; n > 1 {
			f := first[e.Protocol]
			if f.Host != e.Host || f.Port != e.Port || f.Socket != e.Socket {
				v.fails = append(v.fails, fmt.Sprintf("Evolution keeps the last of %d %s sections and configures %s, not the first listed, %s", n, e.Protocol, e, f))
				v.fix = "answer Evolution (User-Agent Evolution/…, address EVOLUTIONUSER@…) with one server per type (mailautoconf does), or list one server per type"
			} else {
				v.notes = append(v.notes, fmt.Sprintf("%d %s sections: Evolution takes the values of the last one (%s), the same server as the first", n, e.Protocol, e))
			}
		}
	}
	v.ok, v.incoming, v.outgoing = true, in, out
	v.candidates = []Endpoint{*in, *out}
	return v
}

// evolutionSection overwrites e with the values section s has, as
// mail_autoconfig_parse_text does.
func evolutionSection(e *Endpoint, s *node, id ident) {
	if h := s.child("hostname"); h != nil {
		e.Host = strings.ToLower(id.expand(strings.TrimSpace(h.text)))
	}
	if pn := s.child("port"); pn != nil {
		if p, err := strconv.Atoi(strings.TrimSpace(pn.text)); err == nil {
			e.Port = min(max(p, 1), 65535)
		}
	}
	if st := s.child("socketType"); st != nil {
		switch st.text {
		case "plain", "SSL", "STARTTLS":
			e.Socket = st.text
		}
	}
	if u := s.child("username"); u != nil {
		e.Username = strings.ReplaceAll(id.expand(u.text), evolutionPlaceholder, id.local)
	}
}

// evolutionPlaceholder is the local part Evolution 3.46 sends instead of
// the user's (provision.EvolutionPlaceholder).
const evolutionPlaceholder = "EVOLUTIONUSER"

// fairEmailAutoconfig is FairEmail's getISPDB (EmailProvider.java in
// M66B/FairEmail, 1.2269 and later; docs/clients/fairemail.md): only the
// first incomingServer of the document counts, and only if it is imap;
// only the first outgoingServer, if smtp. The port sets STARTTLS when it is
// 143 (IMAP) or 587 (SMTP), a socketType of SSL or STARTTLS overrides it;
// a port that is not a number fails the whole parse.
//
// Releases before 1.2269 let every imap and smtp section overwrite the
// last: when that gives another server than the first, the verdict says
// so and names it, as a caveat: current releases are fine. FairEmail sends a browser's User-Agent and the address as
// typed, so no server can answer those releases differently.
func fairEmailAutoconfig(body []byte, id ident) verdict {
	ep, refused := emailProvider(body)
	if ep == nil {
		return refused
	}
	var first, last [2]*Endpoint // [0] imap, [1] smtp
	seen := [2]bool{}
	for _, s := range ep.kids {
		k := -1
		switch {
		case s.qname() == "incomingServer":
			k = 0
		case s.qname() == "outgoingServer":
			k = 1
		default:
			continue
		}
		want := [2]string{"imap", "smtp"}[k]
		if s.attrs["type"] != want {
			seen[k] = true
			continue
		}
		if last[k] == nil {
			last[k] = &Endpoint{Protocol: want}
		}
		if problem := fairEmailSection(last[k], s, id); problem != "" {
			return refuse(problem, fixSection)
		}
		if !seen[k] {
			f := &Endpoint{Protocol: want}
			fairEmailSection(f, s, id)
			first[k] = f
		}
		seen[k] = true
	}
	switch {
	case first[0] == nil && last[0] != nil:
		return refuse("the first incomingServer is not imap: FairEmail reads only the first incoming section, and wants IMAP", "list the preferred IMAP server first")
	case first[0] == nil || first[0].Host == "" || first[0].Port <= 0:
		return refuse("no imap incomingServer with hostname and port", "add an incomingServer type=\"imap\" first")
	case first[1] == nil || first[1].Host == "" || first[1].Port <= 0:
		return refuse("no smtp outgoingServer with hostname and port first", "add an outgoingServer type=\"smtp\" first")
	}
	v := verdict{ok: true, incoming: first[0], outgoing: first[1]}
	v.candidates = []Endpoint{*first[0], *first[1]}
	for k := range first {
		if l := last[k]; l.Host != first[k].Host || l.Port != first[k].Port || l.Socket != first[k].Socket {
			v.caveats = append(v.caveats, fmt.Sprintf("FairEmail before 1.2269 keeps the last %s section and configures %s, not %s; it cannot be told apart from other clients, so its users must correct the server by hand or update", l.Protocol, l, first[k]))
		}
	}
	return v
}

// fairEmailSection overwrites e with section s's values as getISPDB does,
// or says why its parse fails.
func fairEmailSection(e *Endpoint, s *node, id ident) string {
	if h := s.child("hostname"); h != nil {
		e.Host = strings.ToLower(id.expand(h.text))
	}
	if pn := s.child("port"); pn != nil {
		p, err := strconv.Atoi(pn.text)
		if err != nil {
			return fmt.Sprintf("port %q is not a number: FairEmail's parse fails", pn.text)
		}
		e.Port = p
		e.Socket = "SSL"
		if e.Protocol == "imap" && p == 143 || e.Protocol == "smtp" && p == 587 {
			e.Socket = "STARTTLS"
		}
	}
	if st := s.child("socketType"); st != nil && (st.text == "SSL" || st.text == "STARTTLS") {
		e.Socket = st.text
	}
	if u := s.child("username"); u != nil {
		e.Username = id.expand(u.text)
	}
	return ""
}

// kmailAutoconfig is KMail's account wizard reader (docs/autoconfig.md#kmail):
// servers without a port are ignored, a socketType other than exactly SSL
// or STARTTLS silently becomes plain, the first IMAP and first SMTP
// server are used.
func kmailAutoconfig(body []byte, id ident) verdict {
	root, err := parseXML(body)
	if err != nil {
		return refuse("not well-formed XML: "+err.Error(), fixWellFormed)
	}
	ep := root.child("emailProvider")
	if ep == nil {
		return refuse("no emailProvider: KMail ends its lookup here", fixWellFormed)
	}
	var v verdict
	for _, s := range ep.kids {
		typ := s.attrs["type"]
		if s.qname() == "incomingServer" && typ != "imap" && typ != "pop3" || s.qname() == "outgoingServer" && typ != "smtp" || s.qname() != "incomingServer" && s.qname() != "outgoingServer" {
			continue
		}
		pn := s.child("port")
		if pn == nil {
			continue
		}
		port, err := strconv.Atoi(strings.TrimSpace(pn.text))
		if err != nil || port < 1 || port > 65535 {
			continue
		}
		e := Endpoint{Protocol: typ, Host: strings.ToLower(id.expand(strings.TrimSpace(textOf(s.child("hostname"))))), Port: port, Username: id.expand(textOf(s.child("username")))}
		switch st := textOf(s.child("socketType")); st {
		case "SSL", "STARTTLS":
			e.Socket = st
		default:
			e.Socket = "plain"
			if st != "plain" {
				v.warnings = append(v.warnings, fmt.Sprintf("%s socketType %q: KMail connects without TLS", e, st))
			}
		}
		v.candidates = append(v.candidates, e)
		if typ == "imap" && v.incoming == nil {
			v.incoming = &v.candidates[len(v.candidates)-1]
		}
		if typ == "smtp" && v.outgoing == nil {
			v.outgoing = &v.candidates[len(v.candidates)-1]
		}
	}
	if v.incoming == nil {
		for i := range v.candidates {
			if v.candidates[i].Protocol == "pop3" {
				v.incoming = &v.candidates[i]
				break
			}
		}
	}
	switch {
	case v.incoming == nil:
		return refuse("no incoming server with a port", fixSection)
	case v.outgoing == nil:
		return refuse("no smtp server with a port", fixSection)
	case v.incoming.Host == "" || v.outgoing.Host == "":
		return refuse("server without hostname", fixSection)
	}
	in, out := *v.incoming, *v.outgoing
	v.incoming, v.outgoing = &in, &out
	v.ok = true
	return v
}

// deltaChatAutoconfig is Delta Chat's auto_mozilla.rs (docs/autoconfig.md#delta-chat):
// text is trimmed, socketType lower-cased (ssl, starttls, plain,
// anything else automatic), authentication ignored, only imap and smtp
// sections kept; every section is a candidate it probes.
func deltaChatAutoconfig(body []byte, id ident) verdict {
	ep, refused := emailProvider(body)
	if ep == nil {
		return refused
	}
	var v verdict
	for _, s := range ep.kids {
		typ := strings.ToLower(s.attrs["type"])
		if (s.qname() != "incomingServer" || typ != "imap") && (s.qname() != "outgoingServer" || typ != "smtp") {
			continue
		}
		host := strings.ToLower(id.expand(strings.TrimSpace(textOf(s.child("hostname")))))
		port, err := strconv.Atoi(strings.TrimSpace(textOf(s.child("port"))))
		if host == "" || err != nil || port < 1 || port > 65535 {
			v.notes = append(v.notes, fmt.Sprintf("%s section without a usable hostname and port: skipped", typ))
			continue
		}
		e := Endpoint{Protocol: typ, Host: host, Port: port, Username: id.expand(strings.TrimSpace(textOf(s.child("username"))))}
		switch strings.ToLower(strings.TrimSpace(textOf(s.child("socketType")))) {
		case "ssl":
			e.Socket = "SSL"
		case "starttls":
			e.Socket = "STARTTLS"
		case "plain":
			e.Socket = "plain"
		default:
			e.Socket = "auto"
		}
		v.candidates = append(v.candidates, e)
	}
	return deltaChatPick(v)
}

// deltaChatPick needs at least one IMAP and one SMTP candidate.
func deltaChatPick(v verdict) verdict {
	for i := range v.candidates {
		e := v.candidates[i]
		if e.Protocol == "imap" && v.incoming == nil {
			v.incoming = &e
		}
		if e.Protocol == "smtp" && v.outgoing == nil {
			v.outgoing = &e
		}
	}
	switch {
	case v.incoming == nil:
		return refuse("no usable IMAP server (Delta Chat reads only IMAP)", "add an IMAP server")
	case v.outgoing == nil:
		return refuse("no usable SMTP server", "add an SMTP server")
	}
	v.ok = true
	return v
}
