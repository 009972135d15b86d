package dirquery

import (
	"fmt"
	"strings"
)

// Placeholder is where an LDAP login filter takes the address, escaped as
// an assertion value (RFC 4515 §3).
const Placeholder = "%s"

// CheckFilter checks an LDAP search filter: parenthesized, its
// parentheses balanced (RFC 4515 §3: a value's own parentheses are
// escaped as \28 and \29), with exactly placeholders times Placeholder, where
// the escaped address goes, and no other %. The error quotes v.
func CheckFilter(v string, placeholders int) error {
	depth, balanced := 0, v != "" && v[0] == '(' && v[len(v)-1] == ')'
	for i := 0; i < len(v) && balanced; i++ {
		switch v[i] {
		case '(':
			depth++
		case ')':
			depth--
			balanced = depth > 0 || depth == 0 && i == len(v)-1
		}
	}
	balanced = balanced && depth == 0
	switch got := strings.Count(v, Placeholder); {
	case !balanced:
		return fmt.Errorf("%q is not a filter in parentheses (RFC 4515), such as (mail=%%s)", v)
	case got != placeholders || strings.Count(v, "%") != got:
		if placeholders == 1 {
			return fmt.Errorf("%q needs one %%s, where the address goes, and no other %%", v)
		}
		return fmt.Errorf("%q takes no %% (it reads every domain)", v)
	}
	return nil
}

// CheckDN checks a distinguished name as far as the catalog does: its
// syntax is the server's to judge (RFC 4514); here it must hold at least
// one attribute=value. The error quotes v.
func CheckDN(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not a distinguished name, such as ou=people,dc=example,dc=com", v)
	}
	return nil
}

// AttributeName reports whether v is an attribute description: a name
// (RFC 4512 §1.4 keystring: a letter, then letters, digits and hyphens)
// or a numeric OID.
func AttributeName(v string) bool {
	if v == "" || len(v) > 128 {
		return false
	}
	if v[0] >= '0' && v[0] <= '9' { // numericoid
		for _, part := range strings.Split(v, ".") {
			if part == "" || !allDigits(part) || len(part) > 1 && part[0] == '0' {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
