package provision

import "mailautoconf/internal/parsecache"

// A catalog remembers the parse of recent POX request bodies
// (internal/parsecache), so that a client asking again (Outlook asks on
// every start and every few hours, with the same bytes each time) costs a
// map lookup rather than an XML parse.
const (
	// requestCacheSize bounds a catalog's cache: 4096 bodies.
	requestCacheSize = 4096
	// maxCachedRequest is the largest body it keeps: real clients send
	// 300 to 600 bytes.
	maxCachedRequest = 2048
)

func newRequestCache(size int) *parsecache.Cache[AutodiscoverRequest] {
	return parsecache.New(size, maxCachedRequest, ParseAutodiscoverRequest)
}

// parseRequest is ParseAutodiscoverRequest, from c's cache when body was
// parsed recently. The results are values: callers share them safely.
func (c *Catalog) parseRequest(body []byte) (AutodiscoverRequest, error) {
	if c == nil || c.requests == nil {
		return ParseAutodiscoverRequest(body)
	}
	return c.requests.Parse(body)
}
