package directory

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCacheExpiry(t *testing.T) {
	c := newCache(100, 1<<20)
	now := time.Now()
	c.put("a@x", answer{"a1", true}, time.Minute, now)
	c.put("b@x", answer{}, time.Second, now)
	c.put("c@x", answer{"c1", true}, 0, now) // no caching
	for _, tc := range []struct {
		key  string
		at   time.Duration
		want answer
		ok   bool
	}{
		{"a@x", 0, answer{"a1", true}, true},
		{"b@x", 0, answer{}, true},
		{"c@x", 0, answer{}, false},
		{"b@x", time.Second, answer{}, false},
		{"a@x", 59 * time.Second, answer{"a1", true}, true},
		{"a@x", time.Minute, answer{}, false},
	} {
		got, ok := c.get(tc.key, now.Add(tc.at))
		if got != tc.want || ok != tc.ok {
			t.Errorf("get(%q, +%v) = %v, %v; want %v, %v", tc.key, tc.at, got, ok, tc.want, tc.ok)
		}
	}
}

// TestCacheBounds: neither the entry count nor the bytes pass the bounds,
// and the oldest entries go first.
func TestCacheBounds(t *testing.T) {
	now := time.Now()
	c := newCache(1600, 1<<30)
	for i := range 10_000 {
		c.put(fmt.Sprintf("user%d@x", i), answer{"l", true}, time.Hour, now)
	}
	if n := c.len(); n > 1600 || n < 1500 {
		t.Errorf("entries = %d, want at most 1600 (and near it)", n)
	}
	if _, ok := c.get("user9999@x", now); !ok {
		t.Errorf("the newest entry was evicted")
	}
	if _, ok := c.get("user0@x", now); ok {
		t.Errorf("the oldest entry is still there")
	}

	c = newCache(1<<30, 16*(cacheOverhead+MaxLogin+1000)*10)
	long := strings.Repeat("l", 900)
	for i := range 10_000 {
		c.put(fmt.Sprintf("%s%d@x", long, i), answer{}, time.Hour, now)
	}
	total := 0
	for i := range c.shards {
		total += c.shards[i].bytes
		if c.shards[i].bytes > c.shards[i].maxBytes {
			t.Errorf("shard %d holds %d bytes, bound %d", i, c.shards[i].bytes, c.shards[i].maxBytes)
		}
	}
	if n := c.len(); n > 160 {
		t.Errorf("entries = %d under a byte bound of about 160 of them", n)
	}
	// Replacing an entry does not count it twice.
	c = newCache(100, 1<<20)
	for range 1000 {
		c.put("same@x", answer{"l", true}, time.Hour, now)
	}
	if n := c.len(); n != 1 {
		t.Errorf("entries after 1000 puts of one key = %d", n)
	}
	if b := c.shard("same@x").bytes; b != len("same@x")+MaxLogin+cacheOverhead {
		t.Errorf("bytes after 1000 puts of one key = %d", b)
	}
}

// TestCacheEvictionBlind: what the byte bound evicts does not depend on
// the answer. An address is cached, found with the longest login or not
// found, then the same other addresses after it until it is evicted: it
// must go after as many in both cases, else an attacker who fills the
// cache learns from what is still cached whether the address exists
// (issue 23, item 2).
func TestCacheEvictionBlind(t *testing.T) {
	now := time.Now()
	evictedAfter := func(a answer, seed *cache) (*cache, int) {
		c := newCache(1<<30, 16*50*(cacheOverhead+MaxLogin+20))
		if seed != nil {
			c.seed = seed.seed // the same shards
		}
		c.put("target@x", a, time.Hour, now)
		for i := range 100_000 {
			c.put(fmt.Sprintf("other%d@x", i), answer{}, time.Hour, now)
			if _, ok := c.get("target@x", now); !ok {
				return c, i
			}
		}
		t.Fatal("never evicted")
		return nil, 0
	}
	c, found := evictedAfter(answer{strings.Repeat("l", MaxLogin), true}, nil)
	_, notFound := evictedAfter(answer{}, c)
	if found != notFound {
		t.Errorf("a found address was evicted after %d others, an unknown one after %d; want the same", found, notFound)
	}
}
