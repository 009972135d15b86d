package testutil

import (
	"testing"
	"time"
)

// Within runs f and fails the test when it has not returned after 5 s: a
// call that blocks (a read of a named pipe, say) must fail the test, not
// hang it.
func Within[T any](t testing.TB, what string, f func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() { v, err := f(); done <- result{v, err} }()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still blocked after 5s", what)
		panic("unreachable")
	}
}
