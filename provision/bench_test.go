package provision

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Benchmarks of every renderer and of the lookup, with allocations:
//
//	go test -run '^$' -bench . -benchmem ./provision/
//
// They measure; no test asserts a duration (the machine is shared).

func benchProvider(b *testing.B) *Provider {
	b.Helper()
	p, err := Demo().Lookup("example.com")
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchRenderers runs each renderer, by etree and pre-rendered, for the
// demo provider without an address (name0) and with one (name1).
func benchRenderers(b *testing.B, name0, name1 string, etree func(*Provider, string, *Address) []byte, prerendered func(*Catalog, []byte, *Provider, string, *Address, Options) ([]byte, error)) *Catalog {
	cat := Demo()
	p, _ := cat.Lookup("example.com")
	addr := &Address{Local: "alice", Domain: "example.com"}
	for _, tc := range []struct {
		name string
		addr *Address
	}{{name0, nil}, {name1, addr}} {
		b.Run("etree-"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				etree(p, "example.com", tc.addr)
			}
		})
		b.Run("prerendered-"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := prerendered(cat, nil, p, "example.com", tc.addr, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	return cat
}

func BenchmarkThunderbird(b *testing.B) {
	benchRenderers(b, "placeholders", "address", etreeAutoconfig, (*Catalog).Autoconfig)
}

// BenchmarkThunderbirdLogin renders a %LOGIN% provider's document with
// a login, with a refused one (the address instead), and with none, into
// a reused buffer as a handler does: what %LOGIN% adds to a request once
// the login is known.
func BenchmarkThunderbirdLogin(b *testing.B) {
	c, p := loginCat(b)
	buf := make([]byte, 0, 4096)
	for _, tc := range []struct{ name, login string }{{"login", "anna42"}, {"refused", "anna 42"}, {"none", ""}} {
		addr := &Address{Local: "anna", Domain: "example.org", Login: tc.login}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Autoconfig(buf[:0], p, "example.org", addr, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The same provider with %EMAILADDRESS%: the figure to compare with.
	plain, err := Parse(Source{Name: "plain.yaml", Data: []byte(strings.ReplaceAll(strings.ReplaceAll(loginCatalog, "%LOGIN%", "%EMAILADDRESS%"), "    login_directory: users\n", ""))})
	if err != nil {
		b.Fatal(err)
	}
	pp, _ := plain.Lookup("example.org")
	addr := &Address{Local: "anna", Domain: "example.org"}
	b.Run("without-login", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := plain.Autoconfig(buf[:0], pp, "example.org", addr, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAutodiscover(b *testing.B) {
	cat := benchRenderers(b, "get", "address", etreeAutodiscover, (*Catalog).Autodiscover)
	body := []byte(outlookRequest("alice@example.com"))
	now := time.Now()
	b.Run("answer-post", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cat.AnswerAutodiscover(nil, "example.com", body, now, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseAutodiscoverRequest(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("error-600", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			AutodiscoverError(OutlookSchema, CodeInvalidRequest, now)
		}
	})
	adCat := loadADCatalog(b)
	hoster, _ := adCat.Lookup("hoster.net")
	fred := Address{Local: "alice", Domain: "hoster.net"}
	b.Run("etree-mobilesync", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			etreeMobileSync(hoster, fred)
		}
	})
	b.Run("prerendered-mobilesync", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mobileSync(adCat, hoster, fred)
		}
	})
}

func BenchmarkAutodiscoverJSON(b *testing.B) {
	p := benchProvider(b)
	addr := Address{Local: "alice", Domain: "example.com"}
	b.ReportAllocs()
	for b.Loop() {
		autodiscoverJSON(p, addr, "AutodiscoverV1", "")
	}
}

func BenchmarkMobileconfig(b *testing.B) {
	var cat *Catalog
	p := benchProvider(b)
	addr := Address{Local: "alice", Domain: "example.com"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cat.Mobileconfig(nil, p, addr.Domain, &addr, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAddress(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAddress("alice.smith@Example.COM"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookup looks up known and unknown domains in catalogs of 1,000
// to 1,000,000 domains: the time per lookup must not grow with the
// catalog (a map, O(1)).
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		cat := syntheticCatalog(b, n)
		domains := cat.Domains()
		b.Run(fmt.Sprintf("known-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := cat.Lookup(domains[i%len(domains)]); err != nil {
					b.Fatal(err)
				}
				i += 7919
			}
		})
		b.Run(fmt.Sprintf("unknown-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cat.Lookup("not-served.example"); err == nil {
					b.Fatal("served")
				}
			}
		})
	}
}

// syntheticCatalog builds a catalog of n domains over n/20000+1 providers
// directly, without YAML: the lookup benchmark measures the index, not the
// loader (bench/scale measures that).
func syntheticCatalog(b *testing.B, n int) *Catalog {
	b.Helper()
	demo := benchProvider(b)
	providers := make([]*Provider, n/20000+1)
	for i := range providers {
		p := *demo
		p.ID = fmt.Sprintf("mx%d.hoster.example", i)
		p.Domains = nil
		providers[i] = &p
	}
	for i := 0; i < n; i++ {
		p := providers[i%len(providers)]
		p.Domains = append(p.Domains, fmt.Sprintf("customer%d.example", i))
	}
	cat, err := NewCatalog(providers)
	if err != nil {
		b.Fatal(err)
	}
	return cat
}

// BenchmarkParseLongLists parses one provider whose domains, domain
// redirects, tls_names and PACC contacts are each n long: the checks for
// an entry listed twice are sets, so the time grows with n, not with n
// squared (100,000 tls_names took 12.6 s when each was compared with
// those before it).
func BenchmarkParseLongLists(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var doms, redirects, names, contacts strings.Builder
			for i := range n {
				fmt.Fprintf(&doms, "d%d.example,", i)
				fmt.Fprintf(&redirects, "      d%d.example: {}\n", i)
				fmt.Fprintf(&names, "mail%d.example,", i)
				fmt.Fprintf(&contacts, "\"mailto:c%d@example.org\",", i)
			}
			data := []byte(fmt.Sprintf(`providers:
  - id: long.example
    domains: [%s]
    incoming: [{protocol: imap, host: imap.example.org, port: 993, security: tls}]
    outgoing: [{protocol: smtp, host: smtp.example.org, port: 465, security: tls}]
    tls_names: [%s]
    help: {contact: [%s]}
    domain_redirects:
%s`, doms.String(), names.String(), contacts.String(), redirects.String()))
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse(Source{Name: "c.yaml", Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
