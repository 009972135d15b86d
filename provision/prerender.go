package provision

import (
	"sync"

	"mailautoconf/internal/splice"
)

// Pre-rendering: the request path only looks up and writes.
//
// Every XML document is built by its etree renderer (autoconfigDoc,
// autodiscoverDoc, mobileSyncDoc, autodiscoverErrorDoc), which stays the
// one definition of each format. Once per provider and variant, that
// renderer runs with markers in place of the values a request brings (the
// domain, the address's local part and domain, a redirect target, a
// time), and internal/splice cuts the output at the markers into a
// template that a request fills with its own values, escaped exactly as
// etree's SetText escapes them.
//
// A template proves itself when it is made: it must render the probes
// below byte for byte as the etree renderer does, or it is dropped and
// that provider is served by the renderer itself. prerender_test.go
// compares both for many addresses. Templates are made on first use and
// kept in the catalog they belong to, one set per provider (never per
// domain: the domain is a hole), so a catalog of a million domains costs
// nothing until asked and a few KB per provider asked for.

// The holes of a template: which of a request's values goes where.
const (
	holeDomain     = iota // the e-mail domain the document is for
	holeLocal             // the address's local part
	holeAddrDomain        // the address's domain
	holeValue             // a value the caller computes: a redirect target, a time
	holeLogin             // what %LOGIN% is for the address (loginOf)
)

// addressFill returns the values of p's documents for domain and addr,
// which withLogin has checked. The login is filled only where p's
// templates have a hole for it: the address it falls back to costs an
// allocation.
func (c *Catalog) addressFill(p *Provider, domain string, addr *Address, value string) splice.Values {
	f := splice.Values{holeDomain: domain, holeValue: value}
	if addr != nil {
		f[holeLocal], f[holeAddrDomain] = addr.Local, addr.Domain
		if addr.Login != "" || c.needsLogin(p) {
			f[holeLogin] = loginOf(addr)
		}
	}
	return f
}

// fillAddress is the Address a renderer gets for a fill's address holes.
func fillAddress(f splice.Values) *Address {
	return &Address{Local: f[holeLocal], Domain: f[holeAddrDomain], Login: f[holeLogin]}
}

// probes are the requests a new template must render exactly as the etree
// renderer does: markup characters, quotes, non-ASCII, a control
// character and a byte of invalid UTF-8 in every hole.
var probes = []splice.Values{
	{holeDomain: "probe.example", holeLocal: "o'neil+\"x\"", holeAddrDomain: "probe.example", holeValue: "https://x.example/?a=1&b=<2>", holeLogin: "CORP\\o'neil<&>\"x\""},
	{holeDomain: "xn--bcher-kva.example", holeLocal: "jürgen&\x01\xff", holeAddrDomain: "b\u00fccher.example", holeValue: "%EMAILLOCALPART%@y.example", holeLogin: "jürgen]]>\x00\n\xff"},
}

// lazyTemplate is an XML template made on first use.
type lazyTemplate struct {
	once  sync.Once
	t     *splice.Template
	tried bool // compile ran; t is nil if it failed
}

func (l *lazyTemplate) get(render func(splice.Values) []byte) *splice.Template {
	l.once.Do(func() { l.t, l.tried = splice.Compile(render, splice.XML, probes), true })
	return l.t
}

// providerTemplates are one provider's templates, each made on first use.
type providerTemplates struct {
	autoconfig  [2]lazyTemplate // [0] placeholders, [1] an address
	onePerType  [2]lazyTemplate // Thunderbird's OnePerType variant, the same two
	settings    [2]lazyTemplate // Autodiscover settings: [0] GET, [1] an address
	redirectURL lazyTemplate
	redirectTo  lazyTemplate // redirectAddr: the target is the value
	mobileSync  [2]lazyTemplate
	needsLogin  bool // p.NeedsLogin(), at the catalog's making
}

// needsLogin is p.NeedsLogin(), computed once per provider of c.
func (c *Catalog) needsLogin(p *Provider) bool {
	if pt := c.templates(p); pt != nil {
		return pt.needsLogin
	}
	return p.NeedsLogin()
}

// withAddress is 1 with an address, else 0: the index of the variant.
func withAddress(addr *Address) int {
	if addr == nil {
		return 0
	}
	return 1
}

// templates returns p's templates in c, or nil when p is not one of c's
// providers (a copy, or a provider of another catalog).
func (c *Catalog) templates(p *Provider) *providerTemplates {
	if c == nil {
		return nil
	}
	return c.prerendered[p]
}

// autoconfigTemplate returns the template of Thunderbird's document for
// p, with or without an address, listing which servers; nil when p has
// none in c.
func (c *Catalog) autoconfigTemplate(p *Provider, addr *Address, which Servers) *splice.Template {
	pt := c.templates(p)
	if pt == nil {
		return nil
	}
	v := withAddress(addr)
	l := &pt.autoconfig[v]
	if which == OnePerType {
		l = &pt.onePerType[v]
	}
	return l.get(func(f splice.Values) []byte {
		if v == 0 {
			return autoconfigDoc(p, f[holeDomain], nil, which)
		}
		return autoconfigDoc(p, f[holeDomain], fillAddress(f), which)
	})
}

// autodiscoverTemplate returns the template of Autodiscover's document of
// action for p, with or without an address; nil when p has none in c.
func (c *Catalog) autodiscoverTemplate(p *Provider, action poxAction, addr *Address) *splice.Template {
	pt := c.templates(p)
	if pt == nil {
		return nil
	}
	switch action {
	case actionRedirectURL:
		return pt.redirectURL.get(func(f splice.Values) []byte {
			return autodiscoverDoc(p, actionRedirectURL, f[holeValue], f[holeDomain], nil)
		})
	case actionRedirectAddr:
		return pt.redirectTo.get(func(f splice.Values) []byte {
			return autodiscoverDoc(p, actionRedirectAddr, f[holeValue], f[holeDomain], nil)
		})
	}
	v := withAddress(addr)
	return pt.settings[v].get(func(f splice.Values) []byte {
		if v == 0 {
			return autodiscoverDoc(p, actionSettings, "", f[holeDomain], nil)
		}
		return autodiscoverDoc(p, actionSettings, "", f[holeDomain], fillAddress(f))
	})
}

// mobileSyncTemplate returns the template of MobileSync's settings or
// redirect document for p; nil when p has none in c.
func (c *Catalog) mobileSyncTemplate(p *Provider, redirect bool) *splice.Template {
	pt := c.templates(p)
	if pt == nil {
		return nil
	}
	v := 0
	if redirect {
		v = 1
	}
	return pt.mobileSync[v].get(func(f splice.Values) []byte {
		return mobileSyncDoc(p, f[holeValue], redirect, *fillAddress(f))
	})
}

// errorTemplates are the Error documents' templates by schema and code,
// the Time attribute a hole; made once, on first use.
var errorTemplates = sync.OnceValue(func() map[[2]int]*splice.Template {
	m := map[[2]int]*splice.Template{}
	for _, schema := range []AutodiscoverSchema{OutlookSchema, MobileSyncSchema} {
		for code := range errorMessages {
			m[[2]int{int(schema), code}] = splice.Compile(func(f splice.Values) []byte {
				return autodiscoverErrorDoc(schema, code, f[holeValue])
			}, splice.XML, probes)
		}
	}
	return m
})

// errorTemplate returns the Error template of schema and code, or nil.
func errorTemplate(schema AutodiscoverSchema, code int) *splice.Template {
	return errorTemplates()[[2]int{int(schema), code}]
}
