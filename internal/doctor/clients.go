package doctor

// Each client's lookup sequence (docs/clients.md), replayed.

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
)

type client struct {
	id, name string
	run      func(ctx context.Context, c *ClientResult)
}

func (r *run) clients() []client {
	return []client{
		{"thunderbird", "Thunderbird", r.thunderbird},
		{"k9", "Thunderbird for Android / K-9", r.k9},
		{"evolution", "Evolution", r.evolution},
		{"fairemail", "FairEmail", r.fairEmail},
		{"kmail", "KMail", r.kmail},
		{"deltachat", "Delta Chat", r.deltaChat},
		{"outlook", "Outlook (classic, POX)", r.outlook},
		{"outlook-json", "Outlook (Microsoft 365, autodiscover.json)", r.outlookJSON},
		{"new-outlook", "New Outlook / Outlook mobile (mobilesync)", r.newOutlook},
		{"apple", "Apple Mail (profile)", r.apple},
		{"pacc", "PACC (draft-ietf-mailmaint-pacc)", r.pacc},
		// Read from their sources (docs/clients/<client>.md), one file each.
		{"geary", "Geary", r.geary},
		{"gnome", "GNOME Online Accounts", r.gnome},
		{"aerc", "aerc", r.aerc},
		{"claws", "Claws Mail", r.claws},
		{"nextcloud", "Nextcloud Mail", r.nextcloud},
		{"thunderbird-ios", "Thunderbird for iOS", r.thunderbirdIOS},
	}
}

const configPath = "/mail/config-v1.1.xml"
const wellKnownPath = "/.well-known/autoconfig/mail/config-v1.1.xml"

// maxRedirects is how many HTTP redirects the clients follow.
const maxRedirects = 10

func (r *run) q() string { return "?emailaddress=" + url.QueryEscape(r.id.address) }

// acMode is how a client walks its autoconfig URL list.
type acMode int

const (
	// firstAnswer: the first URL in priority order that answers 2xx
	// wins, valid or not (Thunderbird's race, KMail's "200 ends it").
	firstAnswer acMode = iota
	// firstValid: a URL whose answer the reader refuses is passed over.
	firstValid
)

// autoconfig fetches urls in order and reads answers with read. It
// returns the accepted verdict and the URL, or a refusal.
// userAgent is the client's User-Agent, "" for the doctor's own.
func (r *run) autoconfig(ctx context.Context, c *ClientResult, urls []string, mode acMode, exact200 bool, userAgent string, read func(ct string, body []byte) verdict) (verdict, string) {
	last := refuse("no URL answered", "")
	for _, u := range urls {
		step, f := r.get(ctx, c, request{method: "GET", url: u, maxRedirects: maxRedirects, accept: "application/xml,text/xml,*/*", userAgent: userAgent})
		switch {
		case f.Err != "":
			step.Result = "no answer: " + f.Err
			continue
		case exact200 && f.Status != 200, f.Status < 200 || f.Status > 299:
			step.Result = fmt.Sprintf("HTTP %d: next URL", f.Status)
			continue
		}
		v := read(f.ContentType, f.body)
		if v.ok {
			step.Result = "accepted"
			return v, u
		}
		step.Result = "refused: " + v.reason
		last = v
		if mode == firstAnswer {
			last.reason = fmt.Sprintf("%s answered first and was refused: %s", u, v.reason)
			return last, ""
		}
	}
	if last.reason == "no URL answered" {
		last.reason = fmt.Sprintf("none of the %d autoconfig URLs answered (%s: %s)", len(urls), shortURLs(urls)[0], c.Steps[len(c.Steps)-len(urls)].Result)
		last.fix = fmt.Sprintf("publish autoconfig.%s (mailautoconf dns) and serve %s there over HTTPS", r.domain, configPath)
	}
	return last, ""
}

func shortURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		u, _, _ = strings.Cut(u, "?")
		out[i] = u
	}
	return out
}

// mxDomains are the domains Thunderbird and K-9 try after the MX
// (docs/dns.md#mx-based-lookup): the MX host minus its first label, then its
// registrable domain; none when that is the mail domain itself.
func (r *run) mxDomains(ctx context.Context, c *ClientResult) []string {
	host, ok := r.bestMX(ctx, c)
	if !ok {
		return nil
	}
	base, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil || base == r.domain {
		return nil
	}
	var out []string
	if _, full, ok := strings.Cut(host, "."); ok && len(full) > len(base) {
		out = append(out, full)
	}
	return append(out, base)
}

// bestMX is the domain's most preferred MX host, without the final dot,
// as the clients' MX fallbacks take it; false when the lookup failed
// (noted on c).
func (r *run) bestMX(ctx context.Context, c *ClientResult) (string, bool) {
	mx, problem := r.net.res.lookupMX(ctx, r.domain)
	if problem != "" {
		c.Notes = append(c.Notes, "MX lookup: "+problem)
		return "", false
	}
	best := mx[0]
	for _, m := range mx {
		if m.Pref < best.Pref {
			best = m
		}
	}
	return strings.TrimSuffix(best.Host, "."), true
}

// finish judges the endpoints the client would use and sets the status.
// all: the client probes every candidate (Delta Chat) and needs one
// working IMAP and one SMTP server; otherwise the chosen pair must work.
func (r *run) finish(ctx context.Context, c *ClientResult, v verdict, all bool) {
	if !v.ok {
		c.Status, c.Reason, c.Fix = Fail, v.reason, v.fix
		return
	}
	c.servers = v.candidates
	c.Notes = append(c.Notes, v.notes...)
	c.Notes = append(c.Notes, v.warnings...)
	status := Pass
	var problems, fixes []string
	if all {
		for _, proto := range []string{"imap", "smtp"} {
			okOne, tried := false, 0
			var bad []string
			for _, e := range v.candidates {
				if e.Protocol != proto {
					continue
				}
				tried++
				if res := r.probe(ctx, e); res.OK {
					if !okOne {
						// The client settles on the first candidate that works.
						if proto == "imap" {
							v.incoming = &e
						} else {
							v.outgoing = &e
						}
					}
					okOne = true
				} else {
					bad = append(bad, fmt.Sprintf("%s: %s", e, res.Problem))
				}
			}
			switch {
			case tried > 0 && !okOne:
				status = Fail
				problems = append(problems, strings.Join(bad, "; "))
				fixes = append(fixes, "make the advertised "+strings.ToUpper(proto)+" server reachable with the advertised TLS mode")
			case len(bad) > 0:
				c.Notes = append(c.Notes, bad...)
			}
		}
	} else {
		for _, e := range []*Endpoint{v.incoming, v.outgoing} {
			if e == nil {
				continue
			}
			if res := r.probe(ctx, *e); !res.OK {
				status = Fail
				problems = append(problems, fmt.Sprintf("%s: %s", e, res.Problem))
				fixes = append(fixes, fmt.Sprintf("open %s:%d and offer %s there, or advertise the server that does", e.Host, e.Port, e.Socket))
			}
		}
	}
	if len(v.fails) > 0 {
		status = Fail
		problems = append(problems, v.fails...)
		fixes = append(fixes, v.fix)
	}
	for _, e := range []*Endpoint{v.incoming, v.outgoing} {
		if e != nil && e.Socket == "plain" && status != Fail {
			status = Warn
			problems = append(problems, fmt.Sprintf("%s: no TLS, the password travels in clear", e))
			fixes = append(fixes, "advertise SSL or STARTTLS servers only")
		}
	}
	if status == Pass && len(v.warnings) > 0 {
		status = Warn
	}
	c.Incoming, c.Outgoing = v.incoming, v.outgoing
	c.Status = worse(c.Status, status)
	if status == Fail {
		c.Reason, c.Fix = strings.Join(problems, "; "), strings.Join(fixes, "; ")
		return
	}
	why := append(append(append(slices.Clone(c.warnings), problems...), v.warnings...), v.caveats...)
	c.Reason = fmt.Sprintf("configures %s and %s", v.incoming, endpointOr(v.outgoing, "its default SMTP server"))
	if len(why) > 0 {
		c.Reason += "; " + strings.Join(why, "; ")
	}
	c.Fix = strings.Join(fixes, "; ")
}

// warn marks a client as working with a catch, and says which.
func warn(c *ClientResult, why string) {
	c.Status = worse(c.Status, Warn)
	c.warnings = append(c.warnings, why)
}

func endpointOr(e *Endpoint, alt string) string {
	if e == nil {
		return alt
	}
	return e.String()
}

// httpOnly notes an answer that came over plain HTTP.
func httpHop(u string, f []string) bool {
	if strings.HasPrefix(u, "http://") {
		return true
	}
	for _, h := range f {
		if strings.HasPrefix(h, "http://") {
			return true
		}
	}
	return false
}

func (r *run) thunderbird(ctx context.Context, c *ClientResult) {
	d := r.domain
	urls := []string{
		"https://autoconfig." + d + configPath + r.q(),
		"https://" + d + wellKnownPath + r.q(),
		"http://autoconfig." + d + configPath + r.q(),
		"http://" + d + wellKnownPath + r.q(),
	}
	read := func(ct string, b []byte) verdict { return thunderbirdAutoconfig(ct, b, r.id) }
	v, src := r.autoconfig(ctx, c, urls, firstAnswer, false, "", read)
	if !v.ok {
		// fromISP failed; forMX is the next source in Thunderbird's
		// priority order (FindConfig).
		for _, md := range r.mxDomains(ctx, c) {
			if v2, src2 := r.autoconfig(ctx, c, []string{"https://autoconfig." + md + configPath + r.q()}, firstAnswer, false, "", read); v2.ok {
				v, src = v2, src2
				warn(c, "found through the MX domain "+md+": Thunderbird asks the user to confirm")
				break
			}
		}
	}
	if !v.ok {
		// Exchange Autodiscover runs alongside and is used when
		// autoconfig finds nothing (docs/thunderbird-parser.md#lookup-order).
		if av, asrc := r.tbAutodiscover(ctx, c); av.ok {
			c.Notes = append(c.Notes, "autoconfig failed ("+v.reason+"); Autodiscover answered")
			v, src = av, asrc
		}
	}
	c.Source = src
	if v.ok && strings.HasPrefix(src, "http://") {
		warn(c, "configured over plain HTTP: fix HTTPS for autoconfig."+d)
	}
	r.finish(ctx, c, v, false)
}

// tbAutodiscover is Thunderbird's Exchange Autodiscover: POST to the
// autodiscover host, the domain, the HTTP URL (following a redirect), and
// the SRV target.
func (r *run) tbAutodiscover(ctx context.Context, c *ClientResult) (verdict, string) {
	d := r.domain
	urls := []string{
		"https://autodiscover." + d + "/autodiscover/autodiscover.xml",
		"https://" + d + "/autodiscover/autodiscover.xml",
		"http://autodiscover." + d + "/autodiscover/autodiscover.xml",
	}
	if srv, problem := r.net.res.lookupSRV(ctx, "_autodiscover._tcp."+d); problem == "" && srv[0].Target != "." {
		urls = append(urls, "https://"+strings.TrimSuffix(srv[0].Target, ".")+"/autodiscover/autodiscover.xml")
	}
	body := autodiscoverRequest(r.id.address, false)
	for _, u := range urls {
		step, f := r.get(ctx, c, request{method: "POST", url: u, body: body, contentType: "text/xml; charset=utf-8", maxRedirects: maxRedirects})
		if f.Err != "" || f.Status < 200 || f.Status > 299 {
			step.Result = "Autodiscover: " + orStatus(f)
			continue
		}
		a := thunderbirdPOX(f.ContentType, f.body, r.id)
		if a.ok {
			step.Result = "Autodiscover accepted"
			return a.verdict, u
		}
		step.Result = "Autodiscover refused: " + a.reason
		if a.redirectAddr != "" {
			step.Result = fmt.Sprintf("RedirectAddr %q (restarts discovery for that address; not followed here)", a.redirectAddr)
		}
	}
	return refuse("no Autodiscover answer", ""), ""
}

func orStatus(f fetch) string {
	if f.Err != "" {
		return "no answer: " + f.Err
	}
	return fmt.Sprintf("HTTP %d", f.Status)
}

func (r *run) k9(ctx context.Context, c *ClientResult) {
	d := r.domain
	urls := []string{
		"https://autoconfig." + d + configPath,
		"https://" + d + wellKnownPath,
		"http://autoconfig." + d + configPath,
		"http://" + d + wellKnownPath,
	}
	read := func(_ string, b []byte) verdict { return k9Autoconfig(b, r.id) }
	// A refused document moves K-9 on to the next URL [UNCONFIRMED for
	// the newest discovery code; older versions took the first result
	// that parsed].
	v, src := r.autoconfig(ctx, c, urls, firstValid, false, "", read)
	if !v.ok {
		for _, md := range r.mxDomains(ctx, c) {
			if v2, src2 := r.autoconfig(ctx, c, []string{"https://autoconfig." + md + configPath}, firstValid, false, "", read); v2.ok {
				v, src = v2, src2
				warn(c, "found through the MX domain "+md)
				break
			}
		}
	}
	c.Source = src
	if v.ok && httpHop(src, c.Steps[len(c.Steps)-1].Redirects) {
		warn(c, "answer came over plain HTTP: K-9 marks it untrusted and asks the user; fix HTTPS for autoconfig."+d)
	}
	r.finish(ctx, c, v, false)
}

// evolutionUA is the User-Agent Evolution sends ("Evolution/" VERSION
// VERSION_SUBSTRING " " VERSION_COMMENT, e-mail-autoconfig.c): the
// service answers it with one server per type.
const evolutionUA = "Evolution/3.46.4 (mailautoconf doctor)"

// evolution is Evolution 3.46's lookup (mail_autoconfig_lookup,
// docs/clients/evolution.md): the EVOLUTIONUSER placeholder in place of
// the address, the MD5 of the lower-cased real address, its own
// User-Agent; the last section of each type wins.
func (r *run) evolution(ctx context.Context, c *ClientResult) {
	d := r.domain
	sum := md5.Sum([]byte(strings.ToLower(r.id.address)))
	q := "?emailaddress=" + evolutionPlaceholder + "%40" + url.QueryEscape(d) + "&emailmd5=" + hex.EncodeToString(sum[:])
	urls := []string{
		"https://autoconfig." + d + configPath + q,
		"http://autoconfig." + d + configPath + q,
		"https://" + d + wellKnownPath + q,
		"http://" + d + wellKnownPath + q,
	}
	v, src := r.autoconfig(ctx, c, urls, firstValid, false, evolutionUA, func(_ string, b []byte) verdict { return evolutionAutoconfig(b, r.id) })
	c.Source = src
	if v.ok && strings.HasPrefix(src, "http://") {
		warn(c, "configured over plain HTTP: fix HTTPS for autoconfig."+d)
	}
	r.finish(ctx, c, v, false)
}

// fairEmailUA stands for the Android WebView User-Agent FairEmail sends
// (ConnectionHelper.setUserAgent): nothing in it names FairEmail.
const fairEmailUA = "Mozilla/5.0 (Linux; Android 14; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.0.0 Mobile Safari/537.36"

// fairEmail is FairEmail's own-domain lookup (Misc.getISPDBUrls, extra
// flavour): the address as typed, HTTPS then HTTP; a document that does
// not parse or validate moves it on to the next URL.
func (r *run) fairEmail(ctx context.Context, c *ClientResult) {
	d := r.domain
	q := "?emailaddress=" + r.id.address
	urls := []string{
		"https://autoconfig." + d + configPath + q,
		"https://" + d + wellKnownPath + q,
		"http://autoconfig." + d + configPath + q,
		"http://" + d + wellKnownPath + q,
	}
	c.Notes = append(c.Notes, "FairEmail asks its own provider list first and Autodiscover and SRV records beside autoconfig; only autoconfig is replayed here")
	v, src := r.autoconfig(ctx, c, urls, firstValid, true, fairEmailUA, func(_ string, b []byte) verdict { return fairEmailAutoconfig(b, r.id) })
	c.Source = src
	if v.ok && strings.HasPrefix(src, "http://") {
		warn(c, "configured over plain HTTP: fix HTTPS for autoconfig."+d)
	}
	r.finish(ctx, c, v, false)
}

func (r *run) kmail(ctx context.Context, c *ClientResult) {
	d := r.domain
	urls := []string{
		"https://autoconfig." + d + configPath,
		"http://autoconfig." + d + configPath,
		"https://" + d + wellKnownPath,
	}
	c.Notes = append(c.Notes, "KMail asks the ISPDB (autoconfig.thunderbird.net) first; not checked here")
	v, src := r.autoconfig(ctx, c, urls, firstAnswer, true, "", func(_ string, b []byte) verdict { return kmailAutoconfig(b, r.id) })
	c.Source = src
	if v.ok && strings.HasPrefix(src, "http://") {
		warn(c, "configured over plain HTTP: fix HTTPS for autoconfig."+d)
	}
	r.finish(ctx, c, v, false)
}

func (r *run) deltaChat(ctx context.Context, c *ClientResult) {
	d := r.domain
	// Delta Chat percent-encodes everything but '.', so '@' is %40.
	urls := []string{
		"https://autoconfig." + d + configPath + "?emailaddress=" + strings.ReplaceAll(url.QueryEscape(r.id.address), "%2E", "."),
		"https://" + d + wellKnownPath,
	}
	v, src := r.autoconfig(ctx, c, urls, firstValid, false, "", func(_ string, b []byte) verdict { return deltaChatAutoconfig(b, r.id) })
	if !v.ok {
		av, asrc := r.deltaChatAutodiscover(ctx, c)
		if av.ok {
			v, src = av, asrc
		} else {
			v.reason = "no autoconfig or Autodiscover answer over HTTPS (Delta Chat uses HTTPS only): " + v.reason
			if v.fix == "" {
				v.fix = "serve autoconfig over HTTPS with a valid certificate for autoconfig." + d
			}
		}
	}
	c.Source = src
	r.finish(ctx, c, v, true)
}

// deltaChatAutodiscover: GET (no body) on the domain then the
// autodiscover host, following RedirectUrl up to 10 times.
func (r *run) deltaChatAutodiscover(ctx context.Context, c *ClientResult) (verdict, string) {
	d := r.domain
	for _, u := range []string{"https://" + d + "/autodiscover/autodiscover.xml", "https://autodiscover." + d + "/autodiscover/autodiscover.xml"} {
		for hop := 0; hop <= maxRedirects && u != ""; hop++ {
			step, f := r.get(ctx, c, request{method: "GET", url: u, maxRedirects: maxRedirects})
			if f.Err != "" || f.Status < 200 || f.Status > 299 {
				step.Result = "Autodiscover: " + orStatus(f)
				break
			}
			a := deltaChatPOX(f.body, r.id)
			if a.ok {
				step.Result = "Autodiscover accepted"
				return a.verdict, u
			}
			if a.redirectURL != "" && len(a.candidates) == 0 {
				step.Result = fmt.Sprintf("RedirectUrl %q", a.redirectURL)
				u = a.redirectURL
				continue
			}
			step.Result = "Autodiscover refused: " + a.reason
			break
		}
	}
	return refuse("no Autodiscover answer", ""), ""
}

// postPOX POSTs an Autodiscover request to u as Outlook does, following
// HTTP redirects to https URLs and RedirectUrl answers (10 at most).
func (r *run) postPOX(ctx context.Context, c *ClientResult, u string, mobile bool) (poxAnswer, fetch) {
	body := autodiscoverRequest(r.id.address, mobile)
	var f fetch
	for hop := 0; hop <= maxRedirects; hop++ {
		var step *Step
		step, f = r.get(ctx, c, request{method: "POST", url: u, body: body, contentType: "text/xml; charset=utf-8"})
		if f.Err == "" && f.Status >= 300 && f.Status < 400 && strings.HasPrefix(f.Location, "https://") {
			step.Result = "redirect to " + f.Location
			u = f.Location
			continue
		}
		if f.Err != "" || f.Status != 200 {
			step.Result = orStatus(f)
			return poxAnswer{verdict: refuse(u+": "+orStatus(f), "")}, f
		}
		if mobile {
			step.Result = "answer read below"
			return poxAnswer{}, f
		}
		a := outlookPOX(f.ContentType, f.body, r.id)
		switch {
		case a.ok:
			step.Result = "accepted"
		case a.redirectURL != "":
			step.Result = "RedirectUrl " + a.redirectURL
			u = a.redirectURL
			continue
		case a.redirectAddr != "":
			step.Result = fmt.Sprintf("RedirectAddr %q", a.redirectAddr)
			a.verdict = refuse(fmt.Sprintf("redirectAddr to %q", a.redirectAddr)+": Outlook restarts discovery for that address (not followed here)", "")
		default:
			step.Result = "refused: " + a.reason
		}
		return a, f
	}
	return poxAnswer{verdict: refuse("more than 10 redirects", "")}, f
}

// outlookPOXFlow is Outlook's POX sequence (docs/autodiscover.md#where-clients-look): root
// domain, autodiscover host, HTTP redirect probe, SRV. The last two make
// Outlook ask the user.
func (r *run) outlookPOXFlow(ctx context.Context, c *ClientResult) (verdict, string, string) {
	d := r.domain
	var last poxAnswer
	for _, u := range []string{"https://" + d + "/autodiscover/autodiscover.xml", "https://autodiscover." + d + "/autodiscover/autodiscover.xml"} {
		a, _ := r.postPOX(ctx, c, u, false)
		if a.ok {
			return a.verdict, u, ""
		}
		if a.reason != "" && !strings.HasPrefix(a.reason, u) {
			last = a
		}
	}
	// HTTP redirect method: a GET on plain HTTP whose 302 names an
	// https Autodiscover URL.
	hu := "http://autodiscover." + d + "/autodiscover/autodiscover.xml"
	step, f := r.get(ctx, c, request{method: "GET", url: hu})
	if f.Err == "" && (f.Status == 301 || f.Status == 302 || f.Status == 307 || f.Status == 308) && strings.HasPrefix(f.Location, "https://") {
		step.Result = "redirect to " + f.Location
		if a, _ := r.postPOX(ctx, c, f.Location, false); a.ok {
			return a.verdict, f.Location, "found through the HTTP redirect method: Outlook warns and asks the user"
		}
	} else {
		step.Result = "HTTP redirect method: " + orStatus(f) + " (a 302 to an https URL is what Outlook wants here)"
	}
	lookup := fetch{Method: "DNS", URL: "SRV _autodiscover._tcp." + d}
	start := time.Now()
	srv, problem := r.net.res.lookupSRV(ctx, "_autodiscover._tcp."+d)
	lookup.timed(start)
	c.Steps = append(c.Steps, Step{fetch: lookup, Result: srvResult(srv, problem)})
	if problem == "" && srv[0].Target != "." {
		u := "https://" + strings.TrimSuffix(srv[0].Target, ".") + "/Autodiscover/Autodiscover.xml"
		if a, _ := r.postPOX(ctx, c, u, false); a.ok {
			return a.verdict, u, "found through the _autodiscover._tcp SRV record: Outlook asks the user"
		}
	}
	if last.reason != "" {
		return last.verdict, "", ""
	}
	return refuse("no Autodiscover answer at "+d+", autodiscover."+d+", the HTTP redirect or the SRV record",
		fmt.Sprintf("publish autodiscover.%s (mailautoconf dns) and answer POST /autodiscover/autodiscover.xml there over HTTPS", d)), "", ""
}

func srvResult(srv []srvRecord, problem string) string {
	if problem != "" {
		return problem
	}
	var parts []string
	for _, s := range srv {
		parts = append(parts, s.String())
	}
	return strings.Join(parts, ", ")
}

func (r *run) outlook(ctx context.Context, c *ClientResult) {
	v, src, note := r.outlookPOXFlow(ctx, c)
	c.Source = src
	if note != "" {
		warn(c, note)
	}
	r.finish(ctx, c, v, false)
}

// outlookJSON is the Microsoft 365 builds' first step: autodiscover.json
// names the POX URL, which is then POSTed to. Without it they fall back to
// the classic sequence.
func (r *run) outlookJSON(ctx context.Context, c *ClientResult) {
	v, src, ok := r.jsonFlow(ctx, c)
	if !ok {
		pv, psrc, note := r.outlookPOXFlow(ctx, c)
		if pv.ok {
			warn(c, "autodiscover.json gave nothing ("+v.reason+"); Outlook falls back to POX")
			if note != "" {
				c.Notes = append(c.Notes, note)
			}
		} else {
			pv.reason = "no autodiscover.json (" + v.reason + ") and " + pv.reason
		}
		v, src = pv, psrc
	}
	c.Source = src
	r.finish(ctx, c, v, false)
}

func (r *run) jsonFlow(ctx context.Context, c *ClientResult) (verdict, string, bool) {
	d := r.domain
	e := url.QueryEscape(r.id.address)
	last := refuse("no answer", "answer GET /autodiscover/autodiscover.json?Email=…&Protocol=AutodiscoverV1 with the POX URL")
	for _, host := range []string{d, "autodiscover." + d} {
		for _, u := range []string{
			"https://" + host + "/autodiscover/autodiscover.json?Email=" + e + "&Protocol=AutodiscoverV1&RedirectCount=1",
			"https://" + host + "/autodiscover/autodiscover.json/v1.0/" + url.PathEscape(r.id.address) + "?Protocol=AutodiscoverV1",
		} {
			step, f := r.get(ctx, c, request{method: "GET", url: u, accept: "application/json", maxRedirects: maxRedirects})
			if f.Err != "" || f.Status != 200 {
				step.Result = orStatus(f)
				last.reason = "no autodiscover.json answer"
				continue
			}
			poxURL, jv := jsonAnswer(f.ContentType, f.body)
			if !jv.ok {
				step.Result = "refused: " + jv.reason
				last = jv
				continue
			}
			step.Result = "POX URL " + poxURL
			a, _ := r.postPOX(ctx, c, poxURL, false)
			if a.ok {
				return a.verdict, poxURL, true
			}
			last = a.verdict
		}
	}
	return last, "", false
}

// newOutlook: Microsoft's cloud service behind new Outlook and Outlook
// mobile asks Autodiscover as an ActiveSync device would, then for the
// Outlook settings (docs/autodiscover.md#mobilesync; docs/clients.md#outlook [UNCONFIRMED]). The mobilesync
// answer must be a proper "not offered" (601) or an ActiveSync server.
func (r *run) newOutlook(ctx context.Context, c *ClientResult) {
	d := r.domain
	c.Notes = append(c.Notes, "new Outlook and Outlook mobile ask from Microsoft's cloud: the names must resolve and answer on the public internet")
	mobileOK, mobileReason := false, "no answer to the mobilesync request"
	for _, u := range []string{"https://" + d + "/autodiscover/autodiscover.xml", "https://autodiscover." + d + "/autodiscover/autodiscover.xml"} {
		_, f := r.postPOX(ctx, c, u, true)
		if f.Err != "" || f.Status != 200 {
			continue
		}
		asURL, v := mobileSyncAnswer(f.body)
		step := &c.Steps[len(c.Steps)-1]
		if v.ok {
			mobileOK = true
			if asURL != "" {
				step.Result = "ActiveSync at " + asURL
			} else {
				step.Result = "error 601: no ActiveSync (correct for an IMAP provider)"
			}
			break
		}
		step.Result = "refused: " + v.reason
		mobileReason = v.reason
	}
	v, src, ok := r.jsonFlow(ctx, c)
	if !ok {
		var note string
		v, src, note = r.outlookPOXFlow(ctx, c)
		if note != "" {
			c.Notes = append(c.Notes, note)
		}
	}
	c.Source = src
	if v.ok && !mobileOK {
		warn(c, "mobilesync request: "+mobileReason+"; answer it with error 601 in the mobilesync schema (docs/autodiscover.md#mobilesync)")
	}
	r.finish(ctx, c, v, false)
}

// ProfilePath is where mailautoconf serves Apple profiles; the doctor
// asks autoconfig.<domain> for it.
const ProfilePath = "/mobileconfig"

func (r *run) apple(ctx context.Context, c *ClientResult) {
	d := r.domain
	c.Notes = append(c.Notes, "Apple Mail does not look up IMAP settings itself; a profile from the provider is the supported path")
	u := "https://autoconfig." + d + ProfilePath + "?email=" + url.QueryEscape(r.id.address)
	step, f := r.get(ctx, c, request{method: "GET", url: u, maxRedirects: maxRedirects})
	var v verdict
	switch {
	case f.Status == 404:
		// Apple Mail has no discovery protocol of its own: without a
		// profile its users type the settings, as with any deployment
		// that offers none. A warning, so that the doctor stays useful
		// (exit 0) on deployments made with other tools.
		step.Result = orStatus(f)
		c.Status, c.Reason = Warn, "no profile at "+u+" (404): Apple Mail users must type the settings by hand"
		c.Fix = "serve a .mobileconfig at https://autoconfig." + d + ProfilePath + " (mailautoconf does)"
		return
	case f.Err != "" || f.Status != 200:
		step.Result = orStatus(f)
		v = refuse("no profile at "+u+": "+orStatus(f), "serve a .mobileconfig at https://autoconfig."+d+ProfilePath+" (mailautoconf does)")
	default:
		v = appleProfile(f.ContentType, f.body, r.net.roots, r.net.now())
		step.Result = "accepted"
		if !v.ok {
			step.Result = "refused: " + v.reason
		}
	}
	if v.ok {
		c.Source = u
	}
	r.finish(ctx, c, v, false)
}
