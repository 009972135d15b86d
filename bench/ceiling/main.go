// Command ceiling is the Go ceiling of bench/run: a bare net/http server
// that answers fixed paths with fixed bytes, the files nginx serves in the
// same run. It does what every Go HTTP service does before its own code
// runs (net/http's parsing, its connection handling, crypto/tls) and
// nothing else, so the service's requests a second over the ceiling's is
// what the service's own code costs, on any machine:
//
//	ceiling -listen 127.0.0.1:18491 -tls-listen 127.0.0.1:18494 -cert c.pem -key k.pem \
//	    /mail/config-v1.1.xml=www/mail/config-v1.1.xml ...
//
// Every argument is URL-path=file. GET, HEAD and POST to a path answer
// 200 with the file (a POST's body is read and dropped, as the service
// reads the Autodiscover request); any other path is a 404, any other
// method a 405. The query is ignored, as nginx ignores it.
//
// What it shares with the service, so that the ratio measures the
// service's own code only:
//
//   - the service's server timeouts and header limit (internal/server/server.go): read
//     header 5 s, read 10 s, write 10 s, idle 60 s, 16 KiB of headers.
//     Each sets socket deadlines per request, a cost of net/http that the
//     service cannot drop (they are its slowloris and slow-reader
//     defence); -timeouts=false measures net/http without them;
//   - its TLS settings (handlers/certs/certs.go): TLS 1.2 or later,
//     crypto/tls's defaults otherwise (session tickets on, one ticket per
//     handshake, its curve and cipher preferences), ALPN h2 and http/1.1;
//     the certificate is served from a fixed pair rather than chosen by
//     SNI, the one lookup it leaves out;
//   - Content-Type and Content-Length headers, as the service sends them;
//     with -headers (bench/run's default, CEILING_HEADERS=service) every
//     header the service sent with the file, read from file.headers, so
//     that the bytes on the wire are the service's and the ratio is the
//     service's code alone, not the extra headers' cost in net/http.
//
// It does not cap connections as the service does
// (MAILAUTOCONF_MAX_CONNECTIONS): at bench/run's 64 connections the cap
// is never reached and costs one semaphore per accept.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

// The service's server timeouts and header limit (internal/server/server.go).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	maxBody           = 64 << 10
)

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "address of the plain HTTP listener")
	tlsListen := fs.String("tls-listen", "", "address of the HTTPS listener (needs -cert and -key)")
	cert := fs.String("cert", "", "certificate chain, PEM")
	key := fs.String("key", "", "its private key, PEM")
	timeouts := fs.Bool("timeouts", true, "the service's server timeouts (internal/server/server.go)")
	headers := fs.Bool("headers", false, "send with each file the header lines of file.headers (as curl -D wrote them), but Date and Content-Length")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listen == "" && *tlsListen == "" {
		return errors.New("nothing to serve on: give -listen, -tls-listen or both")
	}
	files, err := loadFiles(fs.Args(), *headers)
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if *tlsListen != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			return fmt.Errorf("-cert/-key: %w", err)
		}
		tlsConfig = serverTLS(pair)
	}

	var servers []*http.Server
	errc := make(chan error, 2)
	serve := func(addr string, tc *tls.Config) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		srv := newServer(files, *timeouts)
		servers = append(servers, srv)
		srv.TLSConfig = tc
		go func() {
			// As the service serves (internal/server/server.go): ServeTLS adds HTTP/2.
			if tc != nil {
				errc <- srv.ServeTLS(ln, "", "")
			} else {
				errc <- srv.Serve(ln)
			}
		}()
		return nil
	}
	if *listen != "" {
		if err := serve(*listen, nil); err != nil {
			return err
		}
	}
	if *tlsListen != "" {
		if err := serve(*tlsListen, tlsConfig); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	for _, srv := range servers {
		srv.Close()
	}
	return nil
}

// serverTLS is the service's HTTPS configuration (handlers/certs.TLSConfig)
// with a fixed certificate, less the acme-tls/1 protocol no benchmark
// client offers.
func serverTLS(pair tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// file is one answer: its bytes and its header values, made once.
type file struct {
	body          []byte
	contentType   []string
	contentLength []string
	// more are the other headers the service sent with it (-headers),
	// canonical names to values.
	more map[string][]string
}

// contentTypes are the service's media types, by file extension.
var contentTypes = map[string]string{
	".xml":          "application/xml; charset=utf-8",
	".json":         "application/json",
	".mobileconfig": "application/x-apple-aspen-config",
}

// loadFiles reads every "URL-path=file" argument, with file.headers when
// headers is set.
func loadFiles(args []string, headers bool) (map[string]file, error) {
	if len(args) == 0 {
		return nil, errors.New("no files: give URL-path=file arguments")
	}
	files := make(map[string]file, len(args))
	for _, a := range args {
		p, name, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(p, "/") || name == "" {
			return nil, fmt.Errorf("%q: want URL-path=file, the path starting with /", a)
		}
		body, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		// By the path's extension, or its last element: the profile's
		// path is /mobileconfig.
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct, ok = contentTypes["."+path.Base(p)]
		}
		if !ok {
			ct = "application/octet-stream"
		}
		f := file{body: body, contentType: []string{ct}, contentLength: []string{strconv.Itoa(len(body))}}
		if headers {
			if f.more, err = readHeaders(name + ".headers"); err != nil {
				return nil, err
			}
			if v, ok := f.more["Content-Type"]; ok {
				f.contentType = v
				delete(f.more, "Content-Type")
			}
		}
		files[p] = f
	}
	return files, nil
}

// readHeaders reads the header lines curl -D wrote (a status line, then
// "Name: value" lines), less Date and Content-Length, which the server
// writes itself.
func readHeaders(name string) (map[string][]string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	h := map[string][]string{}
	for i, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if i == 0 || line == "" {
			continue // the status line; the blank line that ends them
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not a header line", name, line)
		}
		k = http.CanonicalHeaderKey(strings.TrimSpace(k))
		if k == "Date" || k == "Content-Length" {
			continue
		}
		h[k] = append(h[k], strings.TrimSpace(v))
	}
	return h, nil
}

// newServer answers files' paths with their bytes.
func newServer(files map[string]file, timeouts bool) *http.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPost:
			// Read the body as the service does, bounded as it is.
			io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody))
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// The slices are shared by every request and never changed.
		hd := w.Header()
		for k, v := range f.more {
			hd[k] = v
		}
		hd["Content-Type"] = f.contentType
		hd["Content-Length"] = f.contentLength
		if r.Method != http.MethodHead {
			w.Write(f.body)
		}
	})
	srv := &http.Server{
		Handler:        h,
		MaxHeaderBytes: maxHeaderBytes,
		// The service logs handshake and connection errors at debug level,
		// below what bench/run asks of it: no line per failed handshake.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if timeouts {
		srv.ReadHeaderTimeout = readHeaderTimeout
		srv.ReadTimeout = readTimeout
		srv.WriteTimeout = writeTimeout
		srv.IdleTimeout = idleTimeout
	}
	return srv
}
