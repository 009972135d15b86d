package handlers

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	qr "github.com/piglig/go-qr"

	"mailautoconf/internal/i18n"
	"mailautoconf/provision"
)

// The setup page: GET / shows one field for an address; with ?email= it
// shows how to set that address up: the profile for Apple devices (a
// button, and a QR code of its URL for a phone when the page is open on a
// computer), the settings for any other client, the IMAP/POP3 choice
// where the provider offers both, and a word on the clients that need
// only the address. Everything is rendered here from embedded files; the
// page needs no JavaScript and loads nothing from elsewhere.

//go:embed web
var webFiles embed.FS

var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"wrapPoints": wrapPoints,
	// T is a message of the catalog (internal/i18n) in a language: text,
	// which the template escapes like any other value.
	"T": func(l i18n.Lang, id string, args ...string) string { return l.T(id, args...) },
	// around is a one-placeholder message cut at its placeholder, for
	// markup the message cannot hold around the value (an address with
	// its <wbr>s): the text before it and the text after.
	"around": func(l i18n.Lang, id string) [2]string {
		before, after, _ := strings.Cut(l.T(id, "\x00"), "\x00")
		return [2]string{before, after}
	},
}).ParseFS(webFiles, "web/page.html"))

// wrapPoints cuts a host name or login after each dot and @, where the
// template puts a <wbr>: on a phone a long name then wraps between its
// labels rather than inside one.
func wrapPoints(s string) []string {
	var parts []string
	for {
		i := strings.IndexAny(s, ".@")
		if i < 0 {
			break
		}
		parts = append(parts, s[:i+1])
		s = s[i+1:]
	}
	return append(parts, s)
}

// staticFiles are the files /static/ serves, with their media types.
var staticFiles = map[string]string{
	"page.css": "text/css; charset=utf-8",
	"icon.svg": "image/svg+xml",
}

// acceptLanguageVary is the Vary value of every answer whose text
// depends on the language (negotiateLanguage), shared like answer.go's
// fixed values.
var acceptLanguageVary = fixedValue("Accept-Language")

// defaultAccent is the page colour of hosts and providers without one.
const defaultAccent = "#1a5fb4"

// pageView is everything the template shows.
type pageView struct {
	Lang i18n.Lang
	// LangParam is set when ?lang= chose the language: the page's forms
	// and links then carry it on.
	LangParam bool
	Langs     []pageLang // the language menu
	Brand     pageBrand
	Email     string // the address field, as typed
	Problem   string // why the address was refused, for the person
	Result    *pageResult
	Error     *pageError // a person's 404 or 400 page (errors.go)
	AgainURL  string     // the form, in this language
	Support   string     // the provider's support line (texts.support)
}

// pageLang is one entry of the language menu: a link to the same page
// in that language, or the language shown.
type pageLang struct {
	Code, Name, URL string
	Current         bool
}

// pageError is the body of an error page a person meets.
type pageError struct {
	Title, Text string
}

type pageBrand struct {
	Name  string
	Style template.CSS // the accent colours, a :root rule built from validated colours
}

type pageResult struct {
	Address    string
	Provider   string
	ProfileURL string       // relative: the install button
	QRURL      string       // relative: the QR code image of the profile's absolute URL
	Choice     bool         // the provider offers IMAP and POP3
	POP3       bool         // POP3 is chosen
	Servers    []pageServer // incoming, then outgoing
	CalDAV     string
	CardDAV    string
}

type pageServer struct {
	Title    string // message id: "manual.incoming"
	Password string // message id: what to type as password
	Protocol string
	Host     string
	Port     int
	Security string
	Username string
}

// page serves / on every host. The host's provider, if the host is a
// served domain or autoconfig.<domain>, brands the form; a result page
// is branded by the provider of the address. Its language is ?lang=,
// else the browser's Accept-Language (internal/i18n), else English.
func (h *Handler) page(c echo.Context) error {
	cat := h.cfg.Catalog.Load()
	l, explicit := requestLanguage(c)
	v := &pageView{Lang: l, LangParam: explicit, Brand: brandFor(nil, l)}
	if p, _, err := hostProvider(cat, c.Request().Host, "autoconfig."); err == nil {
		v.setProvider(p)
	}
	if raw := queryValues(c, "email"); len(raw) > 0 {
		v.Email = raw[0]
		if len(v.Email) > 320 {
			v.Email = v.Email[:320]
		}
		// Shown again in the field: never bytes that are not UTF-8 (the
		// page would not be), whatever the query held.
		v.Email = strings.ToValidUTF8(v.Email, "")
	}
	var domain string
	var proto provision.Protocol
	setErrorPage(c, func(status int, err error) error {
		v.Problem = problemText(l, status, err, domain)
		v.setLinks(v.Email, proto)
		return renderPage(c, status, v)
	})

	addr, err := queryAddress(c, "email")
	if err != nil {
		return err
	}
	if addr == nil {
		v.setLinks("", "")
		return renderPage(c, http.StatusOK, v)
	}
	domain = addr.Domain
	raw, err := singleQueryValue(c, "protocol")
	if err != nil {
		return err
	}
	if proto, err = provision.ParseProtocolChoice(raw); err != nil {
		return err
	}
	p, err := cat.Lookup(addr.Domain)
	if err != nil {
		return err
	}
	noteRequest(c, addr.Domain, addr)
	h.setLogin(c.Request().Context(), p, addr) // login.go
	acct, err := provision.ChooseAccount(p, *addr, proto)
	if err != nil {
		return err
	}
	v.setProvider(p)
	v.Email = addr.String()
	langParam := ""
	if explicit {
		langParam = l.Code()
	}
	v.Result = newPageResult(p, acct, langParam)
	v.setLinks(v.Email, acct.Incoming.Protocol)
	return renderPage(c, http.StatusOK, v)
}

// setProvider brands the page with p's name and colour, and shows its
// support line in the page's language.
func (v *pageView) setProvider(p *provision.Provider) {
	v.Brand = brandFor(p, v.Lang)
	v.Support = p.Text(v.Lang).Support
}

// setLinks fills the language menu and the link back to the form: the
// same page (its address and protocol choice) in each language.
func (v *pageView) setLinks(email string, proto provision.Protocol) {
	q := url.Values{}
	if email != "" {
		q.Set("email", email)
	}
	if proto == provision.POP3 {
		q.Set("protocol", string(proto))
	}
	v.Langs = make([]pageLang, 0, len(i18n.All()))
	for _, l := range i18n.All() {
		q.Set("lang", l.Code())
		v.Langs = append(v.Langs, pageLang{Code: l.Code(), Name: l.Name(), URL: "/?" + q.Encode(), Current: l == v.Lang})
	}
	v.AgainURL = "/"
	if v.LangParam {
		v.AgainURL = "/?lang=" + v.Lang.Code()
	}
}

// requestLanguage is the language of a page or profile request: ?lang=
// when it names one of ours (explicit), else the Accept-Language
// header's choice. A repeated ?lang= counts by its first value: the
// page must still answer in some language.
func requestLanguage(c echo.Context) (l i18n.Lang, explicit bool) {
	var param string
	if vals := queryValues(c, "lang"); len(vals) > 0 {
		param = vals[0]
	}
	return negotiateLanguage(c, param)
}

// negotiateLanguage picks the language from a ?lang= value and the
// request's Accept-Language header (i18n.Negotiate), and marks the
// answer as depending on the header: caches keep one copy per value
// (RFC 9110 section 12.5.5).
func negotiateLanguage(c echo.Context, param string) (i18n.Lang, bool) {
	c.Response().Header()[echo.HeaderVary] = acceptLanguageVary
	if l, ok := i18n.MatchParam(param); ok {
		return l, true
	}
	req := c.Request()
	h := req.Header["Accept-Language"]
	if len(h) == 0 {
		return i18n.English, false
	}
	return i18n.MatchHeader(h[0]), false
}

// newPageResult is the result page of account a. lang, when set, is the
// language ?lang= chose, which the profile's and the QR code's links
// carry on; without it the profile follows the device's own
// Accept-Language.
func newPageResult(p *provision.Provider, a provision.MailAccount, lang string) *pageResult {
	chosen := a.Incoming.Protocol
	return &pageResult{
		Address:    a.Address.String(),
		Provider:   p.DisplayName,
		ProfileURL: profilePath(a.Address, chosen, lang),
		QRURL:      "/qr.png?" + strings.TrimPrefix(profilePath(a.Address, chosen, lang), "/mobileconfig?"),
		Choice:     len(a.Protocols) > 1,
		POP3:       chosen == provision.POP3,
		Servers: []pageServer{
			newPageServer("manual.incoming", a.Incoming, a.IncomingUsername, "manual.password.incoming"),
			newPageServer("manual.outgoing", a.Outgoing, a.OutgoingUsername, "manual.password.outgoing"),
		},
		CalDAV:  p.CalDAV,
		CardDAV: p.CardDAV,
	}
}

func newPageServer(title string, s provision.Server, user, password string) pageServer {
	return pageServer{
		Title:    title,
		Password: password,
		Protocol: strings.ToUpper(string(s.Protocol)),
		Host:     s.Host,
		Port:     s.Port,
		Security: provision.SecurityLabel(s.Security),
		Username: user,
	}
}

// problemText says, in l, for a person, why the page could not help. It
// quotes the domain, which parsed; never the raw input.
func problemText(l i18n.Lang, status int, err error, domain string) string {
	switch {
	case status == http.StatusNotFound && errors.Is(err, provision.ErrUnknownDomain):
		return l.T("problem.unknown-domain", domain)
	case errors.Is(err, provision.ErrBadAddress):
		return l.T("problem.bad-address", l.T(addressReason(err)))
	case status == http.StatusBadRequest:
		return l.T("problem.bad-request")
	}
	return l.T("problem.internal")
}

// addressReason names, as a message id, which part of an address
// provision.ParseAddress refused: its messages, "no @", "... local part
// ...", and the domain's, are the kinds a person can fix
// (TestAddressReason holds this to them).
func addressReason(err error) string {
	msg := err.Error()
	switch {
	case strings.HasSuffix(msg, ": no @"):
		return "reason.no-at"
	case strings.Contains(msg, "local part"):
		return "reason.local"
	}
	return "reason.domain"
}

// renderPage writes the page with its security headers. The Content
// Security Policy allows our own style sheet and images, and the one
// inline <style> of the accent colours by its hash: nothing else, no
// script at all.
func renderPage(c echo.Context, status int, v *pageView) error {
	if v.Langs == nil {
		v.setLinks("", "")
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, v); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(v.Brand.Style))
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'self' 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hdr.Set(echo.HeaderXContentTypeOptions, "nosniff")
	hdr.Set(echo.HeaderXFrameOptions, "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set(echo.HeaderCacheControl, "no-store")
	return c.HTMLBlob(status, b.Bytes())
}

// brandFor returns the page's name and colours: the provider's where set,
// else neutral ones, named in l.
func brandFor(p *provision.Provider, l i18n.Lang) pageBrand {
	name, accent := l.T("brand.default"), defaultAccent
	if p != nil {
		name = p.DisplayName
		if p.Color != "" {
			accent = p.Color
		}
	}
	// The colour went through provision.ParseColor ("#rrggbb"), the only
	// thing allowed into this trusted CSS.
	if c, ok := provision.ParseColor(accent); ok {
		accent = c
	} else {
		accent = defaultAccent
	}
	style := fmt.Sprintf(":root{--accent:%s;--on-accent:%s}", accent, inkOn(accent))
	return pageBrand{Name: name, Style: template.CSS(style)}
}

// inkOn picks black or white text for a background colour "#rrggbb",
// whichever contrasts more (WCAG relative luminance).
func inkOn(hex string) string {
	lum := 0.0
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			s /= 12.92
		} else {
			s = math.Pow((s+0.055)/1.055, 2.4)
		}
		lum += w * s
	}
	// Contrast with white is 1.05/(L+0.05), with black (L+0.05)/0.05.
	if 1.05/(lum+0.05) >= (lum+0.05)/0.05 {
		return "#ffffff"
	}
	return "#000000"
}

// qrCode serves a PNG QR code of the absolute URL of an address's profile,
// for a phone to scan from the page on a computer. It encodes only a URL
// it builds itself (one of our names for the address, qrOrigin; our path;
// the parsed address), never text a client supplied.
func (h *Handler) qrCode(c echo.Context) error {
	addr, opts, lang, err := profileRequest(c, "email")
	if err != nil {
		return err
	}
	// The code carries a language only as a code of ours that ?lang=
	// chose, never the text a client sent.
	if l, ok := i18n.MatchParam(lang); ok {
		lang = l.Code()
	} else {
		lang = ""
	}
	cat := h.cfg.Catalog.Load()
	p, err := cat.Lookup(addr.Domain)
	if err != nil {
		return err
	}
	acct, err := provision.ChooseAccount(p, *addr, opts.Protocol)
	if err != nil {
		return err
	}
	origin, err := h.qrOrigin(c, p, *addr) // origin.go: never a host the request chose
	if err != nil {
		return err
	}
	noteRequest(c, addr.Domain, addr)
	code, err := qr.EncodeText(origin+profilePath(*addr, acct.Incoming.Protocol, lang), qr.Medium)
	if err != nil {
		return err
	}
	// One pixel per module, the 4-module quiet zone around: the page
	// scales it up without smoothing (page.css). A bigger image costs
	// more to draw than to encode, for nothing.
	png, err := code.ToPNGBytes(qr.NewQrCodeImgConfig(1, 4))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, profileCache)
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.Blob(http.StatusOK, "image/png", png)
}

// static serves the page's style sheet and icon.
func (h *Handler) static(c echo.Context) error {
	name := c.Param("file")
	ctype, ok := staticFiles[name]
	if !ok {
		return echo.ErrNotFound
	}
	body, err := webFiles.ReadFile("web/" + name)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=86400")
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.Blob(http.StatusOK, ctype, body)
}
