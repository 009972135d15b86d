package provision

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var addressTests = []struct {
	in, local, domain string // domain "" = ErrBadAddress
}{
	{"alice@example.com", "alice", "example.com"},
	{"Alice.Smith+tag@Example.COM", "Alice.Smith+tag", "example.com"},
	{"alice@example.com.", "alice", "example.com"},
	{"o'neil@example.com", "o'neil", "example.com"},
	{"user@bücher.example", "user", "xn--bcher-kva.example"},
	{"user@XN--BCHER-KVA.example", "user", "xn--bcher-kva.example"},
	{"jörg@bücher.example", "jörg", "xn--bcher-kva.example"},
	{"a@b.co", "a", "b.co"},
	{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64), "example.com"},
	{"", "", ""},
	{"alice", "", ""},
	{"@example.com", "", ""},
	{"alice@", "", ""},
	{"alice@example", "", ""},
	{"alice@localhost", "", ""},
	{"alice@@example.com", "", ""},
	{"al ice@example.com", "", ""},
	{"alice@exa mple.com", "", ""},
	{"al<ice@example.com", "", ""},
	{"alice>@example.com", "", ""},
	{"al&ice@example.com", "", ""},
	{"\"alice\"@example.com", "", ""},
	{"alice%EMAILDOMAIN%@example.com", "", ""},
	{"%EMAILADDRESS%@example.com", "", ""},
	{"alice\n@example.com", "", ""},
	{"alice\x00@example.com", "", ""},
	{"alice@example.com\r\nX: y", "", ""},
	{".alice@example.com", "", ""},
	{"alice.@example.com", "", ""},
	{"al..ice@example.com", "", ""},
	{"\xff@example.com", "", ""},
	{"alice@\xffexample.com", "", ""},
	{strings.Repeat("a", 65) + "@example.com", "", ""},
	{"alice@" + strings.Repeat("a", 64) + ".com", "", ""},
	{"alice@" + strings.Repeat("abcdefghi.", 26) + "com", "", ""},
	{"alice@-example.com", "", ""},
	{"alice@example-.com", "", ""},
	{"alice@ex_ample.com", "", ""},
	{"alice@example..com", "", ""},
	{"alice@192.168.0.1", "", ""},
	{"alice@[192.168.0.1]", "", ""},
	{"alice@xn--zz.example", "", ""},
	{"alice@example.com/../x", "", ""},
	{"alice@exa%2Fmple.com", "", ""},
}

func TestParseAddress(t *testing.T) {
	for _, tt := range addressTests {
		a, err := ParseAddress(tt.in)
		if tt.domain == "" {
			if !errors.Is(err, ErrBadAddress) {
				t.Errorf("ParseAddress(%q) = %+v, %v; want ErrBadAddress", tt.in, a, err)
			}
			continue
		}
		if err != nil || a.Local != tt.local || a.Domain != tt.domain {
			t.Errorf("ParseAddress(%q) = %+v, %v; want %s@%s", tt.in, a, err, tt.local, tt.domain)
		}
	}
}

// FuzzParseAddress: an accepted address is safe to put in every document:
// valid UTF-8, no markup or placeholder characters, no white space, a
// domain that is a lower-case A-label host name, and parsing its String
// again gives the same address.
func FuzzParseAddress(f *testing.F) {
	for _, tt := range addressTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) {
				t.Fatalf("ParseAddress(%q) error %v is not ErrBadAddress", s, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error message spans lines: %q", err.Error())
			}
			return
		}
		str := a.String()
		if !utf8.ValidString(str) || strings.ContainsAny(str, "<>&\"%\\ \t\r\n\x00") {
			t.Fatalf("ParseAddress(%q) accepted unsafe %q", s, str)
		}
		if a.Domain != strings.ToLower(a.Domain) || checkHostname(a.Domain) != nil {
			t.Fatalf("domain %q is not a lower-case host name", a.Domain)
		}
		b, err := ParseAddress(str)
		if err != nil || b != a {
			t.Fatalf("ParseAddress(%q) = %+v, %v; not stable", str, b, err)
		}
	})
}
