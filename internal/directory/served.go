package directory

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"mailautoconf/provision"
)

// Served is cat with its directories' domains, each list read once now
// with the environment getenv, for the commands that list or look up
// domains as the service serves them (dns, doctor). The lists are merged
// as a reload merges them: a domain another owner serves is skipped, and
// the warning saying so goes to stderr. A directory that cannot be read
// is reported on stderr and its domains are left out; the error returned
// then names it, with the catalog, once the rest is done. Check's merge
// and the service's at start are strict instead (Merge).
func Served(ctx context.Context, cat *provision.Catalog, getenv func(string) string, stderr io.Writer) (*provision.Catalog, error) {
	if len(cat.Directories()) == 0 {
		return cat, nil
	}
	lists := map[string][]string{}
	var failed []string
	for _, d := range cat.Directories() {
		if !d.HasDomains() {
			continue
		}
		list, err := readDomains(ctx, d, getenv)
		if err != nil {
			fmt.Fprintf(stderr, "mailautoconf: directory %s: %v: its domains are left out\n", d.Name, err)
			failed = append(failed, d.Name)
			continue
		}
		lists[d.Name] = list
	}
	served, warnings, err := cat.WithDirectoryDomains(lists, false)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "mailautoconf: warning: "+w)
	}
	if len(failed) > 0 {
		return served, fmt.Errorf("directories not read, their domains left out: %s", strings.Join(failed, ", "))
	}
	return served, nil
}

// Merge is cat with the domain lists of its directories read for the
// first time (lists, by directory name): check's merge of the lists it
// read, and the service's at start of the lists kept on disk. It is
// strict: a domain that two owners claim is an error naming both
// (provision.MergeOptions.FirstRead), as for two providers of the files.
// A row skipped is a warning.
func Merge(cat *provision.Catalog, lists map[string][]string) (*provision.Catalog, []string, error) {
	return cat.WithDirectoryDomains(lists, true)
}

// readDomains opens d, reads its domain list within its timeout (10 s
// at least: a list is longer than a login) and closes it.
func readDomains(ctx context.Context, d *provision.Directory, getenv func(string) string) ([]string, error) {
	src, err := Open(d, getenv)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(ctx, max(d.Timeout, 10*time.Second))
	defer cancel()
	return src.Domains(ctx)
}
