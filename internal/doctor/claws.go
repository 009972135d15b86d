package doctor

// Claws Mail's "Auto-configure" button (docs/clients/claws-mail.md): SRV
// records only.

import (
	"context"
	"slices"
	"strings"
)

// clawsSRV is resolve_done (src/gtk/gtkutils.c): the records in RFC 2782
// order (GLib's g_srv_target_list_sort, which turns a lone "." into no
// record), the first with a host name and a port. Weights are random in
// GLib; the replay takes the first record of the lowest priority.
func clawsSRV(list []srvRecord) (srvRecord, bool) {
	sorted := slices.Clone(list)
	slices.SortStableFunc(sorted, func(a, b srvRecord) int { return a.Priority - b.Priority })
	for _, s := range sorted {
		if t := strings.TrimSuffix(s.Target, "."); t != "" && s.Port > 0 {
			s.Target = t
			return s, true
		}
	}
	return srvRecord{}, false
}

// clawsService asks the implicit-TLS label first, then the STARTTLS one
// (auto_configure_service); ssl is "" for a service with one label.
func (r *run) clawsService(ctx context.Context, c *ClientResult, ssl, tls string) (srvRecord, bool, bool) {
	for _, l := range []string{ssl, tls} {
		if l == "" {
			continue
		}
		srv, problem := r.srvStep(ctx, c, l+"._tcp."+r.domain)
		if problem != "" {
			continue
		}
		if s, ok := clawsSRV(srv); ok {
			return s, l == ssl, true
		}
	}
	return srvRecord{}, false, false
}

// claws replays Claws Mail 4.x for an IMAP account (auto_configure_cb in
// src/prefs_account.c): _imaps then _imap for receiving (a POP3 account
// asks _pop3s then _pop3), and _submission alone for sending, where a
// record on port 465 means implicit TLS. The login is the address.
func (r *run) claws(ctx context.Context, c *ClientResult) {
	d := r.domain
	c.Notes = append(c.Notes, "Claws Mail looks nothing up until the user presses Auto-configure; it reads SRV records only")
	var v verdict
	if s, ssl, ok := r.clawsService(ctx, c, "_imaps", "_imap"); ok {
		e := Endpoint{Protocol: "imap", Host: s.Target, Port: s.Port, Socket: "STARTTLS", Username: r.id.address}
		if ssl {
			e.Socket = "SSL"
		}
		v.candidates = append(v.candidates, e)
	} else {
		c.Status, c.Reason = Fail, "no usable _imaps._tcp or _imap._tcp record: Claws Mail says \"Failed: no service record found\""
		c.Fix = "publish the SRV records mailautoconf dns prints for " + d
		return
	}
	if s, _, ok := r.clawsService(ctx, c, "", "_submission"); ok {
		e := Endpoint{Protocol: "smtp", Host: s.Target, Port: s.Port, Socket: "STARTTLS", Username: r.id.address}
		if s.Port == 465 {
			// Claws Mail takes a _submission record on 465 as
			// implicit TLS, against RFC 6186.
			e.Socket = "SSL"
		}
		v.candidates = append(v.candidates, e)
		v.outgoing = &v.candidates[len(v.candidates)-1]
	} else {
		v.fails = append(v.fails, "Claws Mail asks only _submission._tcp for SMTP and finds no server there (it never asks _submissions._tcp): its users must type the SMTP server by hand")
		v.fix = "offer submission with STARTTLS (port 587) and publish _submission._tcp for it; Claws Mail reads no other SMTP label"
	}
	v.incoming = &v.candidates[0]
	v.ok = true
	c.Source = "SRV records of " + d
	r.finish(ctx, c, v, false)
}
