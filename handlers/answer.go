package handlers

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"mailautoconf/provision"
)

const (
	xmlContentType = "application/xml; charset=utf-8"
	// Settings change rarely, and clients ask once per account setup. An
	// answer holding a directory's login is no-store instead (userCaches).
	autoconfigCache = "public, max-age=3600"
)

// xmlBlob answers 200 with an XML document: its Cache-Control (one of
// the fixed values below), its type and length.
func xmlBlob(c echo.Context, cacheControl []string, body []byte) error {
	return answer(c, http.StatusOK, cacheControl, xmlContentTypes, body)
}

// answer writes body with status, Cache-Control cacheControl, Content-Type
// contentType and Content-Length: what every document's answer carries.
// Both values are fixed ones (below), assigned as they are; the header
// names are already canonical.
func answer(c echo.Context, status int, cacheControl, contentType []string, body []byte) error {
	r := c.Response()
	hdr := r.Header()
	hdr[echo.HeaderCacheControl] = cacheControl
	hdr[echo.HeaderContentType] = contentType
	setLength(c, body)
	r.WriteHeader(status)
	_, err := r.Write(body)
	return err
}

// buffers hold documents while they are written: a response is copied
// into the connection's buffer (or written out) before c.Blob returns, so
// the next request can reuse the memory instead of leaving it to the GC.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

// putBuffer returns b to the pool unless it grew unusually large (a
// provider with a very long document): such memory goes back to the GC.
func putBuffer(b *[]byte) {
	if cap(*b) <= 64<<10 {
		buffers.Put(b)
	}
}

// setLength sets Content-Length. Without it net/http sends a body longer
// than its 2 KB buffer chunked, and most documents are longer.
func setLength(c echo.Context, body []byte) {
	c.Response().Header()[echo.HeaderContentLength] = lengthValue(len(body))
}

// lengthValues are the Content-Length values of bodies shorter than
// len(lengthValues), each made at its first use and then shared like the
// fixed values below: a provider's documents are of a few lengths (they
// differ by the address), so nearly every answer finds its value made.
// At most 8192 values of a few bytes each.
var lengthValues [8192]atomic.Pointer[[]string]

// lengthValue is the Content-Length header value of a body of n bytes.
func lengthValue(n int) []string {
	if n < 0 || n >= len(lengthValues) {
		return []string{strconv.Itoa(n)}
	}
	if v := lengthValues[n].Load(); v != nil {
		return *v
	}
	v := fixedValue(strconv.Itoa(n))
	lengthValues[n].Store(&v)
	return v
}

// Header values many responses share, each one slice assigned to every
// header that carries it. A slice is full (len == cap), so Header.Add
// copies it rather than write into it, and Header.Set replaces it: no
// response can change another's.
var (
	xmlContentTypes          = fixedValue(xmlContentType)
	jsonContentTypes         = fixedValue(echo.MIMEApplicationJSON)
	autoconfigCaches         = fixedValue(autoconfigCache)
	paccCaches               = fixedValue(paccCache)
	noStores                 = fixedValue(noStore)
	userAgentVary            = fixedValue(userAgentHeader)
	nosniffValues            = fixedValue("nosniff")
	profileCaches            = fixedValue(profileCache)
	mobileconfigContentTypes = fixedValue(provision.MobileconfigContentType)
)

func fixedValue(v string) []string { return []string{v}[:1:1] }

// plainText writes body as text/plain. It is the one place that does, for
// the error answers and the probes alike, and it always says nosniff: a
// browser must never take a plain-text answer for HTML, whatever a
// message may hold (Fetch standard, "X-Content-Type-Options" header).
func plainText(c echo.Context, status int, body string) error {
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.String(status, body)
}
