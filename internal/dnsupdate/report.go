package dnsupdate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// Options are an apply run's choices (`dns --apply`'s flags).
type Options struct {
	DryRun bool // print the updates, send nothing
	Force  bool // replace records this service did not write at the names it owns
}

// ApplyAll sends each domain's records (want, dnsrecords.Derive's and
// SharedOf's) to its zone in updates (the catalog's dns_updates): one update
// message per domain, after reading what the zone holds, and writes
// what changed to w, domain by domain. A domain in no dns_updates zone
// is an error when named on the command line (explicit), else it is
// listed as skipped. One domain's failure does not stop the others;
// ApplyAll fails once all are done.
func ApplyAll(ctx context.Context, updates []provision.DNSUpdate, want []dnsrecords.Domain, explicit bool, o Options, getenv func(string) string, w io.Writer) error {
	if len(updates) == 0 {
		return errors.New("--apply needs the catalog's dns_updates key: the zones this service may update, their server and TSIG key (docs/guide/dns-updates.md)")
	}
	zones, err := NewZones(updates, getenv)
	if err != nil {
		return err
	}
	u := &Updater{Zones: zones}
	var changed, upToDate, skipped int
	var failed []string
	for _, d := range want {
		p, err := u.Plan(ctx, d, o.Force)
		switch {
		case errors.Is(err, ErrNotUpdatable) && !(explicit && d.Provider == ""):
			skipped++
			what := "skipped: not in a dns_updates zone"
			if d.Provider != "" {
				what += "; publish provider " + d.Provider + "'s PACC TXT record by hand"
			}
			fmt.Fprintf(w, "%s: %s\n", d.Domain, what)
			continue
		case err != nil:
			failed = append(failed, d.Domain)
			fmt.Fprintf(w, "%s: FAILED: %v\n", d.Domain, err)
			continue
		}
		writePlan(w, p, o.Force)
		if p.Empty() {
			upToDate++
			continue
		}
		if o.DryRun {
			if len(p.Foreign) == 0 || o.Force {
				changed++
			} else {
				failed = append(failed, d.Domain)
			}
			continue
		}
		if err := u.Apply(ctx, p); err != nil {
			failed = append(failed, d.Domain)
			fmt.Fprintf(w, "%s: FAILED: %v\n", d.Domain, err)
			continue
		}
		changed++
		fmt.Fprintf(w, "%s: updated\n", d.Domain)
	}
	verb := "updated"
	if o.DryRun {
		verb = "to update (dry run: nothing sent)"
	}
	fmt.Fprintf(w, "%s: %d %s, %d up to date, %d skipped, %d failed\n", plural(len(want), "name"), changed, verb, upToDate, skipped, len(failed))
	if len(failed) > 0 {
		return fmt.Errorf("--apply failed for %s: %s", plural(len(failed), "domain"), strings.Join(failed, ", "))
	}
	return nil
}

// writePlan writes what an update of p changes: "-" the records deleted,
// "+" those added, and the names held by records this service did not
// write (refused without force).
func writePlan(w io.Writer, p *Plan, force bool) {
	where := fmt.Sprintf("zone %s at %s", strings.TrimSuffix(p.Zone.Name, "."), p.Zone.Server)
	switch {
	case len(p.Foreign) > 0 && !force:
		fmt.Fprintf(w, "%s (%s): refused, nothing changed: %s (--force replaces them)\n", p.Domain, where, strings.Join(p.Foreign, "; "))
		return
	case p.Empty():
		fmt.Fprintf(w, "%s (%s): up to date\n", p.Domain, where)
		return
	}
	fmt.Fprintf(w, "%s (%s): %s in one update:\n", p.Domain, where, plural(len(p.Changes), "RRset"))
	for _, c := range p.Changes {
		if c.Type == "ANY" {
			fmt.Fprintf(w, "  - %s (all its records: --force)\n", c.Name)
		}
		for _, rr := range c.Old {
			fmt.Fprintf(w, "  - %s\n", rrLine(rr))
		}
		for _, rr := range c.New {
			fmt.Fprintf(w, "  + %s\n", rrLine(rr))
		}
	}
}

// rrLine is a record on one line: tabs to spaces, control characters (a
// server's answer is hostile text) to "?".
func rrLine(rr dns.RR) string {
	return oneLine(strings.ReplaceAll(rr.String(), "\t", " "))
}

// plural is "1 name", "2 names".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
