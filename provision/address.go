package provision

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Address is a parsed e-mail address. Domain is always the lower-case
// A-label form; Local is kept as given.
type Address struct {
	Local  string
	Domain string
	// Login is the login name a directory holds for the address, set by
	// the caller before rendering; "" when there is none. The renderers
	// write it for %LOGIN% when CheckLogin accepts it, and the address
	// otherwise. ParseAddress never sets it: it comes from a directory,
	// never from a request.
	Login string
}

// String returns local@domain.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// maxLogin bounds a login name from a directory. Real ones are short (a
// Unix user name, an AD sAMAccountName of 20 characters, an address of at
// most 254 bytes, RFC 5321 §4.5.3.1): 256 bytes holds every one of them.
const maxLogin = 256

// CheckLogin reports why s is not written as a login name, or nil: it
// must be 1 to 256 bytes of UTF-8 whose every character is printable
// (Unicode letters, marks, numbers, punctuation and symbols) and not
// white space, and it may not hold %, which clients read as the start of
// a placeholder. A directory's row is input like any other: XML and
// plist markup in it is escaped by the encoders, but control and format
// characters (NUL, newlines, bidi overrides), spaces and overlong values
// have no place in a login a client types into a server, and are refused
// so that the renderers fall back to the address. The error names the
// rule, never the value.
func CheckLogin(s string) error {
	switch {
	case s == "":
		return errLoginEmpty
	case len(s) > maxLogin:
		return errLoginLong
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf { // the common case, without decoding
			if c <= ' ' || c == '%' || c == 0x7f {
				return errLoginChar
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return errLoginUTF8
		}
		if !unicode.IsPrint(r) {
			return errLoginChar
		}
		i += n
	}
	return nil
}

// CheckLogin's errors, made once: a directory may hold many bad rows.
var (
	errLoginEmpty = errors.New("login is empty")
	errLoginLong  = fmt.Errorf("login longer than %d bytes", maxLogin)
	errLoginUTF8  = errors.New("login is not UTF-8")
	errLoginChar  = errors.New("login holds white space, %, or a character that is not printable")
)

// withLogin returns addr, or, when its Login is set but CheckLogin
// refuses it, a copy without it, for which %LOGIN% is the address.
func withLogin(addr *Address) *Address {
	if addr == nil || addr.Login == "" || CheckLogin(addr.Login) == nil {
		return addr
	}
	a := *addr
	a.Login = ""
	return &a
}

// loginOf is what %LOGIN% is for addr, which withLogin has checked.
func loginOf(addr *Address) string {
	if addr.Login != "" {
		return addr.Login
	}
	return addr.String()
}

// Limits from RFC 5321 §4.5.3.1.
const (
	maxLocalLen  = 64
	maxDomainLen = 253
	maxLabelLen  = 63
)

// ParseAddress parses an addr-spec as mail clients send it: local@domain,
// with no display name, comments, quoting or surrounding space. It is
// stricter than RFC 5322 on purpose: the local part ends up in documents
// clients parse, so it may not hold anything those documents or the
// clients' placeholder substitution would read as structure (% < > " &
// white space, control characters).
func ParseAddress(s string) (Address, error) {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return Address{}, fmt.Errorf("%w: no @", ErrBadAddress)
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocal(local); err != nil {
		return Address{}, err
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		return Address{}, err
	}
	return Address{Local: local, Domain: d}, nil
}

func checkLocal(local string) error {
	switch {
	case local == "":
		return fmt.Errorf("%w: empty local part", ErrBadAddress)
	case len(local) > maxLocalLen:
		return fmt.Errorf("%w: local part longer than %d bytes", ErrBadAddress, maxLocalLen)
	case !utf8.ValidString(local):
		return fmt.Errorf("%w: local part is not UTF-8", ErrBadAddress)
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return fmt.Errorf("%w: misplaced dot in local part", ErrBadAddress)
	}
	for _, r := range local {
		if !localRune(r) {
			return fmt.Errorf("%w: character %U not allowed in local part", ErrBadAddress, r)
		}
	}
	return nil
}

// localRune reports whether r may appear in a local part: RFC 5322 atext
// without % (a placeholder delimiter) and & (XML), plus '.', plus non-ASCII
// letters and digits (RFC 6531).
func localRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r < utf8.RuneSelf:
		return strings.ContainsRune("!#$'*+-/=?^_`{|}~.", r)
	default:
		return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
	}
}

// NormalizeDomain returns the lower-case A-label form of a domain given in
// U-label or A-label form, or ErrBadAddress. One trailing dot is dropped.
// A domain needs at least two labels.
func NormalizeDomain(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", fmt.Errorf("%w: empty domain", ErrBadAddress)
	}
	if len(s) > 4*maxDomainLen || !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: domain is not a host name", ErrBadAddress)
	}
	a, ok := plainASCIIDomain(s)
	if !ok {
		var err error
		if a, err = idna.Lookup.ToASCII(s); err != nil {
			return "", fmt.Errorf("%w: domain is not a host name", ErrBadAddress)
		}
		a = strings.ToLower(a)
		if err := checkHostname(a); err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadAddress, err)
		}
	}
	if !strings.Contains(a, ".") {
		return "", fmt.Errorf("%w: domain needs a dot", ErrBadAddress)
	}
	return a, nil
}

// plainASCIIDomain is NormalizeDomain's fast path, taken on every request
// and for every domain of a catalog. A name of ASCII letters, digits, dots
// and hyphens that checkHostname accepts and in which no label has a
// hyphen in its third or fourth place (so no A-label, "xn--", nothing
// idna's CheckHyphens refuses) maps to itself in lower case under
// idna.Lookup. It returns that and true, or false for anything else,
// which takes the full IDNA path with its own messages;
// FuzzNormalizeDomain checks that both paths agree.
func plainASCIIDomain(s string) (string, bool) {
	upper := false
	labelStart := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			upper = true
		case c == '.':
			labelStart = i + 1
		case c == '-':
			if i-labelStart == 2 || i-labelStart == 3 {
				return "", false
			}
		default:
			return "", false
		}
	}
	if upper {
		s = strings.ToLower(s)
	}
	if checkHostname(s) != nil {
		return "", false
	}
	return s, true
}

// checkHostname checks an ASCII host name: letters, digits and hyphens in
// labels of 1 to 63 bytes, 253 bytes in all, no label starting or ending
// with a hyphen, and a top-level label that is not all digits (so that it
// cannot be read as an IPv4 address).
func checkHostname(h string) error {
	if h == "" {
		return fmt.Errorf("empty host name")
	}
	if len(h) > maxDomainLen {
		return fmt.Errorf("host name longer than %d bytes", maxDomainLen)
	}
	// Label by label without strings.Split: this runs on every request.
	var l string
	for rest := h; rest != ""; {
		l, rest, _ = strings.Cut(rest, ".")
		if l == "" {
			return fmt.Errorf("empty label in host name")
		}
		if len(l) > maxLabelLen {
			return fmt.Errorf("label longer than %d bytes", maxLabelLen)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label starts or ends with a hyphen")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("character %q not allowed in host name", c)
			}
		}
	}
	if h[len(h)-1] == '.' {
		return fmt.Errorf("empty label in host name")
	}
	if allDigits(l) { // the top-level label
		return fmt.Errorf("top-level label is all digits")
	}
	return nil
}

// allDigits reports whether s is only ASCII digits (true for "").
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizeHost is NormalizeDomain for server host names: a single label is
// allowed (a LAN host such as "mail"), everything else is the same.
func NormalizeHost(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || !utf8.ValidString(s) || len(s) > 4*maxDomainLen {
		return "", fmt.Errorf("not a host name")
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		if err := checkHostname(strings.ToLower(s)); err != nil {
			return "", err // the reason, for an ASCII name
		}
		return "", fmt.Errorf("not a valid internationalized host name")
	}
	a = strings.ToLower(a)
	if err := checkHostname(a); err != nil {
		return "", err
	}
	return a, nil
}
