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
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	qr "github.com/piglig/go-qr"

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

// defaultAccent is the page colour of hosts and providers without one.
const defaultAccent = "#1a5fb4"

// pageView is everything the template shows.
type pageView struct {
	Brand   pageBrand
	Email   string // the address field, as typed
	Problem string // why the address was refused, for the person
	Result  *pageResult
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
	Title    string // "Incoming mail"
	Password string // what to type as password
	Protocol string
	Host     string
	Port     int
	Security string
	Username string
}

// page serves / on every host. The host's provider, if the host is a
// served domain or autoconfig.<domain>, brands the form; a result page
// is branded by the provider of the address.
func (h *Handler) page(c echo.Context) error {
	cat := h.cfg.Catalog.Load()
	v := &pageView{Brand: brandFor(nil)}
	if p, _, err := hostProvider(cat, c.Request().Host, "autoconfig."); err == nil {
		v.Brand = brandFor(p)
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
	setErrorPage(c, func(status int, err error) error {
		v.Problem = problemText(status, err, domain)
		return renderPage(c, status, v)
	})

	addr, err := queryAddress(c, "email")
	if err != nil {
		return err
	}
	if addr == nil {
		return renderPage(c, http.StatusOK, v)
	}
	domain = addr.Domain
	raw, err := singleQueryValue(c, "protocol")
	if err != nil {
		return err
	}
	proto, err := provision.ParseProtocolChoice(raw)
	if err != nil {
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
	v.Brand = brandFor(p)
	v.Email = addr.String()
	v.Result = newPageResult(p, acct)
	return renderPage(c, http.StatusOK, v)
}

func newPageResult(p *provision.Provider, a provision.MailAccount) *pageResult {
	chosen := a.Incoming.Protocol
	return &pageResult{
		Address:    a.Address.String(),
		Provider:   p.DisplayName,
		ProfileURL: profilePath(a.Address, chosen),
		QRURL:      "/qr.png?" + strings.TrimPrefix(profilePath(a.Address, chosen), "/mobileconfig?"),
		Choice:     len(a.Protocols) > 1,
		POP3:       chosen == provision.POP3,
		Servers: []pageServer{
			newPageServer("Incoming mail", a.Incoming, a.IncomingUsername, "your mail password"),
			newPageServer("Outgoing mail", a.Outgoing, a.OutgoingUsername, "the same password"),
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

// problemText says, for a person, why the page could not help.
func problemText(status int, err error, domain string) string {
	switch {
	case status == http.StatusNotFound && errors.Is(err, provision.ErrUnknownDomain):
		return "We have no settings for addresses at " + domain + ". Check the address for typing errors, or ask whoever runs your mail."
	case errors.Is(err, provision.ErrBadAddress):
		return "That is not an e-mail address we can read (" + strings.TrimPrefix(boundedReason(err), provision.ErrBadAddress.Error()+": ") + "). Type it as name@example.com."
	case status == http.StatusBadRequest:
		return "The request was not understood (" + boundedReason(err) + ")."
	}
	return "Something went wrong on our side. Please try again later."
}

// renderPage writes the page with its security headers. The Content
// Security Policy allows our own style sheet and images, and the one
// inline <style> of the accent colours by its hash: nothing else, no
// script at all.
func renderPage(c echo.Context, status int, v *pageView) error {
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
// else neutral ones.
func brandFor(p *provision.Provider) pageBrand {
	name, accent := "Mail setup", defaultAccent
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
	addr, opts, err := profileRequest(c, "email")
	if err != nil {
		return err
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
	code, err := qr.EncodeText(origin+profilePath(*addr, acct.Incoming.Protocol), qr.Medium)
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
