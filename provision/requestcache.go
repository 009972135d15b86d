package provision

import (
	"container/list"
	"sync"
)

// maxCachedRequest is the largest request body a RequestCache keeps: real
// clients send 300 to 600 bytes.
const maxCachedRequest = 2048

// RequestCache remembers the parse of recent POX request bodies, so that a
// client asking again (Outlook asks on every start and every few hours,
// with the same bytes each time) costs a map lookup rather than an XML
// parse. It holds at most its size in entries of at most 2 KiB each, and
// drops the least recently used. A nil *RequestCache parses every time.
// It is safe for concurrent use.
type RequestCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // of *requestEntry, most recent first
	byKey map[string]*list.Element
}

type requestEntry struct {
	key string
	req AutodiscoverRequest
	err error
}

// NewRequestCache returns a cache of at most size entries.
func NewRequestCache(size int) *RequestCache {
	return &RequestCache{size: size, order: list.New(), byKey: make(map[string]*list.Element, size)}
}

// Parse is ParseAutodiscoverRequest, from the cache when body was parsed
// recently. The results are values: callers share them safely.
func (rc *RequestCache) Parse(body []byte) (AutodiscoverRequest, error) {
	if rc == nil || len(body) > maxCachedRequest {
		return ParseAutodiscoverRequest(body)
	}
	rc.mu.Lock()
	if el, ok := rc.byKey[string(body)]; ok {
		rc.order.MoveToFront(el)
		e := el.Value.(*requestEntry)
		rc.mu.Unlock()
		return e.req, e.err
	}
	rc.mu.Unlock()

	req, err := ParseAutodiscoverRequest(body)
	e := &requestEntry{key: string(body), req: req, err: err}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, ok := rc.byKey[e.key]; !ok {
		rc.byKey[e.key] = rc.order.PushFront(e)
		for rc.order.Len() > rc.size {
			old := rc.order.Remove(rc.order.Back()).(*requestEntry)
			delete(rc.byKey, old.key)
		}
	}
	return req, err
}

// Len returns the number of cached entries.
func (rc *RequestCache) Len() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.order.Len()
}
