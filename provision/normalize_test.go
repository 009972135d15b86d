package provision

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/idna"
)

// normalizeDomainSlow is NormalizeDomain without its ASCII fast path: the
// full IDNA mapping for every name.
func normalizeDomainSlow(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", err
	}
	a = strings.ToLower(a)
	return a, checkHostnameSplit(a)
}

// checkHostnameSplit is checkHostname as first written, with
// strings.Split: the reference the allocation-free one must agree with.
func checkHostnameSplit(h string) error {
	if h == "" {
		return fmt.Errorf("empty host name")
	}
	if len(h) > maxDomainLen {
		return fmt.Errorf("host name longer than %d bytes", maxDomainLen)
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
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
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("top-level label is all digits")
	}
	return nil
}

var domainSeeds = []string{
	"example.com", "EXAMPLE.COM", "Example.Net.", "a.b", "a..b", ".a.b", "a.b..", "-a.b", "a-.b", "a.b-",
	"ab--c.example", "xn--bcher-kva.example", "XN--BCHER-KVA.example", "bücher.example", "a.123", "1.2.3.4",
	"a_b.example", "a b.example", "localhost", strings.Repeat("a", 63) + ".example", strings.Repeat("a", 64) + ".example",
	strings.Repeat("a.", 126) + "bc", "xn--.example", "a--.example", "ab-c.example", "abc--d.example", "abc-.example",
	"ﬀ.example", "ß.example", "a\u200db.example", "a.b.c.d.e.f",
}

func TestCheckHostnameAgrees(t *testing.T) {
	for _, s := range domainSeeds {
		if got, want := fmt.Sprint(checkHostname(s)), fmt.Sprint(checkHostnameSplit(s)); got != want {
			t.Errorf("checkHostname(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzNormalizeDomain checks the fast path: whatever plainASCIIDomain
// accepts, the full IDNA path maps to the same name without error; and
// checkHostname agrees with its strings.Split reference on every input.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range domainSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := fmt.Sprint(checkHostname(s)), fmt.Sprint(checkHostnameSplit(s)); got != want {
			t.Fatalf("checkHostname(%q) = %s, want %s", s, got, want)
		}
		fast, ok := plainASCIIDomain(strings.TrimSuffix(s, "."))
		if !ok {
			return
		}
		slow, err := normalizeDomainSlow(s)
		if err != nil || slow != fast {
			t.Fatalf("fast path %q, full IDNA path %q, %v", fast, slow, err)
		}
	})
}
