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

	c = newCache(1<<30, 16*(cacheOverhead+1000)*10)
	long := strings.Repeat("l", 900)
	for i := range 10_000 {
		c.put(fmt.Sprintf("user%d@x", i), answer{long, true}, time.Hour, now)
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
	if b := c.shard("same@x").bytes; b != len("same@x")+1+cacheOverhead {
		t.Errorf("bytes after 1000 puts of one key = %d", b)
	}
}
