//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package certs

import (
	"errors"
	"net"
	"syscall"
)

// peerGone reports whether the client of a handshake has gone: it closed
// or reset the connection, or the connection was closed or its read
// deadline (net/http's handshake timeout) passed on this side. It peeks
// without waiting and without taking what the client sent, which the
// handshake reads next (recv(2) with MSG_PEEK on the non-blocking socket
// Go keeps: 0 bytes is the end of the stream, EAGAIN is nothing yet;
// POSIX recv). False when it cannot tell: a connection that is not a
// socket, nor wraps one (NetConn).
func peerGone(c net.Conn) bool {
	sc := socketOf(c)
	if sc == nil {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		case err != nil: // ECONNRESET and the like
			gone = true
		case n == 0:
			gone = true
		}
		return true // never wait for data
	})
	return gone || err != nil
}

// socketOf returns the socket under c, through wrappers that have a
// NetConn method (crypto/tls's Conn, the listener's guardedConn).
func socketOf(c net.Conn) syscall.Conn {
	for range 8 {
		switch t := c.(type) {
		case syscall.Conn:
			return t
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return nil
		}
	}
	return nil
}
