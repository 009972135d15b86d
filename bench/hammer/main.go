// Command hammer is bench/run's HTTPS load generator: a fixed number of
// clients send one request after another, as mail clients do, in one of
// three modes:
//
//	new        a new connection and a full TLS handshake per request
//	           (Connection: close), never resuming a session
//	resume     a new connection per request, resuming the TLS session of
//	           the client's previous connection with the ticket the
//	           server sent on it (RFC 8446 §2.2, §4.6.1)
//	keepalive  one connection per client, every request on it
//
//	hammer -url https://127.0.0.1:18493/mail/config-v1.1.xml?emailaddress=a%40example.com \
//	    -host autoconfig.example.com -c 64 -d 3s -mode new
//
// It prints one line: requests a second, the 50th and 99th percentile of
// the latency in milliseconds (connect and handshake included), the
// requests that failed (a socket or TLS error, or a status other than
// 2xx), the share of handshakes that resumed a session, in percent, and
// the CPU the hammer itself used, in percent of one CPU: near 100 it, not
// the server, was the limit.
//
// wrk is not used for HTTPS: on a reconnect it offers the session of the
// connection before (OpenSSL's SSL_clear keeps it), so whether it resumes
// depends on whether the server sends tickets, not on the benchmark; and
// it sends the URL's IP address as the server name, which the service
// refuses (it chooses certificates by SNI).
//
// Every server is offered the same handshake: TLS 1.3 only, X25519 only
// (Go's default would offer the X25519MLKEM768 hybrid first, which OpenSSL
// 3.0 does not know, so Go servers and nginx would do different key
// exchanges), crypto/tls's cipher order, no ALPN (HTTP/1.1). The
// certificate chain is not verified (-insecure, the default): that is
// client work only; the server's CertificateVerify signature is checked
// all the same, as crypto/tls always does.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hammer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hammer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.url, "url", "", "URL to ask (https:// or http://)")
	fs.StringVar(&o.host, "host", "", "Host header and TLS server name (default: the URL's host)")
	fs.IntVar(&o.clients, "c", 64, "clients, each with one request outstanding")
	fs.DurationVar(&o.duration, "d", 3*time.Second, "how long to send requests")
	mode := fs.String("mode", "new", "new, resume or keepalive")
	bodyFile := fs.String("body", "", "POST this file's bytes (default: GET)")
	fs.StringVar(&o.contentType, "type", "text/xml; charset=utf-8", "Content-Type of the POST body")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "longest one request may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, ok := modes[*mode]
	if !ok {
		return fmt.Errorf("-mode %q: want new, resume or keepalive", *mode)
	}
	o.mode = m
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			return err
		}
		o.body = b
	}
	res, err := hammer(ctx, o)
	if err != nil {
		return err
	}
	if res.tls != "" {
		fmt.Fprintf(stderr, "hammer: %s\n", res.tls)
	}
	fmt.Fprintf(stdout, "%.0f %.3f %.3f %d %.1f %.1f\n", res.rps, ms(res.p50), ms(res.p99), res.errors, res.resumedPct, res.cpuPct)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type mode int

const (
	modeNew mode = iota
	modeResume
	modeKeepAlive
)

var modes = map[string]mode{"new": modeNew, "resume": modeResume, "keepalive": modeKeepAlive}

type options struct {
	url, host   string
	clients     int
	duration    time.Duration
	mode        mode
	body        []byte
	contentType string
	timeout     time.Duration
}

type result struct {
	requests   int
	rps        float64
	p50, p99   time.Duration
	errors     int
	handshakes int
	resumedPct float64 // of the handshakes made
	cpuPct     float64 // of one CPU, the hammer's own
	tls        string  // what was negotiated, from the first handshake
}

// hammer runs o's clients for o.duration and sums up what they saw.
func hammer(ctx context.Context, o options) (result, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return result{}, fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return result{}, fmt.Errorf("-url %q: want https:// or http://", o.url)
	}
	if o.clients < 1 || o.duration <= 0 {
		return result{}, errors.New("want -c 1 or more and a positive -d")
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"https": "443", "http": "80"}[u.Scheme])
	}
	host := o.host
	if host == "" {
		host = u.Hostname()
	}
	req := request(o, host, u.RequestURI())

	var tc *tls.Config
	if u.Scheme == "https" {
		tc = &tls.Config{
			ServerName:         host,
			InsecureSkipVerify: true,
			MinVersion:         tls.VersionTLS13,
			MaxVersion:         tls.VersionTLS13,
			CurvePreferences:   []tls.CurveID{tls.X25519},
		}
	}

	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	end := start.Add(o.duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	clients := make([]*client, o.clients)
	var wg sync.WaitGroup
	for i := range clients {
		c := &client{addr: addr, req: req, mode: o.mode, timeout: o.timeout, end: end}
		if tc != nil {
			c.tls = tc.Clone()
			if o.mode == modeResume {
				// Each client its own cache, as each mail client has.
				c.tls.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
		}
		clients[i] = c
		wg.Add(1)
		go func() { defer wg.Done(); c.loop(ctx) }()
	}
	wg.Wait()
	wall := time.Since(start)
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)

	var res result
	var lat []time.Duration
	handshakes, resumed := 0, 0
	for _, c := range clients {
		lat = append(lat, c.latencies...)
		res.errors += c.errors
		handshakes += c.handshakes
		resumed += c.resumed
		if res.tls == "" {
			res.tls = c.negotiated
		}
	}
	res.requests = len(lat)
	res.rps = float64(len(lat)) / o.duration.Seconds()
	slices.Sort(lat)
	res.p50, res.p99 = percentile(lat, 50), percentile(lat, 99)
	res.handshakes = handshakes
	if handshakes > 0 {
		res.resumedPct = 100 * float64(resumed) / float64(handshakes)
	}
	cpu := time.Duration(after.Utime.Nano()-before.Utime.Nano()) + time.Duration(after.Stime.Nano()-before.Stime.Nano())
	res.cpuPct = 100 * cpu.Seconds() / wall.Seconds()
	return res, nil
}

// percentile is the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i, 1)-1]
}

// request is the request o sends, as a client writes it.
func request(o options, host, target string) []byte {
	method := "GET"
	if o.body != nil {
		method = "POST"
	}
	b := fmt.Appendf(nil, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hammer\r\n", method, target, host)
	if o.mode != modeKeepAlive {
		b = append(b, "Connection: close\r\n"...)
	}
	if o.body != nil {
		b = fmt.Appendf(b, "Content-Type: %s\r\nContent-Length: %d\r\n", o.contentType, len(o.body))
	}
	b = append(b, "\r\n"...)
	return append(b, o.body...)
}

// client sends one request after another until ctx ends.
type client struct {
	addr    string
	req     []byte
	mode    mode
	timeout time.Duration
	end     time.Time
	tls     *tls.Config // nil: plain HTTP

	conn net.Conn
	br   *bufio.Reader

	latencies           []time.Duration
	errors              int
	handshakes, resumed int
	negotiated          string
}

func (c *client) loop(ctx context.Context) {
	defer c.close()
	for ctx.Err() == nil {
		t0 := time.Now()
		err := c.do(ctx)
		if t1 := time.Now(); !t1.After(c.end) {
			if err != nil {
				c.errors++
			} else {
				c.latencies = append(c.latencies, t1.Sub(t0))
			}
		}
		if err != nil {
			c.close()
			// A server that refuses everything must not make a busy loop.
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

var errStatus = errors.New("status not 2xx")

// do sends one request and reads its answer, on a new connection unless
// the mode keeps one.
func (c *client) do(ctx context.Context) error {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return err
		}
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if c.mode != modeKeepAlive || resp.Close {
		c.close()
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %s", errStatus, resp.Status)
	}
	return nil
}

func (c *client) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		tc.SetDeadline(time.Now().Add(c.timeout))
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return err
		}
		st := tc.ConnectionState()
		c.handshakes++
		if st.DidResume {
			c.resumed++
		}
		if c.negotiated == "" {
			c.negotiated = fmt.Sprintf("%s, %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.CurveID)
		}
		conn = tc
	}
	c.conn = conn
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 16<<10)
	} else {
		c.br.Reset(conn)
	}
	return nil
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
