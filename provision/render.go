package provision

import "fmt"

// Every format has one renderer, a method of Catalog with one signature:
//
//	func (c *Catalog) Format(dst []byte, p *Provider, domain string, addr *Address, opts Options) ([]byte, error)
//
// It appends the document for the e-mail domain domain (a lower-case
// A-label) served by p to dst, as crypto/cipher's Seal and hash.Hash's Sum
// append: pass nil for a new slice, or a pooled buffer to reuse its
// memory. addr is the request's address, or nil when it named none; the
// formats that describe one account (MobileSync, AutodiscoverJSON,
// Mobileconfig) need one and take the domain from it. opts holds what
// else a request chooses. Bad input is an error, never a panic.
//
// Each renderer is a deterministic function of its arguments. Behind it, a
// provider of c is served from templates pre-rendered by the format's etree
// or encoding/json renderer (prerender.go), which stays the one definition
// of the format and serves everything else: a nil Catalog, a provider not
// among c's, a value a template cannot hold.
//
// One shape for every format, options included, lets a caller that picks
// the format at run time (the render command) hold the renderers in one
// table, and lets a handler reuse one buffer whatever it renders.

// Options are the choices a request makes beyond the provider, the domain
// and the address. Every renderer takes them and reads only the fields of
// its format; the zero value is each format's default.
type Options struct {
	// Servers (Thunderbird) says which servers config-v1.1.xml lists.
	Servers Servers
	// Profile (Mobileconfig) is the incoming protocol and the account
	// name a person chose.
	Profile ProfileOptions
	// Protocol (AutodiscoverJSON) is the Protocol the request asks for.
	Protocol string
	// PublicHost (AutodiscoverJSON) is the service's own host name, or ""
	// to point at autodiscover.<domain>.
	PublicHost string
}

// checkRender refuses what no renderer can render: no provider, a
// provider with no advertised incoming server (Load refuses both; a
// Provider built by hand may have them), and no address for a format that
// needs one.
func checkRender(p *Provider, addr *Address, needAddress bool) error {
	if p == nil {
		return fmt.Errorf("%w: no provider", ErrBadRequest)
	}
	if needAddress && addr == nil {
		return fmt.Errorf("%w: no address", ErrBadAddress)
	}
	for _, s := range p.Incoming {
		if s.Security.Advertised() {
			return nil
		}
	}
	return fmt.Errorf("provider %s has no advertised incoming server", p.ID)
}
