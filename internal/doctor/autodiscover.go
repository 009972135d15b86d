package doctor

// Autodiscover readers (docs/autodiscover.md): Outlook's, Thunderbird's and
// Delta Chat's view of a POX answer, the autodiscover.json answer, and
// the mobilesync answer. Pure functions of the HTTP answer.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"mailautoconf/provision"
)

// Autodiscover namespaces, in their http:// spelling; https:// variants
// are accepted too (docs/autodiscover.md#pox-request).
const (
	nsRequestOutlook    = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsResponseOutlook   = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	nsRequestMobile     = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	nsResponseMobile    = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
	nsResponseAutodisco = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
)

func nsIs(got, want string) bool {
	return got == want || got == "https://"+strings.TrimPrefix(want, "http://")
}

// autodiscoverRequest is the POX request body Outlook and Thunderbird
// POST (requestNS outlook) or an ActiveSync device POSTs (mobilesync).
func autodiscoverRequest(address string, mobile bool) []byte {
	reqNS, respNS := nsRequestOutlook, nsResponseOutlook
	if mobile {
		reqNS, respNS = nsRequestMobile, nsResponseMobile
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	root := doc.CreateElement("Autodiscover")
	root.CreateAttr("xmlns", reqNS)
	req := root.CreateElement("Request")
	req.CreateElement("EMailAddress").SetText(address)
	req.CreateElement("AcceptableResponseSchema").SetText(respNS)
	b, err := doc.WriteToBytes()
	if err != nil {
		panic("etree: writing to memory failed: " + err.Error())
	}
	return b
}

// poxAnswer is a reader's decision on a POX answer: settings, a redirect
// to follow, or a refusal.
type poxAnswer struct {
	verdict
	redirectURL  string
	redirectAddr string
}

const (
	fixPOX      = "answer POST /autodiscover/autodiscover.xml with an outlook responseschema/2006a Account: Action settings, a Protocol per server (docs/autodiscover.md#pox-response)"
	fixPOXTypes = "send Content-Type: text/xml; charset=utf-8"
)

// outlookPOX is Outlook's reading of a POX answer: namespaces resolved,
// Response in outlook/responseschema/2006a, Action settings with at least
// one IMAP or POP3 and one SMTP Protocol, or a redirect. SSL defaults to
// on, SPA to on (which makes Outlook use NTLM); Encryption TLS is
// STARTTLS, SSL implicit TLS [UNCONFIRMED mapping, docs/autodiscover.md#pox-response].
func outlookPOX(contentType string, body []byte, id ident) poxAnswer {
	root, err := parseXML(body)
	if err != nil {
		return poxAnswer{verdict: refuse("not well-formed XML: "+err.Error(), fixPOX)}
	}
	if root.local != "Autodiscover" || !nsIs(root.ns, nsResponseAutodisco) {
		return poxAnswer{verdict: refuse(fmt.Sprintf("root element {%s}%s is not an Autodiscover response", root.ns, root.local), fixPOX)}
	}
	var resp *node
	for _, k := range root.kids {
		if k.local == "Response" {
			resp = k
			break
		}
	}
	if resp == nil {
		return poxAnswer{verdict: refuse("no Response element", fixPOX)}
	}
	if e := resp.childFold("Error"); e != nil || resp.childFold("Account").childFold("Error") != nil {
		if e == nil {
			e = resp.childFold("Account").childFold("Error")
		}
		code := strings.TrimSpace(textOf(e.childFold("ErrorCode")))
		msg := strings.TrimSpace(textOf(e.childFold("Message")))
		return poxAnswer{verdict: refuse(fmt.Sprintf("Autodiscover error %s %q", code, msg), fixPOX)}
	}
	if !nsIs(resp.ns, nsResponseOutlook) {
		return poxAnswer{verdict: refuse(fmt.Sprintf("Response is in namespace %q, not the outlook responseschema/2006a Outlook asked for", resp.ns), fixPOX)}
	}
	acc := resp.childNS(resp.ns, "Account")
	if acc == nil {
		return poxAnswer{verdict: refuse("no Account element", fixPOX)}
	}
	var a poxAnswer
	if !xmlContentType(contentType) {
		a.warnings = append(a.warnings, fmt.Sprintf("Content-Type %q is not XML", contentType))
	}
	switch action := strings.TrimSpace(textOf(acc.childNS(resp.ns, "Action"))); strings.ToLower(action) {
	case "redirecturl":
		a.redirectURL = strings.TrimSpace(textOf(acc.childNS(resp.ns, "RedirectUrl")))
		if u, err := url.Parse(a.redirectURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return poxAnswer{verdict: refuse(fmt.Sprintf("redirectUrl %q is not an https URL", a.redirectURL), fixPOX)}
		}
		return a
	case "redirectaddr":
		a.redirectAddr = strings.TrimSpace(textOf(acc.childNS(resp.ns, "RedirectAddr")))
		return a
	case "settings":
	default:
		return poxAnswer{verdict: refuse(fmt.Sprintf("Action %q is not settings, redirectUrl or redirectAddr", action), fixPOX)}
	}
	for _, p := range acc.kids {
		if p.local != "Protocol" || p.ns != resp.ns {
			continue
		}
		get := func(name string) string { return strings.TrimSpace(textOf(p.childNS(resp.ns, name))) }
		typ := strings.ToUpper(get("Type"))
		if typ != "IMAP" && typ != "POP3" && typ != "SMTP" {
			continue
		}
		e := Endpoint{Protocol: strings.ToLower(typ), Host: strings.ToLower(get("Server")), Username: get("LoginName")}
		port, err := strconv.Atoi(get("Port"))
		if e.Host == "" || err != nil || port < 1 || port > 65535 {
			a.warnings = append(a.warnings, fmt.Sprintf("%s Protocol without Server or Port: skipped", typ))
			continue
		}
		e.Port = port
		e.Socket = outlookSocket(get("SSL"), get("Encryption"))
		if !strings.EqualFold(get("SPA"), "off") {
			a.warnings = append(a.warnings, fmt.Sprintf("%s: SPA is not off, so Outlook uses NTLM (Secure Password Authentication) instead of the password", e))
		}
		if e.Username == "" {
			e.Username = id.address
		}
		a.candidates = append(a.candidates, e)
	}
	for i := range a.candidates {
		e := a.candidates[i]
		if (e.Protocol == "imap" || e.Protocol == "pop3") && a.incoming == nil {
			a.incoming = &e
		}
		if e.Protocol == "smtp" && a.outgoing == nil {
			a.outgoing = &e
		}
	}
	switch {
	case a.incoming == nil:
		return poxAnswer{verdict: refuse("no IMAP or POP3 Protocol", fixPOX)}
	case a.outgoing == nil:
		return poxAnswer{verdict: refuse("no SMTP Protocol", fixPOX)}
	}
	a.ok = true
	return a
}

// outlookSocket maps SSL and Encryption to a connection mode.
func outlookSocket(ssl, enc string) string {
	switch strings.ToLower(enc) {
	case "none":
		return "plain"
	case "tls":
		return "STARTTLS"
	case "ssl":
		return "SSL"
	case "auto":
		return "auto"
	}
	if strings.EqualFold(ssl, "off") {
		return "plain"
	}
	return "SSL"
}

// thunderbirdPOX is Thunderbird's readAutoDiscoverXML
// (docs/thunderbird-parser.md#readautodiscoverxml): element names as written (a prefix hides
// them), Type exact upper case, Port required, SSL off or Encryption None
// is plain, otherwise the port decides; RedirectUrl is not followed, and
// a RedirectAddr must be an address. SSL, Encryption and SPA go through
// toLowerCase, so a value JXON makes a boolean, a number or an object
// skips the Protocol, and so does a LoginName JXON makes false or 0
// (Sanitizer.nonemptystring). Thunderbird accepts a response without SMTP
// (it uses its default SMTP server).
func thunderbirdPOX(contentType string, body []byte, id ident) poxAnswer {
	if !xmlContentType(contentType) {
		return poxAnswer{verdict: refuse(fmt.Sprintf("Content-Type %q is not XML", contentType), fixPOXTypes)}
	}
	root, err := parseXML(body)
	if err != nil {
		return poxAnswer{verdict: refuse("not well-formed XML: "+err.Error(), fixPOX)}
	}
	acc := root.child("Response").child("Account")
	if root.qname() != "Autodiscover" || acc == nil {
		return poxAnswer{verdict: refuse("no Autodiscover/Response/Account as written (namespace prefixes hide elements from Thunderbird)", "use default namespaces, no prefixes")}
	}
	var a poxAnswer
	if ra := strings.TrimSpace(textOf(acc.child("RedirectAddr"))); ra != "" {
		addr, err := provision.ParseAddress(ra)
		if err != nil {
			return poxAnswer{verdict: refuse(fmt.Sprintf("RedirectAddr %q is not an e-mail address (Sanitizer.emailAddress throws)", ra), "answer redirectAddr with an e-mail address")}
		}
		a.redirectAddr = addr.String()
		return a
	}
	for _, p := range acc.all("Protocol") {
		e, skip := thunderbirdProtocol(p, id)
		if skip != "" {
			a.warnings = append(a.warnings, skip)
		}
		if e == nil {
			continue
		}
		a.candidates = append(a.candidates, *e)
		if e.Protocol != "smtp" && a.incoming == nil {
			a.incoming = &a.candidates[len(a.candidates)-1]
		}
	}
	if a.incoming == nil {
		if textOf(acc.child("RedirectUrl")) != "" {
			return poxAnswer{verdict: refuse("redirectUrl only: Thunderbird does not follow RedirectUrl", "answer with settings (or redirectAddr) instead of redirectUrl")}
		}
		return poxAnswer{verdict: refuse("no IMAP or POP3 Protocol Thunderbird can use", fixPOX)}
	}
	in := *a.incoming
	a.incoming = &in
	for _, e := range a.candidates {
		if e.Protocol == "smtp" {
			a.outgoing = &e
			break
		}
	}
	if a.outgoing == nil {
		a.warnings = append(a.warnings, "no SMTP Protocol: Thunderbird uses the user's default SMTP server")
	}
	a.ok = true
	return a
}

// thunderbirdProtocol reads one IMAP, POP3 or SMTP Protocol as
// readAutoDiscoverXML does. It returns nil for a Protocol Thunderbird
// skips, with a warning when the skip is worth telling.
func thunderbirdProtocol(p *node, id ident) (*Endpoint, string) {
	typ := textOf(p.child("Type"))
	if typ != "IMAP" && typ != "POP3" && typ != "SMTP" {
		return nil, ""
	}
	e := Endpoint{Protocol: strings.ToLower(typ), Host: strings.ToLower(strings.TrimSpace(textOf(p.child("Server"))))}
	port, ok := jxonNumber(textOf(p.child("Port")))
	if !isHostname(e.Host) || !ok || port < 1 || port > 65535 {
		return nil, ""
	}
	e.Port = port
	lower := map[string]string{}
	for _, name := range []string{"SSL", "Encryption", "SPA"} {
		el := p.child(name)
		if el == nil {
			continue
		}
		kind, v := jxonOf(el)
		if kind != jxString {
			return nil, fmt.Sprintf("%s: %s %q is a JXON %s; Thunderbird skips this Protocol (use on/off)", typ, name, v, kind)
		}
		lower[name] = strings.ToLower(v)
	}
	if lower["SSL"] == "off" || lower["Encryption"] == "none" {
		e.Socket = "plain"
	} else {
		e.Socket = autoSocket(port)
	}
	e.Auth = "password-cleartext"
	if lower["SPA"] == "on" {
		e.Auth = "secure"
	}
	e.Username = id.address
	if ln := p.child("LoginName"); ln != nil {
		kind, v := jxonOf(ln)
		switch {
		case kind == jxBoolean && v == "false", kind == jxNumber && v == "0":
			return nil, fmt.Sprintf("%s: LoginName %q is falsy for Thunderbird; it skips this Protocol", typ, textOf(ln))
		case kind == jxObject:
			v = "[object Object]"
		}
		e.Username = v
	}
	return &e, ""
}

// jxonKind is the JavaScript type JXON.build gives an element
// (docs/thunderbird-parser.md#jxon).
type jxonKind string

const (
	jxString  jxonKind = "string"
	jxNumber  jxonKind = "number"
	jxBoolean jxonKind = "boolean"
	jxObject  jxonKind = "object"
)

// jxonOf is the value JXON.build gives n: an object when it has children
// or attributes, boolean true when it is empty, a boolean for true/false
// in any case, a number for what isFinite accepts, otherwise its text.
func jxonOf(n *node) (jxonKind, string) {
	if len(n.kids) > 0 || len(n.attrs) > 0 {
		return jxObject, ""
	}
	t := strings.TrimSpace(n.text)
	switch {
	case n.text == "":
		return jxBoolean, "true"
	case strings.EqualFold(t, "true"), strings.EqualFold(t, "false"):
		return jxBoolean, strings.ToLower(t)
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return jxNumber, strconv.FormatFloat(f, 'f', -1, 64)
	}
	return jxString, n.text
}

// deltaChatPOX is Delta Chat's auto_outlook.rs parse_xml
// (docs/autodiscover.md#pox-response): tag names lower-cased with any
// prefix kept; the first RedirectUrl start tag ends the reading and wins
// over every Protocol (it is followed, up to 10 times; RedirectAddr is
// not); each Protocol takes type, server, port and ssl from the text of
// the elements inside it, the last one winning; Type imap or smtp in any
// case; SSL exactly "off" is plain, anything else automatic; LoginName is
// not read, the username is the address. A port that is not a number
// reads as 0, for which server_params.rs expand_ports tries the standard
// ports.
func deltaChatPOX(body []byte, id ident) poxAnswer {
	root, err := parseXML(body)
	if err != nil {
		return poxAnswer{verdict: refuse("not well-formed XML: "+err.Error(), fixPOX)}
	}
	var a poxAnswer
	redirect := false
	var walk func(n *node)
	walk = func(n *node) {
		if redirect {
			return
		}
		switch strings.ToLower(n.qname()) {
		case "redirecturl":
			redirect, a.candidates = true, nil
			a.redirectURL = strings.TrimSpace(n.text)
			return
		case "protocol":
			a.candidates = append(a.candidates, deltaChatProtocol(n, id)...)
			return
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(root)
	if redirect {
		if a.redirectURL == "" {
			return poxAnswer{verdict: refuse("empty RedirectUrl: Delta Chat stops reading at it and has nothing to fetch", fixPOX)}
		}
		return a
	}
	a.verdict = deltaChatPick(a.verdict)
	return a
}

// deltaChatProtocol reads one Protocol element as parse_protocol and
// expand_ports do: no candidate without type, server and port, or for a
// type other than imap and smtp; with port 0 the standard ports, implicit
// TLS first. Socket "auto" stands for implicit TLS, then STARTTLS, on the
// given port (deltaChatTries).
func deltaChatProtocol(p *node, id ident) []Endpoint {
	var typ, server string
	port, havePort, ssl := 0, false, true
	var visit func(n *node)
	visit = func(n *node) {
		for _, k := range n.kids {
			if v := strings.TrimSpace(k.text); v != "" { // trim_text drops white space
				switch strings.ToLower(k.qname()) {
				case "type":
					typ = v
				case "server":
					server = v
				case "port":
					port, havePort = 0, true
					if n, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 10, 16); err == nil {
						port = int(n)
					}
				case "ssl":
					ssl = v != "off"
				}
			}
			visit(k)
		}
	}
	visit(p)
	typ = strings.ToLower(typ)
	if typ != "imap" && typ != "smtp" || server == "" || !havePort {
		return nil
	}
	e := Endpoint{Protocol: typ, Host: strings.ToLower(server), Port: port, Socket: "auto", Username: id.address}
	std := map[string][2]int{"imap": {993, 143}, "smtp": {465, 587}}[typ]
	switch {
	case !ssl:
		e.Socket = "plain"
		if port == 0 {
			e.Port = std[1]
		}
	case port == 0:
		tls, starttls := e, e
		tls.Port, tls.Socket = std[0], "SSL"
		starttls.Port, starttls.Socket = std[1], "STARTTLS"
		return []Endpoint{tls, starttls}
	}
	return []Endpoint{e}
}

// deltaChatTries is the connections Delta Chat attempts for e, in order:
// for an automatic one implicit TLS, then STARTTLS, on its port
// (server_params.rs expand_ports); otherwise e itself.
func deltaChatTries(e Endpoint) []Endpoint {
	if e.Socket != "auto" {
		return []Endpoint{e}
	}
	tls, starttls := e, e
	tls.Socket, starttls.Socket = "SSL", "STARTTLS"
	return []Endpoint{tls, starttls}
}

// jsonAnswer is the autodiscover.json (v2) answer: the URL of the POX
// endpoint for Protocol AutodiscoverV1 (docs/autodiscover.md#autodiscoverjson, third-party
// shapes).
func jsonAnswer(contentType string, body []byte) (string, verdict) {
	var doc struct {
		Protocol string
		URL      string `json:"Url"`
	}
	if !strings.HasPrefix(strings.ToLower(contentType), "application/json") {
		return "", refuse(fmt.Sprintf("Content-Type %q is not application/json", contentType), "answer autodiscover.json with application/json")
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", refuse("not JSON: "+err.Error(), "answer {\"Protocol\":\"AutodiscoverV1\",\"Url\":\"https://…/autodiscover/autodiscover.xml\"}")
	}
	u, err := url.Parse(doc.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", refuse(fmt.Sprintf("Url %q is not an https URL", doc.URL), "answer {\"Protocol\":\"AutodiscoverV1\",\"Url\":\"https://…/autodiscover/autodiscover.xml\"}")
	}
	if !strings.EqualFold(doc.Protocol, "AutodiscoverV1") {
		return "", refuse(fmt.Sprintf("Protocol %q, asked AutodiscoverV1", doc.Protocol), "answer with Protocol AutodiscoverV1")
	}
	return doc.URL, verdict{ok: true}
}

// mobileSyncAnswer reads the answer to an ActiveSync (mobilesync) POX
// request (docs/autodiscover.md#mobilesync): an ActiveSync server URL, or error 601
// ("no provider for that schema", the right answer when ActiveSync is not
// offered). IMAP settings in answer to it are wrong: a device expects the
// mobilesync schema. ok with an empty url means "no ActiveSync, said
// properly".
func mobileSyncAnswer(body []byte) (activeSyncURL string, v verdict) {
	root, err := parseXML(body)
	if err != nil {
		return "", refuse("not well-formed XML: "+err.Error(), "answer mobilesync requests with a mobilesync Response (error 601 when ActiveSync is not offered)")
	}
	var resp *node
	for _, k := range root.kids {
		if k.local == "Response" {
			resp = k
		}
	}
	fix := "answer mobilesync requests in the mobilesync responseschema/2006: error 601 when ActiveSync is not offered (docs/autodiscover.md#mobilesync)"
	if root.local != "Autodiscover" || resp == nil {
		return "", refuse("no Autodiscover/Response", fix)
	}
	if nsIs(resp.ns, nsResponseOutlook) {
		return "", refuse("answered in the outlook schema (IMAP settings) to a mobilesync request", fix)
	}
	var codes []string
	var find func(n *node)
	find = func(n *node) {
		switch n.local {
		case "ErrorCode", "Status":
			codes = append(codes, strings.TrimSpace(n.text))
		case "Server":
			if strings.EqualFold(strings.TrimSpace(textOf(n.childFold("Type"))), "MobileSync") && activeSyncURL == "" {
				activeSyncURL = strings.TrimSpace(textOf(n.childFold("Url")))
			}
		}
		for _, k := range n.kids {
			find(k)
		}
	}
	find(resp)
	switch {
	case activeSyncURL != "":
		return activeSyncURL, verdict{ok: true}
	case len(codes) > 0 && codes[0] == "601":
		return "", verdict{ok: true}
	case len(codes) > 0:
		return "", refuse("mobilesync error "+codes[0]+" (601 is the code for \"ActiveSync not offered\")", fix)
	}
	return "", refuse("mobilesync answer without Server or Error", fix)
}
