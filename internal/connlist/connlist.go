// Package connlist is a doubly linked list whose links live in the
// elements themselves, so that putting an element on a list and taking
// it off allocate nothing. It does what container/list does for the
// connection guard's idle lists (internal/server/limits.go), where
// container/list allocated an Element each time a keep-alive connection
// went idle: two per request. The test holds it to container/list.
//
// A List is not safe for concurrent use; an element is on at most one
// List per Links field it has.
package connlist

// Links are an element's place on one List: embed one per list the
// element can be on.
type Links[T any] struct {
	prev, next *T
	on         bool
}

// List is a list of *T through the Links that links returns for an
// element. The zero List is not usable: make one with New.
type List[T any] struct {
	front, back *T
	n           int
	links       func(*T) *Links[T]
}

// New returns an empty list using the links of each element that links
// returns (the address of a Links field of the element).
func New[T any](links func(*T) *Links[T]) List[T] {
	return List[T]{links: links}
}

// Len returns the number of elements on l.
func (l *List[T]) Len() int { return l.n }

// Front returns the first element of l, nil when l is empty.
func (l *List[T]) Front() *T { return l.front }

// Contains reports whether x is on l (on any list through the same Links).
func (l *List[T]) Contains(x *T) bool { return l.links(x).on }

// PushBack puts x at the back of l. x must not be on it already.
func (l *List[T]) PushBack(x *T) {
	lx := l.links(x)
	if lx.on {
		panic("connlist: PushBack of an element already on the list")
	}
	lx.prev, lx.next, lx.on = l.back, nil, true
	if l.back != nil {
		l.links(l.back).next = x
	} else {
		l.front = x
	}
	l.back = x
	l.n++
}

// Remove takes x off l; nothing when x is not on it.
func (l *List[T]) Remove(x *T) {
	lx := l.links(x)
	if !lx.on {
		return
	}
	if lx.prev != nil {
		l.links(lx.prev).next = lx.next
	} else {
		l.front = lx.next
	}
	if lx.next != nil {
		l.links(lx.next).prev = lx.prev
	} else {
		l.back = lx.prev
	}
	lx.prev, lx.next, lx.on = nil, nil, false
	l.n--
}
