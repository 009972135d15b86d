package handlers

import (
	"container/list"
	"sync"
	"weak"

	"mailautoconf/provision"
)

// ProfileCache keeps the last profiles served, signed or not, so that a
// repeated download (a person who taps the button twice, a phone and a
// computer, a retry) costs neither rendering nor signing: a bounded LRU
// keyed by the address, the provider and the options.
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
}

type profileKey struct {
	provider string // the provider's id
	addr     provision.Address
	opts     provision.ProfileOptions
}

type profileEntry struct {
	key    profileKey
	cat    weak.Pointer[provision.Catalog]
	signer weak.Pointer[provision.Signer]
	body   []byte
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

// get returns the profile cached for the request, if it was made with cat
// and signer (nil: unsigned). A nil cache has nothing.
func (pc *ProfileCache) get(cat *provision.Catalog, signer *provision.Signer, k profileKey) ([]byte, bool) {
	if pc == nil {
		return nil, false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	el, ok := pc.entries[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*profileEntry)
	if e.cat != weak.Make(cat) || e.signer != weak.Make(signer) {
		pc.remove(el)
		return nil, false
	}
	pc.order.MoveToFront(el)
	return e.body, true
}

// put keeps body for the request; the least recently used go beyond the
// bounds. body must not change afterwards.
func (pc *ProfileCache) put(cat *provision.Catalog, signer *provision.Signer, k profileKey, body []byte) {
	if pc == nil || len(body) > pc.maxBytes {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if el, ok := pc.entries[k]; ok {
		pc.remove(el)
	}
	pc.entries[k] = pc.order.PushFront(&profileEntry{key: k, cat: weak.Make(cat), signer: weak.Make(signer), body: body})
	pc.bytes += len(body)
	for pc.order.Len() > pc.maxItems || pc.bytes > pc.maxBytes {
		pc.remove(pc.order.Back())
	}
}

func (pc *ProfileCache) remove(el *list.Element) {
	e := pc.order.Remove(el).(*profileEntry)
	delete(pc.entries, e.key)
	pc.bytes -= len(e.body)
}

// Len returns the number of profiles cached, for tests.
func (pc *ProfileCache) Len() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.order.Len()
}
