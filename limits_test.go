package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// startLimitedServe runs the serve command on a free loopback port with env
// (MAILAUTOCONF_* settings) until the test ends, and returns its address.
func startLimitedServe(t *testing.T, env map[string]string) string {
	t.Helper()
	addr := freePort(t)
	t.Setenv("MAILAUTOCONF_LISTEN", addr)
	t.Setenv("MAILAUTOCONF_LOG_LEVEL", "warn")
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "serve did not start", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// timedGet asks for autoconfig on a new connection and returns the
// status and how long the answer took.
func timedGet(addr string) (int, time.Duration, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Get("http://" + addr + "/mail/config-v1.1.xml?emailaddress=alice@example.com")
	if err != nil {
		return 0, time.Since(start), err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), nil
}

// TestSlowloris: 300 connections sending their headers one byte a
// second do not keep normal requests from being answered promptly, and
// the server drops each of them once readHeaderTimeout has passed.
func TestSlowloris(t *testing.T) {
	addr := startLimitedServe(t, nil)
	const slow = 300
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed []time.Duration // when the server hung up, per connection
	)
	start := time.Now()
	stop := make(chan struct{})
	for range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dialing a slow connection: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			header := "GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.com\r\nX-Slow: " + strings.Repeat("a", 100)
			for i := 0; i < len(header); i++ {
				if _, err := c.Write([]byte{header[i]}); err != nil {
					mu.Lock()
					closed = append(closed, time.Since(start))
					mu.Unlock()
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}

	// Normal requests while the slow ones trickle in.
	var took []time.Duration
	for time.Since(start) < 3*time.Second {
		status, d, err := timedGet(addr)
		if err != nil || status != http.StatusOK {
			t.Fatalf("a normal request during the attack: %d, %v", status, err)
		}
		took = append(took, d)
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(took)
	worst := took[len(took)-1]
	t.Logf("%d normal requests beside %d slow connections: median %v, worst %v", len(took), slow, took[len(took)/2], worst)
	if worst > time.Second {
		t.Errorf("a normal request took %v beside the slow connections", worst)
	}

	// The server hangs up on every slow connection once its headers are
	// overdue: the next byte written then fails.
	waitFor(t, readHeaderTimeout+5*time.Second, "slow connections still open past the header timeout", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(closed) == slow
	})
	close(stop)
	wg.Wait()
	slices.Sort(closed)
	if first := closed[0]; first < readHeaderTimeout-time.Second {
		t.Errorf("a slow connection was dropped after %v, before the header timeout %v", first, readHeaderTimeout)
	}
}

// TestMaxConnections: beyond MAILAUTOCONF_MAX_CONNECTIONS a connection
// waits, and is served as soon as another closes.
func TestMaxConnections(t *testing.T) {
	addr := startLimitedServe(t, map[string]string{"MAILAUTOCONF_MAX_CONNECTIONS": "3"})
	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A request proves the server holds the connection open.
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x.example\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		idle = append(idle, c)
	}
	answered := make(chan time.Time, 1)
	go func() {
		if status, _, err := timedGet(addr); err == nil && status == http.StatusOK {
			answered <- time.Now()
		}
		close(answered)
	}()
	select {
	case <-answered:
		t.Fatal("a fourth connection was served beside three open ones")
	case <-time.After(300 * time.Millisecond):
	}
	freed := time.Now()
	idle[0].Close()
	select {
	case at, ok := <-answered:
		if !ok {
			t.Fatal("the waiting request failed")
		}
		t.Logf("served %v after a connection closed", at.Sub(freed))
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting request was not served after a connection closed")
	}
}

func TestLimitSettings(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"MAILAUTOCONF_RATE_LIMIT", "-1", "RATE_LIMIT"},
		{"MAILAUTOCONF_RATE_LIMIT", "many", "RateLimit"},
		{"MAILAUTOCONF_RATE_BURST", "0", "RATE_BURST"},
		{"MAILAUTOCONF_MAX_CONNECTIONS", "-5", "MAX_CONNECTIONS"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			if _, err := loadSettings(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadSettings() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
	t.Setenv("MAILAUTOCONF_RATE_LIMIT", "2.5")
	s, err := loadSettings()
	if err != nil || s.RateLimit != 2.5 || s.RateBurst != 20 || s.MaxConnections != 10000 {
		t.Errorf("loadSettings() = %+v, %v", s, err)
	}
}

// TestRequestSizeLimits: over the real server, headers (and a request
// line) past maxHeaderBytes get 431 and bodies past the Autodiscover
// limit 413, without the server reading them whole.
func TestRequestSizeLimits(t *testing.T) {
	addr := startLimitedServe(t, nil)
	send := func(name, request string) int {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, request) // the server may answer before reading it all
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", name, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	big := strings.Repeat("a", 2*maxHeaderBytes)
	for _, tc := range []struct {
		name, request string
		want          int
	}{
		{"long header", "GET /healthz HTTP/1.1\r\nHost: x.example\r\nX-Big: " + big + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"many headers", "GET /healthz HTTP/1.1\r\nHost: x.example\r\n" + strings.Repeat("X-A: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n", 1000) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"long query", "GET /mail/config-v1.1.xml?x=" + big + " HTTP/1.1\r\nHost: autoconfig.example.com\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"body over the Autodiscover limit", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.com\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("x", 20000), http.StatusRequestEntityTooLarge},
		{"announced huge body", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.com\r\nContent-Length: 1000000000\r\n\r\n", http.StatusRequestEntityTooLarge},
		{"chunked body over the limit", "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.com\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1000\r\n"+strings.Repeat("y", 4096)+"\r\n", 30) + "0\r\n\r\n", http.StatusRequestEntityTooLarge},
		{"normal request", "GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.com\r\n\r\n", http.StatusOK},
	} {
		if got := send(tc.name, tc.request); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}
