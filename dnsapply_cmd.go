package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/dnsupdate"
	"mailautoconf/provision"
)

// applyOptions are `dns --apply`'s flags.
type applyOptions struct {
	apply, dryRun, force bool
}

// addApplyFlags declares --apply, --dry-run and --force on fs.
func addApplyFlags(fs *flag.FlagSet) *applyOptions {
	o := &applyOptions{}
	fs.BoolVar(&o.apply, "apply", false, "send the records as RFC 2136 updates signed with TSIG to the zones the catalog's dns_updates lists (docs/guide/dns-updates.md)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "with --apply: print the updates, send nothing")
	fs.BoolVar(&o.force, "force", false, "with --apply: replace records this service did not write at the names it owns")
	return o
}

// validate says what is wrong with the flags; set holds those given.
func (o *applyOptions) validate(set map[string]bool, check bool) error {
	if !o.apply {
		for _, f := range []string{"dry-run", "force"} {
			if set[f] {
				return fmt.Errorf("--%s needs --apply", f)
			}
		}
		return nil
	}
	if check {
		return errors.New("--apply and --check do not go together: apply, then check")
	}
	if set["json"] {
		return errors.New("--apply writes text only")
	}
	return nil
}

// runApply sends each domain's records (want, dnsrecords.Derive's and
// SharedOf's) to its zone: one update message per domain, after reading
// what the zone holds, and prints what changed, domain by domain. A
// domain in no dns_updates zone is an error when named on the command
// line (explicit), else it is listed as skipped. One domain's failure
// does not stop the others; the command fails once all are done.
func runApply(ctx context.Context, cat *provision.Catalog, want []dnsrecords.Domain, t dnsrecords.Target, explicit bool, o *applyOptions, getenv func(string) string, stdout io.Writer) error {
	if t.Host == "" && len(t.IPv4)+len(t.IPv6) == 0 {
		// Without them the host names get no records, and their records
		// would be deleted as stale.
		return fmt.Errorf("--apply needs the service's public host or addresses: set %s_PUBLIC_HOST (or --public-host), or --ipv4/--ipv6", envPrefix)
	}
	if len(cat.DNSUpdates()) == 0 {
		return errors.New("--apply needs the catalog's dns_updates key: the zones this service may update, their server and TSIG key (docs/guide/dns-updates.md)")
	}
	zones, err := dnsupdate.NewZones(cat.DNSUpdates(), getenv)
	if err != nil {
		return err
	}
	u := &dnsupdate.Updater{Zones: zones}
	var changed, upToDate, skipped int
	var failed []string
	for _, d := range want {
		p, err := u.Plan(ctx, d, o.force)
		switch {
		case errors.Is(err, dnsupdate.ErrNotUpdatable) && !(explicit && d.Provider == ""):
			skipped++
			what := "skipped: not in a dns_updates zone"
			if d.Provider != "" {
				what += "; publish provider " + d.Provider + "'s PACC TXT record by hand"
			}
			fmt.Fprintf(stdout, "%s: %s\n", d.Domain, what)
			continue
		case err != nil:
			failed = append(failed, d.Domain)
			fmt.Fprintf(stdout, "%s: FAILED: %v\n", d.Domain, err)
			continue
		}
		writePlan(stdout, p, o)
		if p.Empty() {
			upToDate++
			continue
		}
		if o.dryRun {
			if len(p.Foreign) == 0 || o.force {
				changed++
			} else {
				failed = append(failed, d.Domain)
			}
			continue
		}
		if err := u.Apply(ctx, p); err != nil {
			failed = append(failed, d.Domain)
			fmt.Fprintf(stdout, "%s: FAILED: %v\n", d.Domain, err)
			continue
		}
		changed++
		fmt.Fprintf(stdout, "%s: updated\n", d.Domain)
	}
	verb := "updated"
	if o.dryRun {
		verb = "to update (dry run: nothing sent)"
	}
	fmt.Fprintf(stdout, "%s: %d %s, %d up to date, %d skipped, %d failed\n", plural(len(want), "name"), changed, verb, upToDate, skipped, len(failed))
	if len(failed) > 0 {
		return fmt.Errorf("--apply failed for %s: %s", plural(len(failed), "domain"), strings.Join(failed, ", "))
	}
	return nil
}

// writePlan prints what an update of p changes: "-" the records deleted,
// "+" those added, and the names held by records this service did not
// write.
func writePlan(w io.Writer, p *dnsupdate.Plan, o *applyOptions) {
	where := fmt.Sprintf("zone %s at %s", strings.TrimSuffix(p.Zone.Name, "."), p.Zone.Server)
	switch {
	case len(p.Foreign) > 0 && !o.force:
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
