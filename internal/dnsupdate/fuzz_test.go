package dnsupdate

import (
	"strings"
	"testing"
)

// FuzzParseKey: whatever the variable holds, ParseKey's error names the
// variable and never holds any field of the value long enough to be a
// secret (a swapped or mistyped key must not leak through a message),
// and a key it accepts prints without its secret.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"", "mailautoconf:hmac-sha256:" + secret, "k:hmac-md5:" + secret, "k:" + secret + ":hmac-sha256",
		secret, "k:hmac-sha256:c2hvcnQ=", "k::" + secret, ":hmac-sha512:" + secret, "a b:hmac-sha256:" + secret,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		k, err := ParseKey("VAR", value)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "VAR: ") {
				t.Errorf("ParseKey(%q) = %v: the error does not start with the variable", value, err)
			}
			for _, field := range strings.Split(value, ":") {
				if len(field) >= 16 && strings.Contains(err.Error(), field) {
					t.Errorf("ParseKey(%q) = %v: the error holds %q", value, err, field)
				}
			}
			return
		}
		if strings.Contains(k.String()+k.GoString(), k.secret) {
			t.Errorf("key %q prints its secret", value)
		}
	})
}
