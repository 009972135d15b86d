package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// httpMethods are the methods the fuzz target picks from: every one a
// route takes, and others a client may send.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PROPFIND", "TRACE", "PATCH"}

// FuzzHTTP sends any method, path, query, Host and body through the whole
// router of each configuration (routing, middleware, handlers, the error
// handler). Properties: no panic, no 5xx, and every answer well-formed
// for its media type (checkAnswer): a 200 of XML parses as one document,
// JSON parses, a profile parses as a property list, a page links only to
// its own host, an error is one short line of text, no header can split
// a response and no Location names a host the request chose.
func FuzzHTTP(f *testing.F) {
	for _, tc := range hostileCases {
		u, err := url.Parse(tc.target)
		if err != nil {
			continue
		}
		method := 0
		for i, m := range httpMethods {
			if m == tc.method {
				method = i
			}
		}
		host := u.Host
		if tc.host != "" {
			host = tc.host
		}
		f.Add(uint8(method), u.EscapedPath(), u.RawQuery, host, tc.body)
	}
	routers := hostileRouters(f)
	names := []string{"no public host", "public host", "plain listener"}
	f.Fuzz(func(t *testing.T, method uint8, path, query, host, body string) {
		// Only what net/http's server hands a handler: a request
		// target it parses, a Host header it accepts. It answers
		// anything else 400 itself.
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || !httpguts.ValidHostHeader(host) {
			return
		}
		req := &http.Request{
			Method:     httpMethods[int(method)%len(httpMethods)],
			URL:        u,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{"Content-Type": {"text/xml"}},
			Host:       host,
			RemoteAddr: "192.0.2.1:1234",
			RequestURI: u.RequestURI(),
		}
		if body != "" {
			req.Body = io.NopCloser(strings.NewReader(body))
			req.ContentLength = int64(len(body))
		} else {
			req.Body = http.NoBody
		}
		req = req.WithContext(context.Background())
		for _, name := range names {
			rec := httptest.NewRecorder()
			serveFuzz(routers[name], rec, req.Clone(context.Background()), body)
			if err := checkAnswer(req.Method, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Fatalf("%s: %s %s?%s Host %q body %q: %v", name, req.Method, path, query, host, body, err)
			}
		}
	})
}

// serveFuzz serves req with a fresh body: Clone shares the reader.
func serveFuzz(e http.Handler, w http.ResponseWriter, req *http.Request, body string) {
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
	}
	e.ServeHTTP(w, req)
}
