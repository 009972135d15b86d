package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"mailautoconf/internal/profilesign"
	"mailautoconf/provision"
)

// A profile names one person's address, and a signed one changes with its
// signing time: caches along the way must not share it.
const profileCache = "private, no-cache"

// mobileconfig serves an Apple configuration profile (docs/apple-profiles.md) for
// the address in ?email= (/mobileconfig, /email.mobileconfig).
func (h *Handler) mobileconfig(c echo.Context) error { return h.profile(c, "email") }

// appleProfile is /apple?emailaddress=, the spelling other autoconfig
// services hand out.
func (h *Handler) appleProfile(c echo.Context) error { return h.profile(c, "emailaddress") }

func (h *Handler) profile(c echo.Context, param string) error {
	addr, opts, lang, err := profileRequest(c, param)
	if err != nil {
		return err
	}
	// The profile's visible strings are in the person's language
	// (?lang=, else Accept-Language); its identifiers are not, so that
	// one address's profile in another language replaces the first.
	opts.Language, _ = negotiateLanguage(c, lang)
	cat := h.cfg.Catalog.Load()
	p, err := cat.Lookup(addr.Domain)
	if err != nil {
		return err
	}
	noteRequest(c, addr.Domain, addr)
	// The login is part of the cache key (profileKey.addr): a login
	// that changes in the directory makes a new profile.
	h.setLogin(c.Request().Context(), p, addr) // login.go
	signer := h.profileSigner()
	key := profileKey{provider: p.ID, addr: *addr, opts: opts}
	var now time.Time // a signed profile's clock; an unsigned one has none
	if signer != nil {
		now = h.cfg.Profiles.clock()
		// The window's time, not the first download's (internal/profilesign).
		key.signed = signer.SigningTime(now).Unix()
	}
	sp, ok := h.cfg.Profiles.get(cat, signer, key) // profilecache.go
	if !ok {
		if sp.body, err = cat.Mobileconfig(nil, p, addr.Domain, addr, provision.Options{Profile: opts}); err != nil {
			return err
		}
		if signer != nil {
			if sp.body, err = signer.SignAt(sp.body, now); err != nil {
				return err
			}
		}
		// The name holds only [a-z0-9.-] (ProfileFileName): quoting is
		// all it needs.
		sp.disposition = fixedValue(`attachment; filename="` + provision.ProfileFileName(*addr) + `"`)
		h.cfg.Profiles.put(cat, signer, key, sp)
	}
	hdr := c.Response().Header()
	hdr[echo.HeaderXContentTypeOptions] = nosniffValues
	hdr[echo.HeaderContentDisposition] = sp.disposition
	return answer(c, http.StatusOK, profileCaches, mobileconfigContentTypes, sp.body)
}

// profileSigner returns the current signer, or nil to serve profiles
// unsigned.
func (h *Handler) profileSigner() *profilesign.Signer {
	if h.cfg.Signer == nil {
		return nil
	}
	return h.cfg.Signer.Load()
}

// profileRequest reads what a profile request asks for: the address in
// param (required), and the optional protocol (imap, pop3), name and
// lang (the ?lang= value as given, for negotiateLanguage).
func profileRequest(c echo.Context, param string) (*provision.Address, provision.ProfileOptions, string, error) {
	var opts provision.ProfileOptions
	names := [...]string{param, "protocol", "name", "lang"}
	var vals [len(names)]string
	if err := singleQueryValues(c, names[:], vals[:]); err != nil {
		return nil, opts, "", err
	}
	addr, err := parseAddress(c, vals[0])
	if err != nil {
		return nil, opts, "", err
	}
	if addr == nil {
		return nil, opts, "", fmt.Errorf("%w: %s missing", provision.ErrBadRequest, param)
	}
	if opts.Protocol, err = provision.ParseProtocolChoice(vals[1]); err != nil {
		return nil, opts, "", err
	}
	opts.Name = vals[2]
	if err := provision.CheckAccountName(opts.Name); err != nil {
		return nil, opts, "", err
	}
	return addr, opts, vals[3], nil
}

// profilePath is the path and query of addr's profile with the given
// protocol choice, as the setup page links it and its QR code encodes it.
// lang, when not "", is the code of a language ?lang= chose on the page.
func profilePath(addr provision.Address, proto provision.Protocol, lang string) string {
	q := url.Values{"email": {addr.String()}}
	if proto == provision.POP3 {
		q.Set("protocol", string(proto))
	}
	if lang != "" {
		q.Set("lang", lang)
	}
	return "/mobileconfig?" + q.Encode()
}
