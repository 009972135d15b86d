// Package dirquery checks the text of a directory's queries as the catalog
// gives them: the parameters of an SQL query, the shape of an LDAP filter,
// distinguished name and attribute name. The catalog loader (provision)
// refuses a catalog with these checks, and the directory drivers
// (internal/directory) share them. It does not parse SQL or LDAP: whether a
// query runs is the server's to judge (`mailautoconf check` asks it).
package dirquery

import (
	"fmt"
	"strings"
)

// Dialect is the SQL dialect of a query: where its parameters are, and
// which quotes and comments it has.
type Dialect uint8

const (
	// Postgres numbers its parameters $1, $2, ...
	Postgres Dialect = iota
	// MySQL marks each parameter with ?, and has backquoted
	// identifiers, backslash escapes and # comments.
	MySQL
)

// CheckSQL checks the parameters of an SQL query of a directory: a login
// query has exactly one, the address ($1, used once or more, for
// Postgres; one ? for MySQL), a domains query none. Parameters are found
// outside string literals, quoted identifiers and comments (PostgreSQL 17
// documentation §4.1; MySQL 8.4 Reference Manual §11.1, §11.7): an
// address is only ever passed as a parameter, never written into the
// text. The error says what is wrong, without the query.
func CheckSQL(q string, d Dialect, login bool) error {
	params, err := SQLParams(q, d)
	if err != nil {
		return err
	}
	one := "$1"
	if d == MySQL {
		one = "?"
	}
	switch {
	case login && (len(params) == 0 || len(params) > 1 && d == MySQL):
		return fmt.Errorf("needs exactly one parameter, %s: the address (found %d)", one, len(params))
	case login && d == Postgres && !allOne(params):
		return fmt.Errorf("its one parameter is $1, the address (found $%d)", maxParam(params))
	case !login && len(params) > 0:
		return fmt.Errorf("takes no parameter (it reads every domain); found %d", len(params))
	}
	return nil
}

func allOne(ps []int) bool {
	for _, p := range ps {
		if p != 1 {
			return false
		}
	}
	return true
}

func maxParam(ps []int) int {
	m := 0
	for _, p := range ps {
		m = max(m, p)
	}
	return m
}

// SQLParams lists the parameters of q in order: the number of each $n
// (Postgres), or 0 for each ? (MySQL). An unterminated literal or comment
// is an error.
func SQLParams(q string, d Dialect) ([]int, error) {
	mysql := d == MySQL
	var out []int
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"' || c == '`' && mysql:
			end, ok := quotedEnd(q, i, c, mysql)
			if !ok {
				return nil, fmt.Errorf("unterminated %c quote", c)
			}
			i = end
		case c == '-' && i+1 < len(q) && q[i+1] == '-', c == '#' && mysql:
			nl := strings.IndexByte(q[i:], '\n')
			if nl < 0 {
				return out, nil
			}
			i += nl + 1
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated /* comment")
			}
			i += 2 + end + 2
		case c == '?' && mysql:
			out = append(out, 0)
			i++
		case c == '$' && d == Postgres:
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 && (i == 0 || !identByte(q[i-1])) {
				n := 0
				for _, b := range []byte(q[i+1 : j]) {
					n = min(n*10+int(b-'0'), 1<<20)
				}
				out = append(out, n)
				i = j
				continue
			}
			// A dollar-quoted string: $tag$ ... $tag$ (§4.1.2.4).
			for j < len(q) && identByte(q[j]) {
				j++
			}
			if j < len(q) && q[j] == '$' && (i == 0 || !identByte(q[i-1])) {
				tag := q[i : j+1]
				end := strings.Index(q[j+1:], tag)
				if end < 0 {
					return nil, fmt.Errorf("unterminated %s quote", tag)
				}
				i = j + 1 + end + len(tag)
				continue
			}
			i++
		default:
			i++
		}
	}
	return out, nil
}

func identByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// quotedEnd returns the index after the quote that closes the one at
// q[i]: a doubled quote stands for itself, and in MySQL a backslash
// escapes the next byte.
func quotedEnd(q string, i int, quote byte, backslash bool) (int, bool) {
	for j := i + 1; j < len(q); j++ {
		switch q[j] {
		case '\\':
			if backslash && quote != '`' {
				j++
			}
		case quote:
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}
