package doctor

// Geary's account setup (docs/clients/geary.md): one autoconfig URL, the
// first server of each kind, or a guess.

import (
	"context"
	"fmt"
	"strconv"
)

// gearyAutoconfig is Geary's reader (accounts-autoconfig.vala,
// get_config_for_xml): the first incomingServer and the first
// outgoingServer under emailProvider must be of type exactly "imap" and
// "smtp", or it gives up with "Unsupported protocol"; hostname and port
// are copied as written; a socketType other than exactly SSL or STARTTLS
// means no TLS. It reads no username: the login is the address.
func gearyAutoconfig(body []byte, id ident) verdict {
	root, err := parseXML(body)
	if err != nil {
		return refuse("not well-formed XML: "+err.Error(), fixWellFormed)
	}
	ep := root.child("emailProvider")
	in, out := ep.child("incomingServer"), ep.child("outgoingServer")
	if in == nil || out == nil {
		return refuse("no emailProvider with an incomingServer and an outgoingServer (Geary: \"Invalid XML\")", fixWellFormed)
	}
	if in.attrs["type"] != "imap" || out.attrs["type"] != "smtp" {
		return refuse(fmt.Sprintf("the first incomingServer is %q and the first outgoingServer %q: Geary wants imap and smtp first (\"Unsupported protocol\")", in.attrs["type"], out.attrs["type"]),
			"list an IMAP server before any POP3 server: Geary reads only the first incomingServer")
	}
	var v verdict
	for _, s := range []*node{in, out} {
		e := Endpoint{Protocol: s.attrs["type"], Host: textOf(s.child("hostname")), Username: id.address}
		port, err := strconv.Atoi(textOf(s.child("port")))
		if e.Host == "" || !isHostname(e.Host) || err != nil || port < 1 || port > 65535 {
			return refuse(fmt.Sprintf("%s server %q port %q: Geary copies them into its \"host:port\" field as written, and that is no server", e.Protocol, e.Host, textOf(s.child("port"))), fixSection)
		}
		e.Port = port
		switch st := textOf(s.child("socketType")); st {
		case "SSL", "STARTTLS":
			e.Socket = st
		default:
			e.Socket = "plain"
		}
		if u := id.expand(textOf(s.child("username"))); u != "" && u != id.address {
			v.warnings = append(v.warnings, fmt.Sprintf("%s login %q: Geary ignores <username> and logs in as %s unless the user changes it", e, u, id.address))
		}
		v.candidates = append(v.candidates, e)
	}
	v.incoming, v.outgoing = &v.candidates[0], &v.candidates[1]
	v.ok = true
	return v
}

// geary replays Geary 43-46 (accounts-editor-add-pane.vala): only
// https://autoconfig.<d>/mail/config-v1.1.xml, without the address and
// whatever the HTTP status; then the ISPDB; then the guess imap.<d> and
// smtp.<d>, shown to the user to correct.
func (r *run) geary(ctx context.Context, c *ClientResult) {
	d := r.domain
	u := "https://autoconfig." + d + configPath
	step, f := r.get(ctx, c, request{method: "GET", url: u, maxRedirects: maxRedirects})
	var v verdict
	if f.Err != "" {
		step.Result = "no answer: " + f.Err
		v = refuse(u+": no answer ("+f.Err+")", fmt.Sprintf("serve %s over HTTPS at autoconfig.%s", configPath, d))
	} else {
		// Geary does not look at the status: any body is parsed.
		v = gearyAutoconfig(f.body, r.id)
		step.Result = "accepted"
		if !v.ok {
			step.Result = "refused: " + v.reason
		}
	}
	if !v.ok {
		c.Notes = append(c.Notes, "Geary then asks the ISPDB (not checked here), and failing that guesses imap."+d+" and smtp."+d+" for the user to correct")
		v.reason = "Geary cannot use the autoconfig answer and falls back to guessing imap." + d + " and smtp." + d + ": " + v.reason
	}
	if v.ok {
		c.Source = u
	}
	r.finish(ctx, c, v, false)
}
