//go:build unix

package server

import "syscall"

// openFileLimit returns the soft RLIMIT_NOFILE: how many descriptors the
// process may open; 0 when it cannot tell.
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return uint64(l.Cur)
}
