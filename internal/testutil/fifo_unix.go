//go:build unix

package testutil

import (
	"os"
	"syscall"
	"testing"
)

// Mkfifo makes a named pipe at name, or skips the test where there are
// none. A reader blocked in its open (what the tests guard against) is let
// go at the end of the test by a writer's open.
func Mkfifo(t testing.TB, name string) string {
	t.Helper()
	if err := syscall.Mkfifo(name, 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(name, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	return name
}
