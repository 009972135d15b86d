package handlers

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/smallstep/pkcs7"
	"golang.org/x/net/html"
	"howett.net/plist"
)

// What every answer to anything must be, whatever was asked: used by the
// hostile corpus (hostile_test.go) and the HTTP fuzz target
// (fuzz_http_test.go).

// safeFileName is the only Content-Disposition a response may carry.
var safeFileName = regexp.MustCompile(`^attachment; filename="[a-z0-9][a-z0-9._-]*"$`)

// ourHosts are the hosts a Location may name: the test public host and
// the served names of the hostile catalog. Never one a request chose.
func ourHost(host string) bool {
	host = strings.ToLower(host)
	for _, suffix := range []string{"public.example", "example.com", "example.net", "xn--bcher-kva.example", "hoster.example", "moved.example", "old.example"} {
		if host == suffix || strings.HasSuffix(host, "."+suffix) {
			return true
		}
	}
	return false
}

// checkAnswer returns what is wrong with an answer to a request made with
// method: a 5xx, a header that could split a response or name another
// host, a body that does not parse as its media type says, a HEAD answer
// with a body, or an error body that is not a short line of text.
func checkAnswer(method string, status int, header http.Header, body []byte) error {
	if status >= 500 || status < 200 {
		return fmt.Errorf("status %d", status)
	}
	for k, vs := range header {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("header %s holds a line break or NUL: %q", k, v)
			}
		}
	}
	if cd := header.Get("Content-Disposition"); cd != "" && !safeFileName.MatchString(cd) {
		return fmt.Errorf("Content-Disposition %q", cd)
	}
	if loc := header.Get("Location"); loc != "" {
		u, err := url.Parse(loc)
		if err != nil || u.Scheme != "https" || !ourHost(u.Hostname()) {
			return fmt.Errorf("Location %q names a host that is not ours", loc)
		}
	}
	if method == http.MethodHead {
		return nil // net/http sends no body, whatever a handler writes
	}
	mediaType, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if status != http.StatusOK {
		if !utf8.Valid(body) {
			return fmt.Errorf("%d body is not UTF-8", status)
		}
		switch mediaType {
		case "text/plain":
			if len(body) > 300 || bytes.Count(body, []byte("\n")) > 1 || bytes.ContainsAny(body, "\r\x00<>") {
				return fmt.Errorf("%d body is not one short line: %q", status, body)
			}
		case "text/html":
			return checkHTML(body)
		case "application/json":
			if !json.Valid(body) {
				return fmt.Errorf("%d JSON body does not parse: %q", status, body)
			}
		case "application/xml", "text/xml":
			return checkXML(body, false)
		case "":
			if len(body) > 0 {
				return fmt.Errorf("%d body without a media type", status)
			}
		default:
			return fmt.Errorf("%d body of type %q", status, mediaType)
		}
		return nil
	}
	switch mediaType {
	case "application/xml", "text/xml":
		return checkXML(body, false)
	case "application/json":
		if !json.Valid(body) {
			return fmt.Errorf("JSON does not parse: %q", body)
		}
	case "application/x-apple-aspen-config":
		if bytes.HasPrefix(body, []byte("<?xml")) {
			var v map[string]any
			if _, err := plist.Unmarshal(body, &v); err != nil {
				return fmt.Errorf("profile does not parse: %v", err)
			}
			return checkXML(body, true)
		}
		if _, err := pkcs7.Parse(body); err != nil {
			return fmt.Errorf("signed profile does not parse: %v", err)
		}
	case "text/html":
		return checkHTML(body)
	case "image/png":
		if _, err := png.Decode(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("PNG does not decode: %v", err)
		}
	case "text/plain", "text/css", "image/svg+xml":
		if !utf8.Valid(body) {
			return fmt.Errorf("%s is not UTF-8", mediaType)
		}
	default:
		return fmt.Errorf("200 of unexpected type %q", header.Get("Content-Type"))
	}
	return nil
}

// plistDoctype is the one document type declaration an answer holds: a
// property list's, which declares no entity.
const plistDoctype = `DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"`

// checkXML reads a whole document strictly: one root element, UTF-8, and
// no document type declaration but, in a plist, the plist one.
func checkXML(body []byte, plist bool) error {
	if !utf8.Valid(body) {
		return errors.New("XML is not UTF-8")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	depth, roots := 0, 0
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("XML does not parse: %v\n%s", err, body)
		}
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.Directive:
			if !plist || string(t) != plistDoctype {
				return fmt.Errorf("XML holds a directive: %s", t)
			}
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("XML has text outside its root")
			}
		}
	}
	if roots != 1 || depth != 0 {
		return fmt.Errorf("XML has %d roots", roots)
	}
	return nil
}

// checkHTML tokenizes a page: UTF-8, and every link relative to the host
// the page was asked of (never one the request named).
func checkHTML(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("HTML is not UTF-8")
	}
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() == io.EOF {
				return nil
			}
			return z.Err()
		case html.StartTagToken, html.SelfClosingTagToken:
			for {
				k, v, more := z.TagAttr()
				switch string(k) {
				case "href", "src", "action":
					if s := string(v); !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
						return fmt.Errorf("page links to %q, not a path on its own host", s)
					}
				}
				if !more {
					break
				}
			}
		}
	}
}
