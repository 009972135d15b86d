package handlers

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// connBufferSize is the buffer net/http writes each connection's answers
// through (conn.bufw, 4 KiB in net/http/server.go since Go 1.0): an
// answer larger than it, headers included, leaves in two write(2) calls
// instead of one, which bench/run measured at a fifth fewer requests a
// second for a profile (bench/README.md).
const connBufferSize = 4 << 10

// TestDemoProfileFitsConnectionBuffer asks a real server on loopback for
// the demo's unsigned profile and counts the bytes of the whole answer,
// status line and headers included: it must fit net/http's connection
// buffer, which the profile's compact form (no indentation) achieves.
func TestDemoProfileFitsConnectionBuffer(t *testing.T) {
	srv := httptest.NewServer(newTestEcho(t, nil))
	defer srv.Close()
	for _, addr := range []string{"alice%40example.com", "fred%40example.com"} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.WriteString(c, "GET /mobileconfig?email="+addr+" HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nConnection: close\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", addr, resp.StatusCode)
		}
		t.Logf("%s: %d bytes", addr, len(raw))
		if len(raw) > connBufferSize {
			t.Errorf("%s: the answer is %d bytes with its headers, more than net/http's %d-byte connection buffer", addr, len(raw), connBufferSize)
		}
	}
}
