package doctor

// The PACC client (docs/pacc.md): fetch the document over HTTPS, check it
// against the _ua-auto-config TXT digest, read it under the draft's rules,
// and reach every host it advertises on the protocol's standard port.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"mailautoconf/provision"
)

// PACCPath is where a PACC client asks ua-auto-config.<domain>.
const PACCPath = "/.well-known/user-agent-configuration.json"

// paccStandardPorts are the ports PACC implies (docs/pacc.md#pacc).
var paccStandardPorts = map[string]int{"imap": 993, "pop3": 995, "smtp": 465, "submit": 465, "managesieve": 4190}

// PACCDocument reads a PACC document as the draft's rules say
// (docs/pacc.md#pacc): a JSON object with protocols, authentication
// and info; host names for the text protocols, https URLs for the HTTP
// ones; info.provider.name of at most 60 characters, shortName of at most
// 20; an oauth-public issuer https without query or fragment. Unknown
// members are ignored. The verdict's candidates are the hosts to probe.
func PACCDocument(contentType string, body []byte) verdict {
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

// PACCDigestCheck compares body with the TXT records of
// _ua-auto-config.<domain> as a PACC client does (docs/pacc.md#pacc):
// tags in any letter case, white space around "=" and ";" allowed, v=UAAC1
// and a=sha256 required; some record's d must be the base64 SHA-256 of
// body. It returns "" when one matches, else why not.
func PACCDigestCheck(body []byte, txts []string) string {
	sum := sha256.Sum256(body)
	served := base64.StdEncoding.EncodeToString(sum[:])
	var published []string
	for _, t := range txts {
		tags := map[string]string{}
		for _, part := range strings.Split(t, ";") {
			k, val, ok := strings.Cut(part, "=")
			if !ok {
				continue
			}
			tags[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
		}
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

// pacc replays a PACC client (draft-ietf-mailmaint-pacc; docs/pacc.md).
// No client ships it yet, so a domain without a document is a warning;
// a document that fails verification or the draft's rules is a failure,
// since a client would refuse it.
func (r *run) pacc(ctx context.Context, c *ClientResult) {
	d := r.domain
	u := "https://ua-auto-config." + d + PACCPath
	step, f := r.get(ctx, c, request{method: "GET", url: u, accept: "application/json"})
	fix := "serve PACC at " + u + " and publish the _ua-auto-config TXT record `mailautoconf dns` prints"
	switch {
	case f.Status == 404 || strings.Contains(f.Err, "NXDOMAIN") || strings.Contains(f.Err, "no A or AAAA record"):
		step.Result = orStatus(f)
		c.Status, c.Reason, c.Fix = Warn, "no PACC document at "+u+" ("+orStatus(f)+"); no shipping client needs one yet", fix
		return
	case f.Err != "" || f.Status != 200:
		step.Result = orStatus(f)
		r.finish(ctx, c, refuse("no PACC document at "+u+": "+orStatus(f), fix), false)
		return
	}
	v := PACCDocument(f.ContentType, f.body)
	if !v.ok {
		step.Result = "refused: " + v.reason
		r.finish(ctx, c, v, false)
		return
	}
	step.Result = "accepted"
	c.Source = u

	name := "_ua-auto-config." + d
	ans := r.net.res.query(ctx, name, dns.TypeTXT)
	var txts []string
	for _, rr := range ans.rrs {
		if t, ok := rr.(*dns.TXT); ok {
			txts = append(txts, strings.Join(t.Txt, ""))
		}
	}
	c.Steps = append(c.Steps, Step{fetch: fetch{Method: "TXT", URL: name}, Result: strings.Join(txts, " | ")})
	if p := ans.problem(); p != "" && len(txts) == 0 {
		c.Steps[len(c.Steps)-1].Result = p
	}
	if why := PACCDigestCheck(f.body, txts); why != "" {
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
