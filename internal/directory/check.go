package directory

import (
	"context"
	"time"

	"mailautoconf/provision"
)

// CheckResult is what Check found for one directory. Errors are scrubbed
// of URLs and passwords like every error of this package.
type CheckResult struct {
	Name, Type string
	// Open: the directory could not be opened (unset variable, bad URL);
	// nothing else was tried.
	Open error
	// HasDomains: the directory has a domain query; then Domains is the
	// number of values read, or DomainsErr why none were.
	HasDomains bool
	Domains    int
	DomainsErr error
	Took       time.Duration // the domain query's
	// List is the domain list read, as read, for check to merge with
	// the files as serve does at start.
	List []string
	// HasLogin: the directory has a login query; then Address was looked
	// up, directly on the server, and Login/Found/LoginErr are the answer.
	HasLogin bool
	Address  string
	Login    string
	Found    bool
	LoginErr error
}

// OK reports whether every query that the directory has worked.
func (r CheckResult) OK() bool { return r.Open == nil && r.DomainsErr == nil && r.LoginErr == nil }

// Check connects to each directory with the environment given, runs its
// domain query and one login lookup, and reports counts and errors, for
// `mailautoconf check`. The lookup is of address, or, when it is empty,
// of a made-up one in the first domain read (or example.invalid), which a
// directory should answer "not found". Nothing is cached or kept.
func Check(ctx context.Context, dirs []*provision.Directory, getenv func(string) string, address string) []CheckResult {
	out := make([]CheckResult, 0, len(dirs))
	for _, c := range dirs {
		r := CheckResult{Name: c.Name, Type: c.Type, HasDomains: c.HasDomains(), HasLogin: c.HasLogin()}
		src, err := Open(c, getenv)
		if err != nil {
			r.Open = err
			out = append(out, r)
			continue
		}
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = defaultTimeout
		}
		domain := "example.invalid"
		if r.HasDomains {
			start := time.Now()
			list, err := src.Domains(ctx)
			r.Took, r.Domains, r.DomainsErr = time.Since(start), len(list), err
			if err == nil {
				r.List = list
			}
			if len(list) > 0 {
				domain = list[0]
			}
		}
		if r.HasLogin {
			r.Address = address
			if r.Address == "" {
				r.Address = "mailautoconf-check@" + domain
			}
			lctx, cancel := context.WithTimeout(ctx, timeout)
			r.Login, r.Found, r.LoginErr = src.Login(lctx, r.Address)
			cancel()
		}
		src.Close()
		out = append(out, r)
	}
	return out
}
