package handlers

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

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
func (h *Handler) setLogin(ctx context.Context, p *provision.Provider, addr *provision.Address) {
	if h.cfg.Logins == nil || addr == nil || p == nil || p.LoginDirectory == "" || !p.NeedsLogin() ||
		strings.EqualFold(addr.Local, provision.EvolutionPlaceholder) {
		return
	}
	if login, ok := h.cfg.Logins.Login(ctx, p.LoginDirectory, addr.String()); ok {
		addr.Login = login
	}
}

// TryRegister is Register that returns an error, having registered none
// of cs, instead of panicking: for collectors that come and go with the
// catalog (a directory Set's, replaced at a reload that changes the
// directories). A nil *Metrics registers nothing.
func (m *Metrics) TryRegister(cs ...prometheus.Collector) error {
	if m == nil {
		return nil
	}
	for i, c := range cs {
		if err := m.registry.Register(c); err != nil {
			m.Unregister(cs[:i]...)
			return err
		}
	}
	return nil
}

// Unregister removes collectors TryRegister added, before others of the same
// names take their place (a reload that changes the directories).
func (m *Metrics) Unregister(cs ...prometheus.Collector) {
	if m == nil {
		return
	}
	for _, c := range cs {
		m.registry.Unregister(c)
	}
}

// Served records the size of the catalog now served, swapped in without a
// reload of the files (a directory's new domain list).
func (m *Metrics) Served(cat *provision.Catalog) {
	if m == nil || cat == nil {
		return
	}
	m.domains.Set(float64(cat.DomainCount()))
	m.providers.Set(float64(len(cat.Providers())))
}
