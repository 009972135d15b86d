package handlers

import (
	"context"
	"strings"

	"mailautoconf/provision"
)

// Logins looks login names up in the catalog's directories (the server
// passes its internal/directory Set). Login returns the login name the
// directory named holds for the address and true, or false for the
// fallback: no such user, no login query, or no answer within the
// directory's timeout, which Login itself keeps to.
type Logins interface {
	Login(ctx context.Context, directory, address string) (string, bool)
}

// setLogin fills addr.Login, for %LOGIN%, from p's login directory: the
// one place every format that carries a user name asks (autoconfig, POX
// Autodiscover, the Apple profile, the setup page). It asks nothing for a
// provider none of whose usernames holds %LOGIN%, for a request with no
// address, or for Evolution's EVOLUTIONUSER@<domain> (a placeholder
// Evolution replaces itself, provision.EvolutionPlaceholder): those get
// the fallback, as does an address the directory has no login for.
//
// What an answer shows of the directory is the login name alone: a found
// and an unknown address get the same status, headers and document but
// for it (TestDirectoryLoginPrivacy in internal/server).
//
// It reports whether the answer for addr is personal: p takes its logins
// from a directory and the request names an address. Such an answer is no
// function of its URL: it holds what the directory says now, or the
// fallback a missing, slow or failed lookup gave, and no cache may keep
// it (userCaches). The report depends on p and on the request alone,
// never on what the directory answered, so that the headers of a found
// and an unknown address stay the same.
func (h *Handler) setLogin(ctx context.Context, p *provision.Provider, addr *provision.Address) (personal bool) {
	if h.cfg.Logins == nil || addr == nil || p == nil || p.LoginDirectory == "" || !p.NeedsLogin() {
		return false
	}
	if strings.EqualFold(addr.Local, provision.EvolutionPlaceholder) {
		return true
	}
	if login, ok := h.cfg.Logins.Login(ctx, p.LoginDirectory, addr.String()); ok {
		addr.Login = login
	}
	return true
}

// userCaches is the Cache-Control of an answer that setLogin found
// personal or not: cacheable, the route's own value, for an answer that
// is a function of its URL; noStores for one holding a directory's login
// or its fallback, which no cache may keep (RFC 9111 §5.2.2.5). Not
// private (§5.2.2.7), which keeps an answer from shared caches only: the
// client's own would still keep the fallback of one slow moment for an
// account set up again. A client asks once per account setup, so no cache
// saves anything (the POX POST, which carries the same login, is
// no-store for the same reason).
func userCaches(personal bool, cacheable []string) []string {
	if personal {
		return noStores
	}
	return cacheable
}
