package directory

import (
	"container/list"
	"hash/maphash"
	"sync"
	"time"
)

// The login cache's bounds, per directory. An entry is charged its
// address, the longest login kept (MaxLogin) whatever its own, and about
// cacheOverhead bytes of map, list and struct; both bounds hold,
// whichever is reached first. The login is charged at its bound, not its
// length, so that which entries the byte bound evicts, and when, does not
// depend on the answer: a found login would otherwise push older entries
// out sooner than "no such user", and an attacker filling the cache could
// tell the two apart by what is still cached (issue 23, item 2).
const (
	CacheEntries  = 100_000
	CacheBytes    = 32 << 20
	cacheShards   = 16
	cacheOverhead = 160
)

// answer is the directory's answer for one address.
type answer struct {
	login string
	found bool
}

type cacheEntry struct {
	key     string
	answer  answer
	expires time.Time
}

// cache maps addresses to answers until they expire, evicting the oldest
// entry of a shard when the shard is full. It is sharded by a hash of the
// address so that concurrent hits rarely meet on a lock. Errors are never
// put in it.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu       sync.Mutex
	m        map[string]*list.Element // of *cacheEntry
	order    list.List                // oldest first
	bytes    int
	maxItems int
	maxBytes int
}

func newCache(entries, bytes int) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*list.Element)
		c.shards[i].maxItems = max(1, entries/cacheShards)
		c.shards[i].maxBytes = max(1, bytes/cacheShards)
	}
	return c
}

func (c *cache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

func (c *cache) get(key string, now time.Time) (answer, bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	el, ok := sh.m[key]
	if !ok {
		return answer{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		sh.remove(el)
		return answer{}, false
	}
	return e.answer, true
}

func (c *cache) put(key string, a answer, ttl time.Duration, now time.Time) {
	if ttl <= 0 {
		return
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if el, ok := sh.m[key]; ok {
		sh.remove(el)
	}
	e := &cacheEntry{key: key, answer: a, expires: now.Add(ttl)}
	sh.m[key] = sh.order.PushBack(e)
	sh.bytes += e.size()
	for len(sh.m) > sh.maxItems || sh.bytes > sh.maxBytes {
		sh.remove(sh.order.Front())
	}
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].m)
		c.shards[i].mu.Unlock()
	}
	return n
}

func (sh *cacheShard) remove(el *list.Element) {
	e := sh.order.Remove(el).(*cacheEntry)
	delete(sh.m, e.key)
	sh.bytes -= e.size()
}

func (e *cacheEntry) size() int {
	// Sources keep no login over MaxLogin; max keeps the bound true if one
	// ever did.
	return len(e.key) + max(MaxLogin, len(e.answer.login)) + cacheOverhead
}
