// Package handlers is mailautoconf's HTTP surface: each handler parses a
// request, asks package provision, and writes bytes. Protocol semantics live
// in provision, not here.
//
// A Router is not an echo.Echo to add middleware to: it runs echo's
// routing but not echo's middleware chain, so Use and Pre on it panic
// rather than take a middleware that would never run. A step every
// request takes goes into serve or guard (router.go); middleware given
// to a route or a group does run.
//
// The files:
//
//	handler.go       Config, Handler and New: what the package is built from
//	routes.go        every route (Routes), the format of each, the operations routes
//	router.go        Router and the request pipeline: serve (log, metrics), guard
//	                 (rate limit, body limit, panics); Use and Pre panic
//	reqcontext.go    the per-request state the pipeline and the handlers share
//	errors.go        the error handler: error kinds to status codes and bodies
//	query.go         reading a request: query parameters, the address, the Host
//	answer.go        writing an answer: pooled buffers, Content-Length, shared
//	                 header values, plain text
//	autoconfig.go    Thunderbird autoconfig and the ISPDB URL form
//	autodiscover.go  Outlook Autodiscover: POX and v2 JSON
//	mobileconfig.go  Apple configuration profiles
//	profilecache.go  the profiles last served, byte-identical on a second download
//	page.go          the setup page, its QR code and static files
//	origin.go        the origin the setup page's QR code points at
//	pacc.go          PACC's user-agent-configuration.json
//	login.go         %LOGIN% from the catalog's directories; no-store answers
//	plain.go         the plain-HTTP listener's rules beside an HTTPS one
//	ratelimit.go     the per-client rate limit
//	clientfamily.go  the client family guessed from a request
//	requestlog.go    the request log's writer and request ids
//	metrics.go       the request series (internal/metrics serves them) and
//	                 the format and domain label values
//	probes.go        /healthz and /readyz
//	domains.go       the DNS watch's /domains and /api/v1/domains (operations
//	                 listener), behind the admin token
package handlers
