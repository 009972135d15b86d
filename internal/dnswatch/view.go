package dnswatch

import (
	"fmt"
	"time"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// Unchecked is the state of a domain the watch has not checked yet (a
// new one, or all of them before the first sweep), or whose records to
// publish changed since its last check: the next sweep checks it.
const Unchecked = "unchecked"

// States are the words a domain's state is said in, best first: dnscheck's
// (`dns --check --json` says the same), then Unchecked.
var States = []string{dnscheck.OK.String(), dnscheck.Missing.String(), dnscheck.Drift.String(), dnscheck.Conflict.String(), Unchecked}

// Record is a record to publish and what the last check found of it.
type Record struct {
	dnsrecords.Record
	State  string `json:"state"` // a word of States
	Found  string `json:"found,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Domain is the last check of one served domain, against the records it
// should publish now.
type Domain struct {
	Domain string `json:"domain"`
	State  string `json:"state"` // a word of States
	// Checked is when the domain was last checked; Changed when that
	// check's result was first found. Nil until checked.
	Checked *time.Time `json:"checked,omitempty"`
	Changed *time.Time `json:"changed,omitempty"`
	Records []Record   `json:"records"`
	// Notes are dnsrecords' notes (records that cannot be derived) and
	// the watch's own.
	Notes []string `json:"notes,omitempty"`
}

// Domain returns the last check of domain (any letter case or form), and
// false when the current catalog does not serve it.
func (w *Watch) Domain(domain string) (Domain, bool) {
	cat := w.cfg.Catalog()
	if cat == nil {
		return Domain{}, false
	}
	p, d, err := cat.Resolve(domain)
	if err != nil {
		return Domain{}, false
	}
	w.mu.RLock()
	r, ok := w.results[d]
	w.mu.RUnlock()
	return w.view(p, d, r, ok), true
}

// List returns the domains of the current catalog in name order whose
// state is state ("" for all), from the offset-th on, at most limit of
// them, and how many there are in all. The state is the one stored: a
// domain whose records changed since its check is listed under its old
// state, and shown as Unchecked.
func (w *Watch) List(state string, offset, limit int) (page []Domain, total int) {
	cat := w.cfg.Catalog()
	if cat == nil {
		return nil, 0
	}
	type row struct {
		d  string
		r  result
		ok bool
	}
	var rows []row
	w.mu.RLock()
	for _, d := range cat.Domains() {
		r, ok := w.results[d]
		if state == "" || stateOf(r, ok) == state {
			if total >= offset && len(rows) < limit {
				rows = append(rows, row{d, r, ok})
			}
			total++
		}
	}
	w.mu.RUnlock()
	for _, x := range rows {
		p, _ := cat.Lookup(x.d)
		page = append(page, w.view(p, x.d, x.r, x.ok))
	}
	return page, total
}

func stateOf(r result, checked bool) string {
	if !checked {
		return Unchecked
	}
	return r.state.String()
}

// view is the result r of domain d (served by p) against the records d
// should publish now.
func (w *Watch) view(p *provision.Provider, d string, r result, checked bool) Domain {
	want := dnsrecords.Derive(p, d, w.cfg.Target)
	out := Domain{Domain: d, State: Unchecked, Records: make([]Record, len(want.Records)), Notes: want.Notes}
	for i, rec := range want.Records {
		out.Records[i] = Record{Record: rec, State: Unchecked}
	}
	if !checked {
		return out
	}
	c, ch := time.Unix(r.checked, 0).UTC(), time.Unix(r.changed, 0).UTC()
	out.Checked, out.Changed = &c, &ch
	if r.sum != recordsSum(want.Records) {
		out.Notes = append(out.Notes, fmt.Sprintf("the records to publish changed since the last check (%s): the next sweep checks them", c.Format(time.RFC3339)))
		return out
	}
	got := r.expand(want)
	out.State = got.State.String()
	for i, rec := range got.Records {
		out.Records[i].State, out.Records[i].Found, out.Records[i].Detail = rec.State.String(), rec.Found, rec.Detail
	}
	return out
}

// Counts is how many served domains are in each state of States.
func (w *Watch) Counts() map[string]int {
	out := make(map[string]int, len(States))
	for _, s := range States {
		out[s] = 0
	}
	cat := w.cfg.Catalog()
	if cat == nil {
		return out
	}
	seen := 0
	w.mu.RLock()
	for d, r := range w.results {
		if served(cat, d) {
			out[r.state.String()]++
			seen++
		}
	}
	w.mu.RUnlock()
	out[Unchecked] = max(0, cat.DomainCount()-seen)
	return out
}

// LastSweep is when the last complete sweep ended and how long it took;
// zero before the first.
func (w *Watch) LastSweep() (end time.Time, took time.Duration) {
	n := w.lastSweep.Load()
	if n == 0 {
		return time.Time{}, 0
	}
	return time.Unix(0, n), time.Duration(w.sweepTime.Load())
}
