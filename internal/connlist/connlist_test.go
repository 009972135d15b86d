package connlist

import (
	"container/list"
	"testing"
)

type node struct {
	id   int
	a, b Links[node]
}

// check compares l with the plain list want, element by element.
func check(t *testing.T, step int, l *List[node], want *list.List) {
	t.Helper()
	if l.Len() != want.Len() {
		t.Fatalf("step %d: Len() = %d, want %d", step, l.Len(), want.Len())
	}
	x := l.Front()
	for e := want.Front(); e != nil; e = e.Next() {
		if x == nil || x != e.Value.(*node) {
			t.Fatalf("step %d: element differs from container/list's", step)
		}
		x = l.links(x).next
	}
	if x != nil {
		t.Fatalf("step %d: more elements than container/list", step)
	}
}

// FuzzMatchesContainerList applies the same pushes and removes to a List
// and to container/list and requires the same elements in the same
// order after each step, on two lists sharing elements through two Links
// fields (as the guard's listener and client idle lists do). Each byte
// is an operation: bit 0 push or remove, bits 1-3 the element, bit 4
// the list.
func FuzzMatchesContainerList(f *testing.F) {
	f.Add([]byte{0, 2, 4, 1, 6, 3, 5, 7})
	f.Add([]byte{0, 0, 1, 1, 2, 3})
	f.Add([]byte{10, 12, 14, 11, 13, 15, 10, 11})
	f.Fuzz(func(t *testing.T, ops []byte) {
		nodes := make([]*node, 8)
		for i := range nodes {
			nodes[i] = &node{id: i}
		}
		la := New(func(n *node) *Links[node] { return &n.a })
		lb := New(func(n *node) *Links[node] { return &n.b })
		wa, wb := list.New(), list.New()
		elems := [2]map[*node]*list.Element{{}, {}}
		for i, op := range ops {
			n := nodes[int(op>>1)%len(nodes)]
			l, w, m := &la, wa, elems[0]
			if op>>4&1 == 1 {
				l, w, m = &lb, wb, elems[1]
			}
			push := op&1 == 0
			if l.Contains(n) != (m[n] != nil) {
				t.Fatalf("step %d: Contains = %v, want %v", i, l.Contains(n), m[n] != nil)
			}
			switch {
			case push && m[n] == nil:
				l.PushBack(n)
				m[n] = w.PushBack(n)
			case !push:
				l.Remove(n)
				if m[n] != nil {
					w.Remove(m[n])
					delete(m, n)
				}
			}
			check(t, i, &la, wa)
			check(t, i, &lb, wb)
		}
	})
}

func TestNoAllocations(t *testing.T) {
	n := &node{}
	l := New(func(n *node) *Links[node] { return &n.a })
	if a := testing.AllocsPerRun(100, func() { l.PushBack(n); l.Remove(n) }); a != 0 {
		t.Errorf("PushBack and Remove: %v allocations, want 0", a)
	}
}
