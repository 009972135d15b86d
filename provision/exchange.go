package provision

import (
	"github.com/beevik/etree"
	"go.yaml.in/yaml/v3"
)

// exchangeKeys reads a provider's optional Exchange Web Services and
// Outlook on the web URLs, for providers that run Exchange, grommunio or
// SOGo beside IMAP (docs/clients/thunderbird-ews.md):
//
//	ews: https://mail.example.com/EWS/Exchange.asmx
//	owa: https://mail.example.com/owa/
func (d *decoder) exchangeKeys(m map[string]*yaml.Node, path string, p *Provider) {
	p.EWS = d.httpsURL(m, path, "ews")
	p.OWA = d.httpsURL(m, path, "owa")
}

// exchangeServers writes an incomingServer of type ews and one of type
// owa, each with its url, for a provider that has them. Thunderbird 145
// and later set up a native EWS account from them (153.8's readFromXML
// accepts both, as alternatives after the first valid server). The caller
// places them after the IMAP and POP3 servers, so that the clients that
// take the first incomingServer (Geary, FairEmail) still get IMAP; K-9,
// GNOME Online Accounts, aerc and Nextcloud Mail skip the types. The
// login and authentication are the first incoming server's. Not in
// Evolution's one-per-type answer, nor in POX: Outlook takes an EXCH
// protocol for an Exchange server of its own (docs/clients/thunderbird-ews.md).
func exchangeServers(ep *etree.Element, p *Provider, user string, auth []string) {
	for _, x := range []struct{ typ, url string }{{"ews", p.EWS}, {"owa", p.OWA}} {
		if x.url == "" {
			continue
		}
		el := ep.CreateElement("incomingServer")
		el.CreateAttr("type", x.typ)
		el.CreateElement("url").SetText(x.url)
		el.CreateElement("username").SetText(user)
		for _, a := range auth {
			el.CreateElement("authentication").SetText(a)
		}
	}
}
