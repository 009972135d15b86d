package parsecache

import (
	"errors"
	"strconv"
	"sync"
	"testing"
)

// countingParse parses a decimal number and counts its calls.
type countingParse struct {
	mu    sync.Mutex
	calls int
}

var errNotNumber = errors.New("not a number")

func (c *countingParse) parse(b []byte) (int, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, errNotNumber
	}
	return n, nil
}

// TestCache: hits return what the parse returned, errors included, without
// parsing again; the cache keeps at most its size, drops the least
// recently used, and never keeps an input longer than its bound.
func TestCache(t *testing.T) {
	var p countingParse
	c := New(2, 4, p.parse)
	for _, tc := range []struct {
		in    string
		want  int
		err   error
		calls int // p's calls after this one
	}{
		{"1", 1, nil, 1},
		{"1", 1, nil, 1},
		{"x", 0, errNotNumber, 2},
		{"x", 0, errNotNumber, 2},
		{"1", 1, nil, 2},
		{"2", 2, nil, 3},          // evicts x, the least recently used
		{"x", 0, errNotNumber, 4}, // parsed again; evicts 1
		{"2", 2, nil, 4},
		{"12345", 12345, nil, 5}, // longer than 4 bytes: never kept
		{"12345", 12345, nil, 6},
	} {
		got, err := c.Parse([]byte(tc.in))
		if got != tc.want || err != tc.err || p.calls != tc.calls {
			t.Fatalf("Parse(%q) = %d, %v after %d parses, want %d, %v after %d", tc.in, got, err, p.calls, tc.want, tc.err, tc.calls)
		}
		if n := c.Len(); n > 2 {
			t.Fatalf("cache holds %d entries, bound 2", n)
		}
	}
}

// TestCacheConcurrent: many goroutines asking for overlapping inputs get
// the parse's results (run with -race).
func TestCacheConcurrent(t *testing.T) {
	var p countingParse
	c := New(8, 8, p.parse)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				n := (i + g) % 13
				if got, err := c.Parse([]byte(strconv.Itoa(n))); got != n || err != nil {
					t.Errorf("Parse(%d) = %d, %v", n, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := c.Len(); n > 8 {
		t.Errorf("cache holds %d entries, bound 8", n)
	}
}
