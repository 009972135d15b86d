package handlers

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"mailautoconf/internal/dnswatch"
)

// The DNS watch's routes, on the operations listener only (newOps): what a
// hoster's panel reads of each served domain's DNS records and
// certificates (docs/guide/watch.md). GET /domains is a page for people;
// GET /api/v1/domains and /api/v1/domains/{domain} the same as JSON,
// states in the words of `dns --check --json`.

// domainsPerPage is the rows of a page of /domains and /api/v1/domains.
const domainsPerPage = 100

// maxPage bounds ?page=: past the last page is an empty page, not work.
const maxPage = 1_000_000

var domainsTemplate = template.Must(template.New("domains.html").Funcs(template.FuncMap{
	"zoneLine": zoneLine,
}).ParseFS(webFiles, "web/domains.html"))

// domainView is one domain as the routes show it: the watch's last check
// and the certificate state of each of its host names.
type domainView struct {
	dnswatch.Domain
	// Certificates are the states of the HTTPS certificates of the
	// domain's host names (internal/certs: ready, pending, waiting for
	// DNS, ...); none without HTTPS.
	Certificates []certificateView `json:"certificates,omitempty"`
}

type certificateView struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// domainsList is the answer of /api/v1/domains.
type domainsList struct {
	State   string       `json:"state,omitempty"` // the filter, when one was given
	Page    int          `json:"page"`
	PerPage int          `json:"per_page"`
	Total   int          `json:"total"` // domains matching, on every page
	Domains []domainView `json:"domains"`
}

// domainsQuery is a list request's query: ?state= (a word of
// dnswatch.States) and ?page= (from 1).
type domainsQuery struct {
	state string
	page  int
}

// parseDomainsQuery reads ?state= and ?page=; a bad value is an error
// naming the parameter, never repeating its value.
func parseDomainsQuery(c echo.Context) (domainsQuery, error) {
	q := domainsQuery{page: 1}
	v := c.QueryParams()
	if s, ok := v["state"]; ok {
		if len(s) != 1 || s[0] != "" && !slices.Contains(dnswatch.States, s[0]) {
			return q, fmt.Errorf("state: want one of %s", strings.Join(dnswatch.States, ", "))
		}
		q.state = s[0]
	}
	if p, ok := v["page"]; ok {
		n, err := strconv.Atoi(p[0])
		if len(p) != 1 || err != nil || n < 1 || n > maxPage {
			return q, fmt.Errorf("page: want a page number from 1 to %d", maxPage)
		}
		q.page = n
	}
	return q, nil
}

// watchOff answers the watch's routes when MAILAUTOCONF_DNS_WATCH is off.
const watchOff = "the DNS watch is off: set MAILAUTOCONF_DNS_WATCH (e.g. 6h) to check the domains' DNS records"

// domainsPage serves GET /domains.
func (h *Handler) domainsPage(c echo.Context) error {
	w := h.cfg.DNSWatch
	if w == nil {
		return noStoreText(c, http.StatusNotFound, watchOff+"\n")
	}
	q, err := parseDomainsQuery(c)
	if err != nil {
		return noStoreText(c, http.StatusBadRequest, "bad request: "+err.Error()+"\n")
	}
	page, total := w.List(q.state, (q.page-1)*domainsPerPage, domainsPerPage)
	view := domainsPageView{
		State: q.state, Page: q.page, Total: total, Rows: h.withCertificates(page),
		Counts: w.Counts(),
	}
	for _, s := range dnswatch.States {
		view.States = append(view.States, stateLink{s, view.Counts[s], "?state=" + url.QueryEscape(s)})
	}
	if q.page > 1 {
		view.Prev = pageLink(q.state, q.page-1)
	}
	if q.page*domainsPerPage < total {
		view.Next = pageLink(q.state, q.page+1)
	}
	if end, took := w.LastSweep(); !end.IsZero() {
		view.LastSweep = end.UTC().Format("2006-01-02 15:04:05 UTC")
		view.SweepTook = took.Round(1e9).String()
	}
	var b bytes.Buffer
	if err := domainsTemplate.Execute(&b, view); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}

// domainsPageView is what domains.html shows.
type domainsPageView struct {
	State      string
	Page       int
	Total      int
	Rows       []domainView
	Counts     map[string]int
	States     []stateLink
	Prev, Next string // links to the pages around; "" when none
	LastSweep  string // "" before the first sweep
	SweepTook  string
}

type stateLink struct {
	State string
	Count int
	Link  string
}

func pageLink(state string, page int) string {
	v := url.Values{"page": {strconv.Itoa(page)}}
	if state != "" {
		v.Set("state", state)
	}
	return "?" + v.Encode()
}

// zoneLine is a record in zone-file syntax: the fix to publish.
func zoneLine(r dnswatch.Record) string {
	return fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data)
}

// domainsAPI serves GET /api/v1/domains.
func (h *Handler) domainsAPI(c echo.Context) error {
	w := h.cfg.DNSWatch
	if w == nil {
		return jsonError(c, http.StatusNotFound, watchOff)
	}
	q, err := parseDomainsQuery(c)
	if err != nil {
		return jsonError(c, http.StatusBadRequest, err.Error())
	}
	page, total := w.List(q.state, (q.page-1)*domainsPerPage, domainsPerPage)
	out := domainsList{State: q.state, Page: q.page, PerPage: domainsPerPage, Total: total, Domains: h.withCertificates(page)}
	if out.Domains == nil {
		out.Domains = []domainView{}
	}
	return noStoreJSON(c, http.StatusOK, out)
}

// domainAPI serves GET /api/v1/domains/{domain}.
func (h *Handler) domainAPI(c echo.Context) error {
	w := h.cfg.DNSWatch
	if w == nil {
		return jsonError(c, http.StatusNotFound, watchOff)
	}
	d, ok := w.Domain(c.Param("domain"))
	if !ok {
		return jsonError(c, http.StatusNotFound, "domain not served")
	}
	return noStoreJSON(c, http.StatusOK, h.withCertificates([]dnswatch.Domain{d})[0])
}

// withCertificates joins the certificate state of each domain's host
// names (those of its host records: autoconfig, autodiscover,
// ua-auto-config), asking Config.CertificateStates once.
func (h *Handler) withCertificates(ds []dnswatch.Domain) []domainView {
	out := make([]domainView, len(ds))
	var names []string
	for i, d := range ds {
		out[i].Domain = d
		for _, r := range d.Records {
			n := strings.TrimSuffix(r.Name, ".")
			if (r.Type == "CNAME" || r.Type == "A" || r.Type == "AAAA") && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if h.cfg.CertificateStates == nil || len(names) == 0 {
		return out
	}
	states := h.cfg.CertificateStates(names)
	for i := range out {
		for _, r := range out[i].Records {
			n := strings.TrimSuffix(r.Name, ".")
			s, ok := states[n]
			if !ok || slices.ContainsFunc(out[i].Certificates, func(c certificateView) bool { return c.Name == n }) {
				continue
			}
			out[i].Certificates = append(out[i].Certificates, certificateView{n, s})
		}
	}
	return out
}

// requireToken guards the watch's routes with Config.AdminToken, when
// set: "Authorization: Bearer <token>" (RFC 6750 §2.1), compared in
// constant time; 401 with a WWW-Authenticate challenge otherwise (RFC
// 6750 §3).
func (h *Handler) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	if h.cfg.AdminToken == "" {
		return next
	}
	want := sha256.Sum256([]byte(h.cfg.AdminToken))
	return func(c echo.Context) error {
		auth := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, _ := strings.Cut(auth, " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		// Hashes of equal length: the comparison tells nothing of the
		// token's length either.
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			challenge := `Bearer realm="mailautoconf"`
			if auth != "" {
				challenge += `, error="invalid_token"`
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
			if strings.HasPrefix(c.Path(), "/api/") {
				return jsonError(c, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <MAILAUTOCONF_ADMIN_TOKEN>")
			}
			return noStoreText(c, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <MAILAUTOCONF_ADMIN_TOKEN>\n")
		}
		return next(c)
	}
}

func noStoreText(c echo.Context, status int, body string) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return plainText(c, status, body)
}

func noStoreJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.JSONPretty(status, v, "  ")
}

// jsonError answers the API's errors: {"error": "..."}, a fixed message.
func jsonError(c echo.Context, status int, msg string) error {
	return noStoreJSON(c, status, map[string]string{"error": msg})
}
