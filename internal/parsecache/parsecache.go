// Package parsecache remembers a parser's results for recent inputs, so
// that an input seen again costs a map lookup rather than a parse. It is
// speed machinery behind a parse function that stays the definition: a
// Cache returns what the function returned for the same bytes, error
// included.
package parsecache

import (
	"container/list"
	"sync"
)

// Cache holds the results of its parse function for at most size recent
// inputs of at most maxInput bytes each, and drops the least recently
// used; longer inputs are parsed every time. It is safe for concurrent
// use; the parse function must be too, and its results must be values
// that callers may share.
type Cache[V any] struct {
	parse    func([]byte) (V, error)
	size     int
	maxInput int

	mu    sync.Mutex
	order *list.List // of *entry[V], most recent first
	byKey map[string]*list.Element
}

type entry[V any] struct {
	key string
	v   V
	err error
}

// New returns a cache of parse's results for at most size inputs of at
// most maxInput bytes.
func New[V any](size, maxInput int, parse func([]byte) (V, error)) *Cache[V] {
	return &Cache[V]{parse: parse, size: size, maxInput: maxInput, order: list.New(), byKey: make(map[string]*list.Element)}
}

// Parse returns what the parse function returns for input, from the
// cache when input was parsed recently.
func (c *Cache[V]) Parse(input []byte) (V, error) {
	if len(input) > c.maxInput {
		return c.parse(input)
	}
	c.mu.Lock()
	if el, ok := c.byKey[string(input)]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*entry[V])
		c.mu.Unlock()
		return e.v, e.err
	}
	c.mu.Unlock()

	v, err := c.parse(input)
	e := &entry[V]{key: string(input), v: v, err: err}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[e.key]; !ok {
		c.byKey[e.key] = c.order.PushFront(e)
		for c.order.Len() > c.size {
			old := c.order.Remove(c.order.Back()).(*entry[V])
			delete(c.byKey, old.key)
		}
	}
	return v, err
}
