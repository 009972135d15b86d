package provision

import (
	"fmt"
	"time"
)

// AnswerTTL is how long a login lookup's answer is kept, whether a login
// was found or not: one lifetime, the shorter of CacheTTL and
// NegativeTTL (0: nothing is kept).
//
// One lifetime, not one for each kind: with "no such user" kept 1 minute
// and a login 5, a request between the two was answered from memory for
// an address that exists and by a database query for one that does not,
// and its time told which (docs/guide/directories.md#privacy; issue 23, item 2). With one
// lifetime a second request is a cache hit, or a query, for both alike.
// The shorter, so that neither kind is kept longer than the catalog
// allows: NegativeTTL still bounds how long a new user's address stands
// in for its login, CacheTTL how long a changed login is served.
func (d *Directory) AnswerTTL() time.Duration {
	return max(0, min(d.CacheTTL, d.NegativeTTL))
}

// TTLWarning returns a warning when the directory's cache_ttl and
// negative_ttl differ, naming the one lifetime both kinds of answer get
// (AnswerTTL); else "". A catalog written for two lifetimes would
// otherwise keep logins for less time than it says, silently.
func TTLWarning(d *Directory) string {
	if d.CacheTTL == d.NegativeTTL {
		return ""
	}
	return fmt.Sprintf("%s: directory %s: cache_ttl %s and negative_ttl %s differ: a login found and %q are both kept %s, the shorter, so that the time of an answer does not tell whether an address exists; give both the same value",
		d.Source, d.Name, d.CacheTTL, d.NegativeTTL, "no such user", d.AnswerTTL())
}
