package handlers

import (
	"container/list"
	"sync"
	"time"
	"weak"

	"mailautoconf/internal/profilesign"
	"mailautoconf/provision"
)

// ProfileCache keeps the last profiles served, signed or not, so that a
// repeated download (a person who taps the button twice, a phone and a
// computer, a retry) costs neither rendering nor signing: a bounded LRU
// keyed by the address, the provider, the options and, for a signed
// profile, its signing time.
//
// The signing time is the signer's window (profilesign.Window), the
// same for every address: a profile cached in one window is served only
// within it, where a fresh one would carry the same time, so a download
// never tells whether someone asked for the address before.
//
// An entry is good only for the catalog and the signer it was made with:
// after a reload or a certificate change it is made again. Catalog and
// signer are held weakly, so that the cache never keeps an old catalog of
// a million domains alive.
type ProfileCache struct {
	mu       sync.Mutex
	entries  map[profileKey]*list.Element
	order    list.List // of *profileEntry, most recently used first
	bytes    int
	maxItems int
	maxBytes int
	// now is the clock signing times are taken from; nil is time.Now.
	now func() time.Time
}

type profileKey struct {
	provider string // the provider's id
	addr     provision.Address
	opts     provision.ProfileOptions
	// signed is the profile's signing time (Unix seconds), 0 unsigned.
	signed int64
}

type profileEntry struct {
	key     profileKey
	cat     weak.Pointer[provision.Catalog]
	signer  weak.Pointer[profilesign.Signer]
	profile servedProfile
}

// servedProfile is a profile as it is answered: its bytes and its
// Content-Disposition header value (a fixed value, shared by every answer
// of it).
type servedProfile struct {
	body        []byte
	disposition []string
}

// The default profile cache: a signed profile is a few KB, so the bound
// is a few tens of MB.
const (
	profileCacheItems = 4096
	profileCacheBytes = 32 << 20
)

// NewProfileCache returns a cache of at most items profiles and maxBytes
// bytes of them.
func NewProfileCache(items, maxBytes int) *ProfileCache {
	return &ProfileCache{entries: make(map[profileKey]*list.Element), maxItems: items, maxBytes: maxBytes}
}

// clock returns the time a profile is signed at; a nil cache reads the
// system clock.
func (pc *ProfileCache) clock() time.Time {
	if pc == nil || pc.now == nil {
		return time.Now()
	}
	return pc.now()
}

// get returns the profile cached for the request, if it was made with cat
// and signer (nil: unsigned). A nil cache has nothing.
func (pc *ProfileCache) get(cat *provision.Catalog, signer *profilesign.Signer, k profileKey) (servedProfile, bool) {
	if pc == nil {
		return servedProfile{}, false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	el, ok := pc.entries[k]
	if !ok {
		return servedProfile{}, false
	}
	e := el.Value.(*profileEntry)
	if e.cat.Value() != cat || e.signer.Value() != signer {
		pc.remove(el)
		return servedProfile{}, false
	}
	pc.order.MoveToFront(el)
	return e.profile, true
}

// put keeps sp for the request; the least recently used go beyond the
// bounds. sp must not change afterwards.
func (pc *ProfileCache) put(cat *provision.Catalog, signer *profilesign.Signer, k profileKey, sp servedProfile) {
	if pc == nil || len(sp.body) > pc.maxBytes {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if el, ok := pc.entries[k]; ok {
		pc.remove(el)
	}
	pc.entries[k] = pc.order.PushFront(&profileEntry{key: k, cat: weak.Make(cat), signer: weak.Make(signer), profile: sp})
	pc.bytes += len(sp.body)
	for pc.order.Len() > pc.maxItems || pc.bytes > pc.maxBytes {
		pc.remove(pc.order.Back())
	}
}

func (pc *ProfileCache) remove(el *list.Element) {
	e := pc.order.Remove(el).(*profileEntry)
	delete(pc.entries, e.key)
	pc.bytes -= len(e.profile.body)
}
