package doctor

// The PACC client (docs/pacc.md): fetch the document over HTTPS, check it
// against the _ua-auto-config TXT digest, read it under the draft's rules,
// and reach every host it advertises on the protocol's standard port.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"mailautoconf/provision"
)

// PACCPath is where a PACC client asks ua-auto-config.<domain>.
const PACCPath = "/.well-known/user-agent-configuration.json"

// paccStandardPorts are the ports PACC implies (docs/pacc.md#pacc).
var paccStandardPorts = map[string]int{"imap": 993, "pop3": 995, "smtp": 465, "submit": 465, "managesieve": 4190}

// paccDocument reads a PACC document as the draft's rules say
// (docs/pacc.md#pacc): a JSON object with protocols, authentication
// and info; host names for the text protocols, https URLs for the HTTP
// ones; info.provider.name of at most 60 characters, shortName of at most
// 20; an oauth-public issuer https without query or fragment. Unknown
// members are ignored. The verdict's candidates are the hosts to probe.
func paccDocument(contentType string, body []byte) verdict {
	fix := "serve the document mailautoconf renders at " + PACCPath
	if mt, _, _ := strings.Cut(contentType, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return refuse(fmt.Sprintf("content type %q, not application/json", contentType), fix)
	}
	var doc struct {
		Protocols map[string]struct {
			Host *string `json:"host"`
			URL  *string `json:"url"`
		} `json:"protocols"`
		Authentication *struct {
			Password    *bool `json:"password"`
			OAuthPublic *struct {
				Issuer string `json:"issuer"`
			} `json:"oauth-public"`
		} `json:"authentication"`
		Info *struct {
			Provider *struct {
				Name      *string `json:"name"`
				ShortName *string `json:"shortName"`
			} `json:"provider"`
		} `json:"info"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return refuse("not a PACC JSON document: "+err.Error(), fix)
	}
	switch {
	case doc.Protocols == nil:
		return refuse("no protocols", fix)
	case doc.Authentication == nil:
		return refuse("no authentication", fix)
	case doc.Info == nil || doc.Info.Provider == nil || doc.Info.Provider.Name == nil || *doc.Info.Provider.Name == "":
		return refuse("no info.provider.name", fix)
	case len([]rune(*doc.Info.Provider.Name)) > 60:
		return refuse("info.provider.name is longer than 60 characters", fix)
	case doc.Info.Provider.ShortName != nil && len([]rune(*doc.Info.Provider.ShortName)) > 20:
		return refuse("info.provider.shortName is longer than 20 characters", fix)
	}
	if o := doc.Authentication.OAuthPublic; o != nil {
		if u, err := url.Parse(o.Issuer); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return refuse(fmt.Sprintf("authentication.oauth-public.issuer %q is not an https issuer without query or fragment (RFC 8414)", o.Issuer), fix)
		}
	}
	var v verdict
	names := make([]string, 0, len(doc.Protocols))
	for name := range doc.Protocols {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := doc.Protocols[name]
		switch name {
		case "imap", "pop3", "smtp", "submit", "managesieve":
			if p.Host == nil {
				return refuse("protocols."+name+" has no host", fix)
			}
			h, err := provision.NormalizeHost(*p.Host)
			if err != nil {
				return refuse(fmt.Sprintf("protocols.%s.host %q is not a host name", name, *p.Host), fix)
			}
			proto := name
			if proto == "submit" {
				proto = "smtp"
			}
			e := Endpoint{Protocol: proto, Host: h, Port: paccStandardPorts[name], Socket: "SSL"}
			if !slices.ContainsFunc(v.candidates, func(o Endpoint) bool { return o.key() == e.key() }) {
				v.candidates = append(v.candidates, e)
			}
		case "jmap", "caldav", "carddav", "webdav":
			if p.URL == nil {
				return refuse("protocols."+name+" has no url", fix)
			}
			u, err := url.Parse(*p.URL)
			if err != nil || u.Scheme != "https" || u.Hostname() == "" {
				return refuse(fmt.Sprintf("protocols.%s.url %q is not an https URL", name, *p.URL), fix)
			}
			h, err := provision.NormalizeHost(u.Hostname())
			if err != nil {
				return refuse(fmt.Sprintf("protocols.%s.url %q has no host name", name, *p.URL), fix)
			}
			v.candidates = append(v.candidates, Endpoint{Protocol: name, Host: h, Port: 443, Socket: "SSL"})
		default:
			v.notes = append(v.notes, "ignores protocols."+name+" (unknown)")
		}
	}
	has := func(protos ...string) bool {
		return slices.ContainsFunc(v.candidates, func(e Endpoint) bool { return slices.Contains(protos, e.Protocol) })
	}
	if !has("imap", "pop3", "jmap") || !has("smtp", "jmap") {
		return refuse("no incoming or no outgoing server (imap, pop3, smtp/submit or jmap)", fix)
	}
	for _, proto := range []string{"imap", "pop3"} {
		if i := slices.IndexFunc(v.candidates, func(e Endpoint) bool { return e.Protocol == proto }); i >= 0 && v.incoming == nil {
			e := v.candidates[i]
			v.incoming = &e
		}
	}
	if i := slices.IndexFunc(v.candidates, func(e Endpoint) bool { return e.Protocol == "smtp" }); i >= 0 {
		e := v.candidates[i]
		v.outgoing = &e
	}
	v.ok = true
	return v
}

// paccDigestCheck compares body with the TXT records of
// _ua-auto-config.<domain> as a PACC client does (docs/pacc.md#pacc):
// tags in any letter case, white space around "=" and ";" allowed, v=UAAC1
// and a=sha256 required; some record's d must be the base64 SHA-256 of
// body. It returns "" when one matches, else why not.
func paccDigestCheck(body []byte, txts []string) string {
	sum := sha256.Sum256(body)
	served := base64.StdEncoding.EncodeToString(sum[:])
	var published []string
	for _, t := range txts {
		tags := uaacTags(t)
		if !strings.EqualFold(tags["v"], "UAAC1") || !strings.EqualFold(tags["a"], "sha256") || tags["d"] == "" {
			continue
		}
		if tags["d"] == served {
			return ""
		}
		published = append(published, tags["d"])
	}
	if len(published) == 0 {
		return "no v=UAAC1; a=sha256 TXT record at _ua-auto-config: a PACC client rejects a document it cannot verify"
	}
	return fmt.Sprintf("stale digest: the TXT record says d=%s, the served document hashes to d=%s", strings.Join(published, ", d="), served)
}

// uaacTags reads the tags of a TXT record: "V = uaac1 ;a=sha256" is
// {v: uaac1, a: sha256}, names lower-cased, values as written.
func uaacTags(t string) map[string]string {
	tags := map[string]string{}
	for _, part := range strings.Split(t, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		tags[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
	}
	return tags
}

// paccPublished reports whether the TXT records at _ua-auto-config.<d>
// publish PACC: one of them says v=UAAC1, whatever else it says (a record
// with another algorithm or no digest is an attempt that fails the digest
// check). Other records there, such as a wildcard's SPF, publish nothing.
func paccPublished(txts []string) bool {
	return slices.ContainsFunc(txts, func(t string) bool { return strings.EqualFold(uaacTags(t)["v"], "UAAC1") })
}

// pacc replays a PACC client (draft-ietf-mailmaint-pacc; docs/pacc.md,
// and docs/pacc.md#what-the-doctor-checks for what follows). The
// _ua-auto-config TXT record is what publishes PACC, and the doctor asks
// for it first:
//   - none (no such name, no TXT, none with v=UAAC1): PACC is not
//     published, a warning like a missing optional SRV record. No client
//     ships PACC yet and the admin may not have opted in; the reason says
//     whether the document is served already.
//   - one: a client must end up with verified, working settings, or it
//     fails: the document missing or unreachable, its certificate not
//     valid for ua-auto-config.<d>, the draft's rules, the digest, or an
//     advertised host that does not answer.
//   - a DNS error (SERVFAIL, REFUSED, a timeout): published or not is
//     unknown. A failure when the document is served, since no client
//     can verify it; else a warning.
func (r *run) pacc(ctx context.Context, c *ClientResult) {
	d := r.domain
	u := "https://ua-auto-config." + d + PACCPath
	name := "_ua-auto-config." + d
	fix := "serve PACC at " + u + " and publish the _ua-auto-config TXT record `mailautoconf dns` prints"

	lookup := fetch{Method: "TXT", URL: name}
	start := time.Now()
	ans := r.net.res.queryFollow(ctx, name, dns.TypeTXT)
	lookup.timed(start)
	var txts []string
	for _, rr := range ans.rrs {
		if t, ok := rr.(*dns.TXT); ok {
			txts = append(txts, strings.Join(t.Txt, ""))
		}
	}
	txtResult := strings.Join(txts, " | ")
	dnsErr := ""
	switch {
	case ans.err != nil || ans.rcode != dns.RcodeSuccess && ans.rcode != dns.RcodeNameError:
		dnsErr = ans.problem()
		txtResult = dnsErr
	case len(txts) == 0:
		txtResult = cmp.Or(ans.problem(), "no TXT record")
	}
	c.Steps = append(c.Steps, Step{fetch: lookup, Result: txtResult})
	published := dnsErr == "" && paccPublished(txts)

	// The document. Its certificate is listed among the HTTPS names only
	// when PACC is published: otherwise a certificate that does not name
	// ua-auto-config.<d> is no one's problem.
	f := r.net.do(ctx, request{method: "GET", url: u, accept: "application/json"})
	c.Steps = append(c.Steps, Step{fetch: f})
	step := &c.Steps[len(c.Steps)-1]
	if published {
		r.noteHTTPS(ctx, "ua-auto-config."+d)
	}
	var v verdict
	if f.Err != "" || f.Status != 200 {
		step.Result = orStatus(f)
		v = refuse("no document at "+u+" ("+orStatus(f)+")", "serve PACC at "+u+", with a certificate valid for ua-auto-config."+d)
	} else if v = paccDocument(f.ContentType, f.body); v.ok {
		step.Result = "accepted"
	} else {
		step.Result = "refused: " + v.reason
		v.reason = "the document at " + u + " is refused: " + v.reason
	}

	if !published {
		switch {
		case dnsErr == "":
			c.Status, c.Reason, c.Fix = Warn, "PACC is not published: "+name+" has no v=UAAC1 TXT record ("+txtResult+"); no shipping client needs it yet", "optional: "+fix
			if v.ok {
				c.Reason += "; the document at " + u + " is served, but a PACC client rejects it without the TXT record"
				c.Fix = "optional: publish the _ua-auto-config TXT record `mailautoconf dns` prints"
			}
		case v.ok:
			c.Status, c.Reason = Fail, "the TXT lookup of "+name+" failed ("+dnsErr+"): a PACC client cannot verify the document served at "+u
			c.Fix = "make the name servers of " + d + " answer TXT queries for " + name + ", and publish there the TXT record `mailautoconf dns` prints"
		default:
			c.Status, c.Reason = Warn, "PACC not checked: the TXT lookup of "+name+" failed ("+dnsErr+"), and "+v.reason
			c.Fix = "make the name servers of " + d + " answer TXT queries for " + name
		}
		if dnsErr == "" {
			step.Result += " (not used: PACC is not published)"
		} else {
			step.Result += " (not verifiable: the TXT lookup failed)"
		}
		return
	}
	if !v.ok {
		v.reason = name + " publishes PACC, but " + v.reason
		v.fix += ", or remove the _ua-auto-config TXT record to stop publishing PACC"
		r.finish(ctx, c, v, false)
		return
	}
	c.Source = u
	if why := paccDigestCheck(f.body, txts); why != "" {
		v.fails = append(v.fails, name+": "+why)
		v.fix = "publish the _ua-auto-config TXT record `mailautoconf dns` prints now (again after every change to the provider)"
	}
	// Every advertised host on its standard port, implicit TLS: the
	// mail protocols with their greeting, the others a verified TLS
	// handshake (the incoming and outgoing server finish probes).
	for _, e := range v.candidates {
		if v.incoming != nil && e.key() == v.incoming.key() || v.outgoing != nil && e.key() == v.outgoing.key() {
			continue
		}
		switch e.Protocol {
		case "imap", "pop3", "smtp":
			if res := r.probe(ctx, e); !res.OK {
				v.fails = append(v.fails, fmt.Sprintf("%s: %s", e, res.Problem))
			}
		default:
			info := r.certs.get(e.Host+fmt.Sprintf(":%d", e.Port), func() CertInfo { return r.net.probeCert(ctx, e.Host, e.Port) })
			if problem := firstNonEmpty(info.Err, info.Problem); problem != "" {
				msg := fmt.Sprintf("%s %s:%d: %s", strings.ToUpper(e.Protocol), e.Host, e.Port, problem)
				if e.Protocol == "jmap" {
					v.fails = append(v.fails, msg)
				} else {
					// Mail works; calendars, contacts or files would not.
					v.warnings = append(v.warnings, msg)
				}
			}
		}
		if len(v.fails) > 0 && v.fix == "" {
			v.fix = "make every host the document advertises answer implicit TLS on its standard port"
		}
	}
	r.finish(ctx, c, v, false)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
