package provision

import (
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"mailautoconf/internal/splice"
)

// Microsoft Autodiscover (POX) namespaces, docs/autodiscover.md#pox-request; docs/autodiscover.md#pox-response; docs/autodiscover.md#mobilesync.
// They are written with http://; learn.microsoft.com shows https:// on
// some pages, so requests may use either.
const (
	nsAutodiscoverResponse = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsOutlookRequest       = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsOutlookResponse      = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	nsMobileSyncRequest    = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	nsMobileSyncResponse   = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
)

// MaxAutodiscoverRequest bounds a POX request body. Real requests are a
// few hundred bytes (docs/autodiscover.md#pox-request); the HTTP layer answers 413 beyond.
const MaxAutodiscoverRequest = 16 << 10

// maxRequestDepth bounds element nesting: a request is three levels deep.
const maxRequestDepth = 8

// AutodiscoverSchema is one of the two POX dialects.
type AutodiscoverSchema int

const (
	// OutlookSchema is the mail-client dialect: IMAP, POP3 and SMTP
	// settings (…/outlook/requestschema/2006, responseschema/2006a).
	OutlookSchema AutodiscoverSchema = iota
	// MobileSyncSchema is the Exchange ActiveSync dialect
	// (…/mobilesync/requestschema/2006, responseschema/2006).
	MobileSyncSchema
)

// Autodiscover error codes, [MS-OXDSCLI] §2.2.4.1.1.3.2.
const (
	// CodeInvalidRequest: the request document is malformed.
	CodeInvalidRequest = 600
	// CodeNoProvider: nothing here answers the AcceptableResponseSchema.
	CodeNoProvider = 601
)

// AutodiscoverTTL is the Protocol TTL in hours: how long Outlook may keep
// the settings before asking again (ttl-pox; 1 is the default).
const AutodiscoverTTL = 1

// AutodiscoverRequest is a parsed POX request.
type AutodiscoverRequest struct {
	// Schema is the dialect of the request document's namespace; it
	// decides the shape of an error answer.
	Schema AutodiscoverSchema
	// Address is the EMailAddress.
	Address Address
	// Accept is the dialect AcceptableResponseSchema names, when
	// Supported. A request without AcceptableResponseSchema accepts the
	// response dialect of its own request schema.
	Accept    AutodiscoverSchema
	Supported bool
}

// schemaPath returns the part of a Microsoft Autodiscover namespace URI
// after the scheme, or "" for any other string: http:// and https:// name
// the same schema (docs/autodiscover.md#pox-request).
func schemaPath(uri string) string {
	for _, prefix := range []string{"http://", "https://"} {
		if rest, ok := strings.CutPrefix(uri, prefix); ok && strings.HasPrefix(rest, "schemas.microsoft.com/exchange/autodiscover/") {
			return rest
		}
	}
	return ""
}

func sameSchema(uri, ns string) bool {
	p := schemaPath(uri)
	return p != "" && p == schemaPath(ns)
}

// AutodiscoverReply is the answer to one POX request: a document to send
// with status 200, and what the request log should know.
type AutodiscoverReply struct {
	Body   []byte
	Domain string
	// Address is the request's address, its Login set by the login
	// hook; the zero Address when the request named none.
	Address Address
	// Problem says why Body is an error document; nil otherwise.
	Problem error
	// Schema is the dialect of the request, as far as it could be read:
	// the format of the request in the metrics and the log.
	Schema AutodiscoverSchema
}

// AnswerAutodiscover answers a POX POST body (docs/autodiscover.md),
// appending the answer's document to dst, whose memory the caller may
// reuse once it has sent it. hostDomain is the served domain the request's
// Host header names (autodiscover.<domain> or <domain>), or "" when it
// names none, such as the service's own host name reached through an SRV
// record. Bodies are parsed through c's cache of recent parses (clients
// send the same bytes again and again).
//
//   - A request that does not parse gets the 600 error document when the
//     Host names a served domain, else the parse error (a 400): there is
//     no one to answer for.
//   - An address whose domain is not served is ErrUnknownDomain (a plain
//     404, so that clients move on to their next candidate URL).
//   - An address served by another provider than the Host's domain is
//     ErrBadRequest: one customer's host does not answer for another's.
//   - An AcceptableResponseSchema we do not serve gets 601.
//   - Otherwise the provider's answer in the accepted dialect.
//
// login, when not nil, is called with the provider and the request's
// address once both are known and before rendering, and returns the
// address's Login (a directory's login name, for %LOGIN%), or "" for the
// fallback.
func (c *Catalog) AnswerAutodiscover(dst []byte, hostDomain string, body []byte, now time.Time, login func(*Provider, Address) string) (AutodiscoverReply, error) {
	req, err := c.parseRequest(body)
	if err != nil {
		if hostDomain == "" {
			return AutodiscoverReply{}, err
		}
		return AutodiscoverReply{
			Body:    append(dst, AutodiscoverError(req.Schema, CodeInvalidRequest, now)...),
			Domain:  hostDomain,
			Problem: err,
			Schema:  req.Schema,
		}, nil
	}
	addr := req.Address
	p, err := c.Lookup(addr.Domain)
	if err != nil {
		return AutodiscoverReply{}, err
	}
	if hostDomain != "" {
		if hp, err := c.Lookup(hostDomain); err != nil || hp != p {
			return AutodiscoverReply{}, fmt.Errorf("%w: the address's domain is not served at this host", ErrBadRequest)
		}
	}
	if login != nil {
		addr.Login = login(p, addr)
	}
	reply := AutodiscoverReply{Domain: addr.Domain, Address: addr, Schema: req.Schema}
	switch {
	case !req.Supported:
		reply.Problem = fmt.Errorf("%w: unsupported AcceptableResponseSchema", ErrBadRequest)
		reply.Body = append(dst, AutodiscoverError(req.Schema, CodeNoProvider, now)...)
	case req.Accept == MobileSyncSchema:
		if reply.Body, err = c.MobileSync(dst, p, addr.Domain, &addr, Options{}); err != nil {
			reply.Problem = err
			reply.Body = append(dst, AutodiscoverError(MobileSyncSchema, CodeNoProvider, now)...)
		}
	default:
		if reply.Body, err = c.Autodiscover(dst, p, addr.Domain, &addr, Options{}); err != nil {
			return AutodiscoverReply{}, err
		}
	}
	return reply, nil
}

// Autodiscover renders the outlook-schema answer (docs/autodiscover.md#pox-response; docs/autodiscover.md#redirects)
// of provider p for the e-mail domain domain (lower-case A-label).
// With an address (POST) login names are filled in; with a nil addr (GET,
// which names no address) only %EMAILDOMAIN% is, and the other
// placeholders are left for the client.
//
// A redirect_url gives Action redirectUrl; a redirect_address gives
// redirectAddr, unless addr is nil and the template needs the local part,
// when the settings are given instead. Otherwise Action settings lists one
// Protocol per advertised server, incoming then outgoing, in catalog order.
// No element has a namespace prefix: Thunderbird and Delta Chat match
// prefixed names literally and miss them (docs/autodiscover.md#pox-response).
// It reads no opts.
func (c *Catalog) Autodiscover(dst []byte, p *Provider, domain string, addr *Address, _ Options) ([]byte, error) {
	if err := checkRender(p, addr, false); err != nil {
		return dst, err
	}
	addr = withLogin(addr)
	action, target := autodiscoverAction(p, domain, addr)
	if out := c.autodiscoverTemplate(p, action, addr).Append(dst, c.addressFill(p, domain, addr, target)); out != nil {
		return out, nil
	}
	return append(dst, autodiscoverDoc(p, action, target, domain, addr)...), nil
}

// poxAction is the Action of an outlook-schema answer.
type poxAction uint8

const (
	actionSettings poxAction = iota
	actionRedirectURL
	actionRedirectAddr
)

// autodiscoverAction decides what Autodiscover answers (see there), and
// for a redirect where to: the URL or the expanded address.
func autodiscoverAction(p *Provider, domain string, addr *Address) (poxAction, string) {
	r := p.RedirectFor(domain)
	if r.URL != "" {
		return actionRedirectURL, r.URL
	}
	if to, ok := r.redirectAddress(addr); ok && r.Address != "" {
		return actionRedirectAddr, to
	}
	return actionSettings, ""
}

// autodiscoverDoc builds the outlook-schema answer with etree: the
// reference renderer, also run once per provider to pre-render it
// (prerender.go).
func autodiscoverDoc(p *Provider, action poxAction, target, domain string, addr *Address) []byte {
	doc, resp := responseDoc(nsOutlookResponse)
	switch action {
	case actionRedirectURL:
		acct := resp.CreateElement("Account")
		acct.CreateElement("AccountType").SetText("email")
		acct.CreateElement("Action").SetText("redirectUrl")
		acct.CreateElement("RedirectUrl").SetText(target)
		return writeDoc(doc)
	case actionRedirectAddr:
		acct := resp.CreateElement("Account")
		acct.CreateElement("AccountType").SetText("email")
		acct.CreateElement("Action").SetText("redirectAddr")
		acct.CreateElement("RedirectAddr").SetText(target)
		return writeDoc(doc)
	}

	user := resp.CreateElement("User")
	user.CreateElement("DisplayName").SetText(userDisplayName(p, addr))
	acct := resp.CreateElement("Account")
	acct.CreateElement("AccountType").SetText("email")
	acct.CreateElement("Action").SetText("settings")
	incoming := p.AdvertisedIncoming()
	for _, s := range incoming {
		poxProtocol(acct, s, domain, addr, incoming[0])
	}
	for _, s := range p.AdvertisedOutgoing() {
		poxProtocol(acct, s, domain, addr, incoming[0])
	}
	return writeDoc(doc)
}

// userDisplayName is the address when there is one (we do not know the
// person's name), else the provider's name.
func userDisplayName(p *Provider, addr *Address) string {
	if addr != nil {
		return addr.String()
	}
	return p.DisplayName
}

// poxType is the Protocol Type of each protocol: upper case, which
// Thunderbird requires exactly (docs/thunderbird-parser.md#readautodiscoverxml).
var poxType = map[Protocol]string{IMAP: "IMAP", POP3: "POP3", SMTP: "SMTP"}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// poxProtocol writes one Protocol element (docs/autodiscover.md#pox-response table).
//
// TLS mode: SSL on for both modes, Encryption SSL (implicit TLS) or TLS
// (STARTTLS), so that Outlook tells them apart. Thunderbird ignores the
// Encryption value and infers STARTTLS from ports 143, 110, 25 and 587,
// implicit TLS from any other; Delta Chat tries implicit TLS, then
// STARTTLS. Servers without TLS are never listed.
func poxProtocol(acct *etree.Element, s Server, domain string, addr *Address, firstIncoming Server) {
	el := acct.CreateElement("Protocol")
	el.CreateElement("Type").SetText(poxType[s.Protocol])
	el.CreateElement("Server").SetText(s.Host)
	el.CreateElement("Port").SetText(strconv.Itoa(s.Port))
	el.CreateElement("LoginName").SetText(loginName(s.Username, domain, addr))
	el.CreateElement("DomainRequired").SetText("off")
	// SPA is NTLM-style "secure password authentication"; Thunderbird
	// maps on to its encrypted-password methods. Only a server that
	// refuses cleartext passwords gets on (absent means on: spa-pox).
	el.CreateElement("SPA").SetText(onOff(!slices.Contains(s.Auth, "password-cleartext")))
	el.CreateElement("SSL").SetText("on")
	if s.Security == TLS {
		el.CreateElement("Encryption").SetText("SSL")
	} else {
		el.CreateElement("Encryption").SetText("TLS")
	}
	el.CreateElement("AuthRequired").SetText("on")
	if s.Protocol == SMTP {
		// Reuse the incoming credentials when the login names agree.
		el.CreateElement("UsePOPAuth").SetText(onOff(s.Username == firstIncoming.Username))
		el.CreateElement("SMTPLast").SetText(onOff(slices.Contains(s.Auth, "smtp-after-pop")))
	}
	el.CreateElement("TTL").SetText(strconv.Itoa(AutodiscoverTTL))
}

// loginName fills a username template for addr, or with no address only
// its %EMAILDOMAIN% (and %LOGIN% as %EMAILADDRESS%, for the client).
func loginName(template, domain string, addr *Address) string {
	if addr != nil {
		return expandUsername(template, addr)
	}
	return strings.ReplaceAll(expandUsername(template, nil), PlaceholderDomain, domain)
}

// MobileSync renders the mobilesync-schema answer (docs/autodiscover.md#mobilesync,
// [MS-ASCMD] §2.2.3) for addr: the provider's ActiveSync URL, or Action
// Redirect for a redirect_address. When there is nothing to say in this
// schema, no ActiveSync URL, it returns an error wrapping ErrBadRequest
// (AnswerAutodiscover answers 601). It never lists IMAP or SMTP. A
// redirect_url is not expressed: the schema has no element for it. It
// reads no opts.
func (c *Catalog) MobileSync(dst []byte, p *Provider, _ string, addr *Address, _ Options) ([]byte, error) {
	if err := checkRender(p, addr, true); err != nil {
		return dst, err
	}
	to, redirect, ok := mobileSyncAction(p, *addr)
	if !ok {
		return dst, fmt.Errorf("%w: no ActiveSync server for this domain", ErrBadRequest)
	}
	if out := c.mobileSyncTemplate(p, redirect).Append(dst, c.addressFill(p, addr.Domain, addr, to)); out != nil {
		return out, nil
	}
	return append(dst, mobileSyncDoc(p, to, redirect, *addr)...), nil
}

// mobileSyncAction decides what MobileSync answers: a redirect to the
// address to, or the ActiveSync settings; ok is false when neither.
func mobileSyncAction(p *Provider, addr Address) (to string, redirect, ok bool) {
	r := p.RedirectFor(addr.Domain)
	to, redirect = r.redirectAddress(&addr)
	redirect = redirect && r.Address != ""
	return to, redirect, redirect || p.ActiveSync != ""
}

// mobileSyncDoc builds the mobilesync-schema answer with etree, the
// reference renderer of MobileSync.
func mobileSyncDoc(p *Provider, to string, redirect bool, addr Address) []byte {
	doc, resp := responseDoc(nsMobileSyncResponse)
	resp.CreateElement("Culture").SetText("en:us")
	user := resp.CreateElement("User")
	user.CreateElement("DisplayName").SetText(addr.String())
	user.CreateElement("EMailAddress").SetText(addr.String())
	action := resp.CreateElement("Action")
	if redirect {
		// Redirect holds the address whose domain the client asks next
		// ([MS-ASCMD] §2.2.3.147).
		action.CreateElement("Redirect").SetText(to)
		return writeDoc(doc)
	}
	srv := action.CreateElement("Settings").CreateElement("Server")
	srv.CreateElement("Type").SetText("MobileSync")
	srv.CreateElement("Url").SetText(p.ActiveSync)
	srv.CreateElement("Name").SetText(p.ActiveSync)
	return writeDoc(doc)
}

// errorID is the Error element's Id, "a hash of the server name"
// (error-pox): any stable number does.
var errorID = strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte("mailautoconf"))), 10)

// errorMessages are the fixed Message texts; nothing of the request is
// ever echoed.
var errorMessages = map[int]string{
	CodeInvalidRequest: "Invalid Request",
	CodeNoProvider:     "Provider is not available",
}

// AutodiscoverError renders the Error document with code in the response
// namespace of schema (docs/autodiscover.md#errors, [MS-ASCMD] example feb9c8a3):
// Response/Error with Time and Id attributes, ErrorCode, Message and an
// empty DebugData. now is the response time, given for reproducible
// output.
func AutodiscoverError(schema AutodiscoverSchema, code int, now time.Time) []byte {
	t := errorTime(now)
	if b := errorTemplate(schema, code).Append(nil, splice.Values{holeValue: t}); b != nil {
		return b
	}
	return autodiscoverErrorDoc(schema, code, t)
}

// errorTime is the Error element's Time: the time of day in UTC.
func errorTime(now time.Time) string {
	var buf [24]byte
	return string(now.UTC().AppendFormat(buf[:0], "15:04:05.0000000"))
}

// autodiscoverErrorDoc builds the Error document with etree, the
// reference renderer of AutodiscoverError.
func autodiscoverErrorDoc(schema AutodiscoverSchema, code int, time string) []byte {
	ns := ""
	if schema == MobileSyncSchema {
		ns = nsMobileSyncResponse
	}
	doc, resp := responseDoc(ns)
	el := resp.CreateElement("Error")
	el.CreateAttr("Time", time)
	el.CreateAttr("Id", errorID)
	el.CreateElement("ErrorCode").SetText(strconv.Itoa(code))
	el.CreateElement("Message").SetText(errorMessages[code])
	el.CreateElement("DebugData")
	return writeDoc(doc)
}

// responseDoc starts an Autodiscover response document whose Response
// element is in namespace ns ("" keeps the outer responseschema/2006).
// Both are default namespaces, never prefixes.
func responseDoc(ns string) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	root := doc.CreateElement("Autodiscover")
	root.CreateAttr("xmlns", nsAutodiscoverResponse)
	resp := root.CreateElement("Response")
	if ns != "" {
		resp.CreateAttr("xmlns", ns)
	}
	return doc, resp
}

func writeDoc(doc *etree.Document) []byte {
	doc.Indent(2)
	b, err := doc.WriteToBytes()
	if err != nil {
		panic("etree: writing to memory failed: " + err.Error())
	}
	return b
}
