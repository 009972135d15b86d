// Package dnsupdate publishes the records internal/dnsrecords derives, as
// RFC 2136 dynamic updates signed with TSIG (RFC 8945), to the zones the
// catalog's dns_updates key lists (docs/guide/dns-updates.md). It
// replaces whole only the RRsets of the names this service owns, one
// update message per domain, each guarded by prerequisites on what was
// read just before, so that a domain is changed entirely or not at all.
//
// The TSIG secret is read from the environment into a Key and never
// leaves it but as the MAC of a message: no error, log line, String or
// metric holds it.
package dnsupdate

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Key is a TSIG key. Its secret is unexported and never printed: String
// gives the name and algorithm only.
type Key struct {
	Name      string // fully qualified, lower case
	Algorithm string // a miekg/dns algorithm name: dns.HmacSHA256, ...
	secret    string // base64, as dns.Client.TsigSecret wants it
}

// String names the key without its secret.
func (k Key) String() string {
	return strings.TrimSuffix(k.Name, ".") + " (" + strings.TrimSuffix(k.Algorithm, ".") + ")"
}

// GoString is String, so that %#v cannot print the secret either.
func (k Key) GoString() string { return "dnsupdate.Key{" + k.String() + "}" }

// algorithms are the TSIG algorithms a key may name (RFC 8945 §6: HMAC-
// SHA256 is mandatory to implement; SHA-384 and SHA-512 are common).
// HMAC-MD5 and HMAC-SHA1 are refused: RFC 8945 §6 says not to use them.
var algorithms = map[string]string{
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// ParseKey reads env's value, "name:algorithm:secret" (the secret in
// base64, as BIND's tsig-keygen and knotc write it). Its errors name the
// variable and say what is wrong, never quoting the value.
func ParseKey(env, value string) (Key, error) {
	name, rest, ok1 := strings.Cut(strings.TrimSpace(value), ":")
	alg, secret, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || name == "" || secret == "" {
		return Key{}, fmt.Errorf("%s: want name:algorithm:secret, e.g. mailautoconf:hmac-sha256:<base64 secret>", env)
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return Key{}, fmt.Errorf("%s: the key name is not a DNS name", env)
	}
	a, ok := algorithms[strings.ToLower(alg)]
	if !ok {
		// Not quoted: with the fields swapped, it would be the secret.
		return Key{}, fmt.Errorf("%s: the algorithm (the second field) is not hmac-sha256, hmac-sha384 or hmac-sha512", env)
	}
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil || len(raw) < 16 {
		return Key{}, fmt.Errorf("%s: the secret is not base64 of 16 bytes or more", env)
	}
	return Key{Name: dns.Fqdn(strings.ToLower(name)), Algorithm: a, secret: secret}, nil
}

// KeyFromEnv reads the key in environment variable env.
func KeyFromEnv(env string, getenv func(string) string) (Key, error) {
	v := getenv(env)
	if v == "" {
		return Key{}, fmt.Errorf("%s is not set: it holds the TSIG key, name:algorithm:secret", env)
	}
	return ParseKey(env, v)
}
