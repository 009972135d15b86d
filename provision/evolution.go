package provision

import "strings"

// EvolutionPlaceholder is the local part Evolution puts in the address it
// sends (emailaddress=EVOLUTIONUSER%40<domain>, src/mail/e-mail-autoconfig.c in
// Evolution 3.46.4); it replaces the placeholder in the answer's
// usernames with the real address itself (docs/clients/evolution.md).
const EvolutionPlaceholder = "EVOLUTIONUSER"

// AutoconfigServers returns which servers the config-v1.1.xml answering a
// request lists, from its User-Agent header and its address (nil when it
// sent none). Unlike handlers.GuessClient, its answer changes the document, so it
// trusts only what Evolution, the one last-wins client it knows, sends
// unprompted: a User-Agent starting "Evolution/", or the placeholder
// address. A client that claims to be Evolution without being one still
// gets a document every reader takes the same way (OnePerType); any other
// request gets AllServers. FairEmail before 1.2269 also kept the last
// server, but sends a browser's User-Agent and the real address, so it is
// not told apart (docs/clients/fairemail.md).
func AutoconfigServers(userAgent string, addr *Address) Servers {
	const evo = "evolution/"
	ua := strings.TrimSpace(userAgent)
	if len(ua) >= len(evo) && strings.EqualFold(ua[:len(evo)], evo) ||
		addr != nil && strings.EqualFold(addr.Local, EvolutionPlaceholder) {
		return OnePerType
	}
	return AllServers
}
