package doctor

// aerc's account wizard (docs/clients/aerc.md): SRV, autoconfig, ISPDB,
// guessing and MX all start at once, and the first source in that order
// with a result wins.

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// aercSRVLabels are the services aerc asks (dns-srv.go); never
// _submissions.
var aercSRVLabels = []string{"_jmap", "_imap", "_imaps", "_submission", "_smtps"}

// srvStep looks name's SRV records up as a client does, and records the
// lookup as a step.
func (r *run) srvStep(ctx context.Context, c *ClientResult, name string) ([]srvRecord, string) {
	lookup := fetch{Method: "DNS", URL: "SRV " + name}
	start := time.Now()
	srv, problem := r.net.res.lookupSRV(ctx, name)
	lookup.timed(start)
	c.Steps = append(c.Steps, Step{fetch: lookup, Result: srvResult(srv, problem)})
	return srv, problem
}

// aercHighestSRV is aerc's getHighestSRV: the records sorted by priority
// (stable), then the one of greatest weight among all of them, the
// earliest on a tie. It returns the target without its trailing dot, ""
// for "." or a port of 0 (service not offered).
func aercHighestSRV(list []srvRecord) (string, int) {
	if len(list) == 0 {
		return "", 0
	}
	sorted := slices.Clone(list)
	slices.SortStableFunc(sorted, func(a, b srvRecord) int { return a.Priority - b.Priority })
	best := 0
	for i := range sorted {
		if sorted[i].Weight > sorted[best].Weight {
			best = i
		}
	}
	host := strings.TrimRight(sorted[best].Target, ".")
	if host == "" || sorted[best].Port == 0 {
		return "", 0
	}
	return host, sorted[best].Port
}

// aercFromSRV is getFromProviderDNS: nothing without _imap, _imaps or
// _jmap; _imap (STARTTLS) before _imaps; _submission (STARTTLS) before
// _smtps (TLS). With IMAP found the result stands even without SMTP.
func aercFromSRV(found map[string]srvRecord, id ident) (verdict, bool) {
	imap, imaps, jmap := found["_imap"], found["_imaps"], found["_jmap"]
	if imap.Target == "" && imaps.Target == "" && jmap.Target == "" {
		return verdict{}, false
	}
	var v verdict
	if jmap.Target != "" {
		v.caveats = append(v.caveats, fmt.Sprintf("_jmap._tcp names %s:%d: aerc sets the account up for JMAP", jmap.Target, jmap.Port))
	}
	in := Endpoint{Protocol: "imap", Host: imap.Target, Port: imap.Port, Socket: "STARTTLS", Username: id.address}
	if imap.Target == "" {
		in.Host, in.Port, in.Socket = imaps.Target, imaps.Port, "SSL"
	} else if imaps.Target != "" {
		v.caveats = append(v.caveats, "aerc prefers _imap (STARTTLS) to _imaps; to have it use implicit TLS (RFC 8314 section 5.1), drop the STARTTLS IMAP server from the catalog and publish _imap._tcp as \".\", as mailautoconf dns then prints")
	}
	out := Endpoint{Protocol: "smtp", Host: found["_submission"].Target, Port: found["_submission"].Port, Socket: "STARTTLS", Username: id.address}
	if out.Host == "" {
		out.Host, out.Port, out.Socket = found["_smtps"].Target, found["_smtps"].Port, "SSL"
	}
	if in.Host != "" {
		v.candidates = append(v.candidates, in)
		v.incoming = &v.candidates[len(v.candidates)-1]
	}
	if out.Host == "" {
		v.fails = append(v.fails, "aerc configures from the SRV records alone and finds no SMTP server: _submission._tcp gives none and _smtps._tcp gives none (aerc never asks _submissions._tcp)")
		v.fix = "publish _smtps._tcp beside _submissions._tcp (mailautoconf dns prints it) for implicit-TLS submission"
	} else {
		v.candidates = append(v.candidates, out)
		v.outgoing = &v.candidates[len(v.candidates)-1]
	}
	v.ok = true
	return v, true
}

// aercAutoconfig is aerc's autoconfig.go reader (Go's encoding/xml into
// fixed structs): the root must be clientConfig; the first incomingServer
// of type imap (any case); the outgoingServer fields merged over every
// outgoingServer element, so the last one's values win; ports as
// strconv.Atoi reads them; socketType "plain" (any case) is no TLS, "ssl"
// implicit TLS, anything else STARTTLS; a username is replaced only when
// it is exactly %EMAILADDRESS% (any case). A refusal sends aerc to the
// next URL.
func aercAutoconfig(body []byte, id ident) verdict {
	root, err := parseXML(body)
	if err != nil || root.qname() != "clientConfig" {
		return refuse("no clientConfig document", fixWellFormed)
	}
	ep := root.child("emailProvider")
	var in *node
	for _, s := range ep.all("incomingServer") {
		if strings.EqualFold(s.attrs["type"], "imap") {
			in = s
			break
		}
	}
	if in == nil {
		return refuse("no imap incomingServer", "list an IMAP server")
	}
	// encoding/xml decodes every outgoingServer into the same struct:
	// each field keeps the last value written.
	merged := map[string]string{}
	for _, s := range ep.all("outgoingServer") {
		for _, k := range s.kids {
			switch k.qname() {
			case "hostname", "port", "socketType", "username":
				merged[k.qname()] = k.text
			}
		}
	}
	server := func(proto string, f func(string) string) (Endpoint, string) {
		e := Endpoint{Protocol: proto, Host: f("hostname")}
		port, err := strconv.Atoi(f("port"))
		if err != nil {
			return e, fmt.Sprintf("%s port %q is not a number", proto, f("port"))
		}
		e.Port = port
		switch strings.ToLower(f("socketType")) {
		case "plain":
			e.Socket = "plain"
		case "ssl":
			e.Socket = "SSL"
		default:
			e.Socket = "STARTTLS"
		}
		e.Username = f("username")
		if strings.EqualFold(e.Username, "%EMAILADDRESS%") {
			e.Username = id.address
		}
		return e, ""
	}
	ie, problem := server("imap", func(n string) string { return textOf(in.child(n)) })
	if problem != "" {
		return refuse(problem, fixSection)
	}
	oe, problem := server("smtp", func(n string) string { return merged[n] })
	if problem != "" {
		return refuse(problem+" (aerc reads the outgoingServer values of the last section)", fixSection)
	}
	var v verdict
	if ie.Host == "" || oe.Host == "" {
		return refuse("a server without a hostname", fixSection)
	}
	if len(ep.all("outgoingServer")) > 1 {
		v.notes = append(v.notes, fmt.Sprintf("aerc merges the %d outgoingServer sections: the last one's values win", len(ep.all("outgoingServer"))))
	}
	for _, e := range []Endpoint{ie, oe} {
		if strings.Contains(e.Username, "%") {
			v.warnings = append(v.warnings, fmt.Sprintf("%s login %q: aerc replaces only exactly %%EMAILADDRESS%%", e, e.Username))
		}
	}
	v.candidates = []Endpoint{ie, oe}
	v.incoming, v.outgoing = &v.candidates[0], &v.candidates[1]
	v.ok = true
	return v
}

// aerc replays aerc's GetConfig (lib/autoconfig/get.go at rjarry/aerc
// fab05311): the SRV result first, then autoconfig; the ISPDB, guessing
// and the MX host are not replayed.
func (r *run) aerc(ctx context.Context, c *ClientResult) {
	d := r.domain
	found := map[string]srvRecord{}
	for _, l := range aercSRVLabels {
		srv, problem := r.srvStep(ctx, c, l+"._tcp."+d)
		if problem != "" {
			continue
		}
		if host, port := aercHighestSRV(srv); host != "" {
			found[l] = srvRecord{Target: host, Port: port}
		}
	}
	if v, ok := aercFromSRV(found, r.id); ok {
		c.Source = "SRV records of " + d
		r.finish(ctx, c, v, false)
		return
	}
	c.Notes = append(c.Notes, "no _imap, _imaps or _jmap SRV record: aerc reads autoconfig")
	q := "?emailaddress=" + url.QueryEscape(r.id.address)
	urls := []string{"https://autoconfig." + d + configPath + q, "https://" + d + wellKnownPath + q}
	// http.Get: any status; a body that does not decode moves it on.
	v, src := r.autoconfig(ctx, c, urls, firstValid, false, "", func(_ string, b []byte) verdict { return aercAutoconfig(b, r.id) })
	if !v.ok {
		c.Notes = append(c.Notes, "aerc then asks the ISPDB and guesses imap."+d+", mail."+d+" and the MX host; not checked here")
	}
	c.Source = src
	r.finish(ctx, c, v, false)
}
