package importxml

import (
	"bytes"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"mailautoconf/provision"
)

// MarshalCatalog writes providers as catalog YAML that Parse reads back as
// the same providers: keys in the order the README documents them, one
// flow-style line per server as in the demo catalog, and values left out
// where they equal the loader's default (username %EMAILADDRESS%, auth
// [password-cleartext], display_name = id). It writes the keys that
// config-v1.1.xml can carry, plus tls_names; it does not write the
// Autodiscover-only keys (activesync, redirects), which import never
// fills (marshal_test.go lists every Provider field either way). It does
// not validate: Parse the result to know whether a catalog holds it.
func MarshalCatalog(providers []*provision.Provider) []byte {
	return marshalCatalog(providers, nil)
}

// marshalCatalog is MarshalCatalog with an optional comment line above each
// provider (empty: none).
func marshalCatalog(providers []*provision.Provider, comment func(*provision.Provider) string) []byte {
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, p := range providers {
		n := providerNode(p)
		if comment != nil {
			n.HeadComment = comment(p)
		}
		list.Content = append(list.Content, n)
	}
	root := mapNode(false)
	addPair(root, "providers", list)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		// Only a malformed node tree fails, and this function builds
		// every node itself.
		panic("yaml: encoding a catalog failed: " + err.Error())
	}
	if err := enc.Close(); err != nil {
		panic("yaml: encoding a catalog failed: " + err.Error())
	}
	return buf.Bytes()
}

// flowDomains is the longest domain list written on one line; longer
// lists get one domain per line, which diffs better.
const flowDomains = 4

func providerNode(p *provision.Provider) *yaml.Node {
	n := mapNode(false)
	addPair(n, "id", strNode(p.ID))
	if p.DisplayName != "" && p.DisplayName != p.ID {
		addPair(n, "display_name", strNode(p.DisplayName))
	}
	if p.ShortName != "" && p.ShortName != defaultShortName(p) {
		addPair(n, "short_name", strNode(p.ShortName))
	}
	if p.Organization != "" {
		addPair(n, "organization", strNode(p.Organization))
	}
	addPair(n, "domains", strSeq(p.Domains, len(p.Domains) <= flowDomains))
	addPair(n, "incoming", serverSeq(p.Incoming))
	addPair(n, "outgoing", serverSeq(p.Outgoing))
	for _, kv := range []struct{ k, v string }{{"caldav", p.CalDAV}, {"carddav", p.CardDAV}, {"webmail", p.Webmail}} {
		if kv.v != "" {
			addPair(n, kv.k, strNode(kv.v))
		}
	}
	if o := p.OAuth2; o != nil {
		on := mapNode(false)
		addPair(on, "issuer", strNode(o.Issuer))
		addPair(on, "scope", strNode(o.Scope))
		addPair(on, "auth_url", strNode(o.AuthURL))
		addPair(on, "token_url", strNode(o.TokenURL))
		addPair(n, "oauth2", on)
	}
	if len(p.TLSNames) > 0 {
		addPair(n, "tls_names", strSeq(p.TLSNames, len(p.TLSNames) <= flowDomains))
	}
	return n
}

// defaultShortName is the short name the loader fills in when the catalog
// gives none.
func defaultShortName(p *provision.Provider) string {
	dn := p.DisplayName
	if dn == "" {
		dn = p.ID
	}
	if len(dn) > 20 {
		return p.ID
	}
	return dn
}

func serverSeq(servers []provision.Server) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range servers {
		seq.Content = append(seq.Content, serverNode(s))
	}
	return seq
}

func serverNode(s provision.Server) *yaml.Node {
	n := mapNode(true)
	addPair(n, "protocol", strNode(string(s.Protocol)))
	addPair(n, "host", strNode(s.Host))
	addPair(n, "port", intNode(s.Port))
	addPair(n, "security", strNode(string(s.Security)))
	if len(s.Auth) > 0 && !slices.Equal(s.Auth, []string{"password-cleartext"}) {
		addPair(n, "auth", strSeq(s.Auth, true))
	}
	if s.Username != "" && s.Username != provision.PlaceholderAddress {
		addPair(n, "username", strNode(s.Username))
	}
	if o := s.POP3; o != nil && (o.LeaveOnServer != nil || o.DaysOnServer != nil || o.DownloadOnCheck != nil || o.CheckInterval != nil) {
		on := mapNode(true)
		if o.LeaveOnServer != nil {
			addPair(on, "leave_on_server", boolNode(*o.LeaveOnServer))
		}
		if o.DaysOnServer != nil {
			addPair(on, "days_on_server", intNode(*o.DaysOnServer))
		}
		if o.DownloadOnCheck != nil {
			addPair(on, "download_on_check", boolNode(*o.DownloadOnCheck))
		}
		if o.CheckInterval != nil {
			addPair(on, "check_interval", intNode(*o.CheckInterval))
		}
		addPair(n, "pop3", on)
	}
	return n
}

func mapNode(flow bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return n
}

func addPair(m *yaml.Node, key string, value *yaml.Node) {
	m.Content = append(m.Content, strNode(key), value)
}

// strNode is a string scalar; the encoder quotes it where a plain scalar
// would read back as something else (a number, a boolean, "%...").
func strNode(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func intNode(v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
}

func boolNode(v bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
}

func strSeq(vs []string, flow bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if flow {
		n.Style = yaml.FlowStyle
	}
	for _, v := range vs {
		n.Content = append(n.Content, strNode(v))
	}
	return n
}
