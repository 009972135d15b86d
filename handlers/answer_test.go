package handlers

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestLengthValue(t *testing.T) {
	for _, n := range []int{0, 1, 99, 100, 2025, 8191, 8192, 1 << 20} {
		for range 2 { // made, then found
			v := lengthValue(n)
			if len(v) != 1 || cap(v) != 1 || v[0] != strconv.Itoa(n) {
				t.Fatalf("lengthValue(%d) = %q (cap %d)", n, v, cap(v))
			}
		}
	}
}

// TestPlainTextNosniff: every plain-text answer, on every route of every
// router (the error paths above all: bad values, unknown domains, wrong
// methods, no route), says X-Content-Type-Options: nosniff, so no browser
// takes an echo for HTML.
func TestPlainTextNosniff(t *testing.T) {
	routers := hostileRouters(t)
	routers["ops"] = New(newTestConfig(t, nil)).OpsRouter()
	plain := 0
	for name, e := range routers {
		var paths []string
		if r, ok := e.(*Router); ok {
			for _, rt := range r.Routes() {
				paths = append(paths, rt.Path)
			}
		} else {
			paths = []string{"/healthz", "/readyz", "/metrics"}
		}
		paths = append(paths, "/nowhere", "/static/", "/v1.1/")
		for _, p := range paths {
			p = strings.NewReplacer(":domain", "nope.invalid", ":file", "nope.css", "*", "nobody@unknown.example").Replace(p)
			for _, q := range []string{
				"",
				"?email=a&emailaddress=a&Email=a&protocol=x&Protocol=x",
				"?email=a@unknown.example&emailaddress=a@unknown.example&Email=a@unknown.example",
				"?email=a@example.com&emailaddress=a@example.com&Email=a@example.com&protocol=smtp&name=%00",
				"?email=a@example.com&email=b@example.com",
			} {
				for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete} {
					req := httptest.NewRequest(method, "http://example.com"+p+q, strings.NewReader("<x/>"))
					rec := httptest.NewRecorder()
					e.ServeHTTP(rec, req)
					if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
						continue
					}
					plain++
					if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
						t.Errorf("%s: %s %s%s: %d text/plain without nosniff (%q)", name, method, p, q, rec.Code, got)
					}
				}
			}
		}
	}
	if plain < 100 {
		t.Errorf("only %d plain-text answers: the test reaches too few error paths", plain)
	}
}
