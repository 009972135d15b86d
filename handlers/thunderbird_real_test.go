package handlers

// These tests run Thunderbird's own account-setup code on what the service
// serves: testdata/thunderbird/harness.mjs loads FetchConfig, FetchHTTP,
// readFromXML, ExchangeAutoDiscover, FindConfig and AccountConfig from the
// installed Thunderbird's omni.ja under Node.js, with small shims for the
// Gecko globals they use (testdata/thunderbird/README.md). Nothing of
// Thunderbird is copied into this repository.
//
// Needs: the Debian package thunderbird, Node.js 20.6 or later, and
// `npm ci --prefix handlers/testdata/thunderbird`. Without them the tests
// skip, saying so; under CI they fail.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailautoconf/provision"
)

// tbServer is one server of Thunderbird's AccountConfig, with socketType
// and auth spelled as in config-v1.1.xml.
type tbServer struct {
	Type                     string `json:"type"`
	Hostname                 string `json:"hostname"`
	Port                     int    `json:"port"`
	SocketType               string `json:"socketType"`
	Auth                     string `json:"auth"`
	Username                 string `json:"username"`
	UseGlobalPreferredServer bool   `json:"useGlobalPreferredServer"`
}

// String reads "imap imap.example.com:993 SSL password-cleartext alice@example.com".
func (s tbServer) String() string {
	return fmt.Sprintf("%s %s:%d %s %s %s", s.Type, s.Hostname, s.Port, s.SocketType, s.Auth, s.Username)
}

// tbConfig is the AccountConfig Thunderbird's account hub would show, after
// AccountConfig.replaceVariables filled in the address.
type tbConfig struct {
	Source               string     `json:"source"`
	SubSource            string     `json:"subSource"`
	ID                   string     `json:"id"`
	DisplayName          string     `json:"displayName"`
	Domains              []string   `json:"domains"`
	IsComplete           bool       `json:"isComplete"`
	Incoming             tbServer   `json:"incoming"`
	IncomingAlternatives []tbServer `json:"incomingAlternatives"`
	Outgoing             tbServer   `json:"outgoing"`
	OutgoingAlternatives []tbServer `json:"outgoingAlternatives"`
}

// servers lists the incoming and outgoing servers in Thunderbird's order
// of preference.
func (c *tbConfig) servers() (in, out []string) {
	for _, s := range append([]tbServer{c.Incoming}, c.IncomingAlternatives...) {
		in = append(in, s.String())
	}
	for _, s := range append([]tbServer{c.Outgoing}, c.OutgoingAlternatives...) {
		out = append(out, s.String())
	}
	return in, out
}

// tbRequest is one HTTP request Thunderbird made during the lookup.
type tbRequest struct {
	Method             string   `json:"method"`
	URL                string   `json:"url"`
	Status             int      `json:"status"` // 0: never reached a server
	ContentType        string   `json:"contentType"`
	Auth               string   `json:"auth"` // "Basic", "Bearer" or ""
	RequestContentType string   `json:"requestContentType"`
	RequestBody        string   `json:"requestBody"`
	FinalURL           string   `json:"finalURL"`
	Redirects          []string `json:"redirects"`
	Error              string   `json:"error"`
}

// tbResult is the harness's report of one lookup.
type tbResult struct {
	Thunderbird   string      `json:"thunderbird"` // version
	Lookup        string      `json:"lookup"`
	Accepted      bool        `json:"accepted"`
	Error         string      `json:"error"`
	Errors        []string    `json:"errors"`
	Config        *tbConfig   `json:"config"`
	Confirmations []string    `json:"confirmations"`
	Requests      []tbRequest `json:"requests"`
	Log           []string    `json:"log"` // what Thunderbird's code logged
}

// rejection returns nil when Thunderbird accepted, else its error.
func (r tbResult) rejection() error {
	if r.Accepted {
		return nil
	}
	msg := r.Error
	if len(r.Errors) > 0 {
		msg += ": " + strings.Join(r.Errors, "; ")
	}
	return errors.New(msg)
}

// thunderbirdParse runs an autoconfig document (config-v1.1.xml) through
// Thunderbird's ISP lookup (FetchConfig.fromISP, readFromXML), served as
// the 200 application/xml answer of https://autoconfig.<domain>/..., and
// fills in email as the account hub does. err is Thunderbird's reason for
// rejecting the document; the test fails if the harness cannot run.
func thunderbirdParse(t testing.TB, xml []byte, email string) (tbResult, error) {
	t.Helper()
	return thunderbirdReplay(t, "isp", http.StatusOK, "application/xml; charset=utf-8", xml, email)
}

// thunderbirdAutodiscover runs an Autodiscover POX response through
// Thunderbird's ExchangeAutoDiscover.fetchConfigFromExchange, served as the
// 200 text/xml answer of https://autodiscover.<domain>/autodiscover/autodiscover.xml.
func thunderbirdAutodiscover(t testing.TB, xml []byte, email string) (tbResult, error) {
	t.Helper()
	return thunderbirdReplay(t, "exchange", http.StatusOK, "text/xml; charset=utf-8", xml, email)
}

// thunderbirdReplay answers the first URL of Thunderbird's lookup ("isp",
// "db" or "exchange") with status, contentType and body; every other URL
// is unreachable. Thunderbird's own FetchHTTP then applies its rules to
// the status and Content-Type.
func thunderbirdReplay(t testing.TB, lookup string, status int, contentType string, body []byte, email string) (tbResult, error) {
	t.Helper()
	r := thunderbird(t).run(t, body, "--lookup", lookup, "--email", email,
		"--status", strconv.Itoa(status), "--content-type", contentType)
	return r, r.rejection()
}

// thunderbirdLive lets Thunderbird's lookup ("isp", "db", "exchange" or
// "discover", the account hub's whole discovery) talk to the test server
// at base as if <domain>, autoconfig.<domain> and autodiscover.<domain>
// resolved to it (https:// URLs are answered over plain HTTP). prefs are
// NAME=VALUE overrides of Thunderbird's default prefs.
func thunderbirdLive(t testing.TB, lookup, base, email string, prefs ...string) (tbResult, error) {
	t.Helper()
	args := []string{"--lookup", lookup, "--email", email, "--live", base}
	for _, p := range prefs {
		args = append(args, "--pref", p)
	}
	r := thunderbird(t).run(t, nil, args...)
	return r, r.rejection()
}

// fetchHTTPAccepts models the response rule of Thunderbird's
// FetchHTTP.sys.mjs: only a 2xx status is a success, and the body is
// parsed as XML only if Content-Type starts (case-sensitively) with
// text/xml, application/xml or text/rdf (docs/thunderbird-parser.md#http-layer).
// TestThunderbirdContentTypes checks this model against the real code.
func fetchHTTPAccepts(status int, contentType string) error {
	if status < 200 || status > 299 {
		return fmt.Errorf("status %d: FetchHTTP accepts only 2xx", status)
	}
	for _, p := range []string{"text/xml", "application/xml", "text/rdf"} {
		if strings.HasPrefix(contentType, p) {
			return nil
		}
	}
	return fmt.Errorf("Content-Type %q: FetchHTTP parses XML only for text/xml, application/xml and text/rdf", contentType)
}

// ---- the harness -------------------------------------------------------

type tbHarness struct {
	node, script, omni string
	version            string
	missing            string // why the tests cannot run here
	err                error  // the harness is broken

	// idle holds running `harness.mjs --serve` processes: loading
	// Thunderbird's modules takes most of a run, so each process serves
	// many lookups, one at a time.
	idle chan *tbProc
}

var (
	tbOnce  sync.Once
	tbFound tbHarness
)

// thunderbird returns the harness, skipping the test (failing it under CI)
// when Thunderbird, Node.js or the harness's npm packages are missing.
func thunderbird(t testing.TB) *tbHarness {
	t.Helper()
	tbOnce.Do(func() { tbFound = findThunderbird() })
	if tbFound.missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (CI must run Thunderbird's parser; .ci/run installs it)", tbFound.missing)
		}
		t.Skipf("skipping: %s", tbFound.missing)
	}
	if tbFound.err != nil {
		t.Fatal(tbFound.err)
	}
	return &tbFound
}

var tbNodeVersion = regexp.MustCompile(`^v(\d+)\.(\d+)\.`)

func findThunderbird() (h tbHarness) {
	h.idle = make(chan *tbProc, 2)
	h.omni = os.Getenv("THUNDERBIRD_OMNI")
	if h.omni == "" {
		h.omni = "/usr/lib/thunderbird/omni.ja"
	}
	if _, err := os.Stat(h.omni); err != nil {
		h.missing = fmt.Sprintf("Thunderbird is not installed (%s: %v); apt-get install thunderbird", h.omni, errors.Unwrap(err))
		return h
	}
	node, err := exec.LookPath("node")
	if err != nil {
		h.missing = "Node.js is not installed (need 20.6 or later to run Thunderbird's modules)"
		return h
	}
	h.node = node
	out, err := exec.Command(node, "--version").Output()
	m := tbNodeVersion.FindSubmatch(out)
	if err != nil || m == nil {
		h.missing = fmt.Sprintf("node --version: %q, %v", out, err)
		return h
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	if major < 20 || major == 20 && minor < 6 {
		h.missing = fmt.Sprintf("Node.js %s is too old (need 20.6 or later for module hooks)", bytes.TrimSpace(out))
		return h
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "thunderbird"))
	if err != nil {
		h.err = err
		return h
	}
	h.script = filepath.Join(dir, "harness.mjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@xmldom", "xmldom")); err != nil {
		h.missing = "the harness's npm packages are not installed: npm ci --prefix handlers/testdata/thunderbird"
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), tbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, h.script, "--omni", h.omni, "--check")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	var check struct {
		Thunderbird string `json:"thunderbird"`
		OK          bool   `json:"ok"`
	}
	if err != nil || json.Unmarshal(out, &check) != nil || !check.OK {
		h.err = fmt.Errorf("loading Thunderbird's modules from %s failed: %v\n%s%s", h.omni, err, out, stderr.Bytes())
		return h
	}
	h.version = check.Thunderbird
	return h
}

// tbTimeout bounds one lookup; Thunderbird's own HTTP timeout is 5 s (10 s
// for the ISPDB).
const tbTimeout = 60 * time.Second

// tbProc is one `harness.mjs --serve` process. It ends when its stdin is
// closed, at the latest when the test binary exits.
type tbProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tbLockedBuffer
}

type tbLockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *tbLockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *tbLockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (h *tbHarness) start() (*tbProc, error) {
	cmd := exec.Command(h.node, h.script, "--omni", h.omni, "--serve")
	p := &tbProc{cmd: cmd, stderr: &tbLockedBuffer{}}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.stdin, p.stdout = stdin, bufio.NewReaderSize(stdout, 1<<16)
	return p, nil
}

func (p *tbProc) stop() {
	p.stdin.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// run runs one lookup with the harness's command-line args, body as the
// document to replay, and decodes its report. Harness failures (not
// Thunderbird's rejections) fail the test.
func (h *tbHarness) run(t testing.TB, body []byte, args ...string) tbResult {
	t.Helper()
	var p *tbProc
	select {
	case p = <-h.idle:
	default:
		var err error
		if p, err = h.start(); err != nil {
			t.Fatalf("starting the harness: %v", err)
		}
	}
	job, err := json.Marshal(struct {
		Args []string `json:"args"`
		Body []byte   `json:"body"`
	}{args, body})
	if err != nil {
		t.Fatal(err)
	}
	type reply struct {
		line []byte
		err  error
	}
	done := make(chan reply, 1)
	go func() {
		if _, err := p.stdin.Write(append(job, '\n')); err != nil {
			done <- reply{nil, err}
			return
		}
		line, err := p.stdout.ReadBytes('\n')
		done <- reply{line, err}
	}()
	var r reply
	select {
	case r = <-done:
	case <-time.After(tbTimeout):
		p.stop()
		t.Fatalf("harness %s: no answer in %v\n%s", strings.Join(args, " "), tbTimeout, p.stderr)
	}
	if r.err != nil {
		p.stop()
		t.Fatalf("harness %s: %v\n%s", strings.Join(args, " "), r.err, p.stderr)
	}
	select {
	case h.idle <- p:
	default:
		p.stop()
	}
	var res struct {
		tbResult
		HarnessError string `json:"harnessError"`
	}
	if err := json.Unmarshal(r.line, &res); err != nil {
		t.Fatalf("harness %s: bad report: %v\n%.2000s", strings.Join(args, " "), err, r.line)
	}
	if res.HarnessError != "" {
		t.Fatalf("harness %s: %s", strings.Join(args, " "), res.HarnessError)
	}
	return res.tbResult
}

// ---- expectations --------------------------------------------------------

// tbDemoServers are the demo catalog's servers as Thunderbird should end up
// with them, in order, for an address whose login is user. Thunderbird's
// replaceVariables skips outgoingAlternatives (docs/thunderbird-parser.md#placeholders),
// so a document with placeholders leaves altUser there.
func tbDemoServers(user, altUser string) (in, out []string) {
	in = []string{
		"imap imap.example.com:993 SSL password-cleartext " + user,
		"imap imap.example.com:143 STARTTLS password-cleartext " + user,
		"pop3 pop.example.com:995 SSL password-cleartext " + user,
	}
	out = []string{
		"smtp smtp.example.com:465 SSL password-cleartext " + user,
		"smtp smtp.example.com:587 STARTTLS password-cleartext " + altUser,
	}
	return in, out
}

// tbConfigDiff describes how Thunderbird's config differs from the wanted
// servers, or returns "" when it does not.
func tbConfigDiff(c *tbConfig, wantIn, wantOut []string) string {
	if c == nil {
		return "no config"
	}
	var d []string
	if !c.IsComplete {
		d = append(d, "isComplete() is false")
	}
	in, out := c.servers()
	if !slices.Equal(in, wantIn) {
		d = append(d, fmt.Sprintf("incoming:\n\t%s\nwant:\n\t%s", strings.Join(in, "\n\t"), strings.Join(wantIn, "\n\t")))
	}
	if !slices.Equal(out, wantOut) {
		d = append(d, fmt.Sprintf("outgoing:\n\t%s\nwant:\n\t%s", strings.Join(out, "\n\t"), strings.Join(wantOut, "\n\t")))
	}
	return strings.Join(d, "\n")
}

// newThunderbirdServer serves the demo catalog on 127.0.0.1.
func newThunderbirdServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(newTestConfig(t, nil)).Router())
	t.Cleanup(srv.Close)
	return srv
}

// tbGet fetches path from srv with the given Host header ("" for the
// server's own address).
func tbGet(t *testing.T, srv *httptest.Server, host, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// ---- tests ---------------------------------------------------------------

// TestThunderbirdAcceptsAutoconfig fetches each autoconfig document form
// from the running service and replays the real response (status,
// Content-Type, body) to Thunderbird's lookup.
func TestThunderbirdAcceptsAutoconfig(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	srv := newThunderbirdServer(t)
	tests := []struct {
		name, host, path string
		lookup           string // Thunderbird's lookup that requests this URL
		email            string // typed into Thunderbird
		altUser          string // username of the outgoing alternative
	}{
		{"address", "", "/mail/config-v1.1.xml?emailaddress=alice@example.com", "isp", "alice@example.com", "alice@example.com"},
		{"address well-known", "example.com", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.com", "isp", "alice@example.com", "alice@example.com"},
		// As K-9 and KMail ask: no address, the domain from Host, the
		// login left as a placeholder for the client.
		{"host", "autoconfig.example.net", "/mail/config-v1.1.xml", "isp", "alice@example.net", "%EMAILADDRESS%"},
		{"ispdb", "", "/v1.1/example.com", "db", "alice@example.com", "%EMAILADDRESS%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := tbGet(t, srv, tt.host, tt.path)
			ct := resp.Header.Get("Content-Type")
			if err := fetchHTTPAccepts(resp.StatusCode, ct); err != nil {
				t.Fatalf("GET %s: %v", tt.path, err)
			}
			r, err := thunderbirdReplay(t, tt.lookup, resp.StatusCode, ct, body, tt.email)
			if err != nil {
				t.Fatalf("Thunderbird %s rejects GET %s: %v\nlog: %q\n%s", r.Thunderbird, tt.path, err, r.Log, body)
			}
			wantIn, wantOut := tbDemoServers(tt.email, tt.altUser)
			if d := tbConfigDiff(r.Config, wantIn, wantOut); d != "" {
				t.Errorf("Thunderbird %s, GET %s:\n%s", r.Thunderbird, tt.path, d)
			}
			if r.Config.ID != "example.com" || r.Config.DisplayName != "Example Mail" {
				t.Errorf("id, displayName = %q, %q; want example.com, Example Mail", r.Config.ID, r.Config.DisplayName)
			}
		})
	}
}

// TestThunderbirdLive lets Thunderbird's own lookups make their own
// requests to the service: its URLs, query encoding and headers, as if
// the demo domains' DNS pointed at us.
func TestThunderbirdLive(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	srv := newThunderbirdServer(t)
	isp := "https://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=alice%40example.com"
	tests := []struct {
		name, lookup, subSource string
		prefs                   []string
		altUser                 string
		first                   string // Thunderbird's first request, answered 200
	}{
		// The ISP lookup: https://autoconfig.example.com/... wins.
		{"isp", "isp", "xml-from-isp-https", nil, "alice@example.com", isp},
		// The ISPDB lookup, with Thunderbird's database URL set to ours;
		// it sends no address.
		{"ispdb", "db", "xml-from-db", []string{"mailnews.auto_config_url=" + srv.URL + "/v1.1/"}, "%EMAILADDRESS%", srv.URL + "/v1.1/example.com"},
		// The account hub's whole discovery (FindConfig): disk, ISP,
		// ISPDB (unreachable here), MX (no records) and Autodiscover.
		{"discover", "discover", "xml-from-isp-https", nil, "alice@example.com", isp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := thunderbirdLive(t, tt.lookup, srv.URL, "alice@example.com", tt.prefs...)
			if err != nil {
				t.Fatalf("Thunderbird %s rejects: %v\nrequests: %+v\nlog: %q", r.Thunderbird, err, r.Requests, r.Log)
			}
			wantIn, wantOut := tbDemoServers("alice@example.com", tt.altUser)
			if d := tbConfigDiff(r.Config, wantIn, wantOut); d != "" {
				t.Errorf("Thunderbird %s:\n%s", r.Thunderbird, d)
			}
			if r.Config.SubSource != tt.subSource {
				t.Errorf("subSource = %q, want %q (requests: %+v)", r.Config.SubSource, tt.subSource, r.Requests)
			}
			if q := r.Requests[0]; q.Method != http.MethodGet || q.URL != tt.first || q.Status != http.StatusOK {
				t.Errorf("first request %s %s answered %d, want GET %s answered 200", q.Method, q.URL, q.Status, tt.first)
			}
			// Every answer Thunderbird got from us passes FetchHTTP's rule
			// or is a 404 for a route we do not serve.
			for _, q := range r.Requests {
				if q.Status == 0 || q.Status == http.StatusNotFound {
					continue
				}
				if err := fetchHTTPAccepts(q.Status, q.ContentType); err != nil {
					t.Errorf("%s %s: %v", q.Method, q.URL, err)
				}
			}
		})
	}
}

// TestThunderbirdRejects proves the harness can fail: documents Thunderbird
// rejects, and one it accepts with the wrong servers, must not pass.
func TestThunderbirdRejects(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	srv := newThunderbirdServer(t)
	_, demo := tbGet(t, srv, "", "/mail/config-v1.1.xml?emailaddress=alice@example.com")
	replace := func(re, with string) []byte {
		return regexp.MustCompile(re).ReplaceAll(demo, []byte(with))
	}
	wantIn, wantOut := tbDemoServers("alice@example.com", "alice@example.com")

	for _, tt := range []struct {
		name string
		doc  []byte
		want string // in Thunderbird's error
	}{
		{"socketType ssl only", replace(`<socketType>[A-Z]+</socketType>`, "<socketType>ssl</socketType>"), "not in allowed list"},
		{"no outgoingServer", replace(`(?s)<outgoingServer.*?</outgoingServer>\s*`, ""), "Need proper <outgoingServer>"},
		{"not well-formed", demo[:len(demo)/2], "Bad response content"},
		{"no emailProvider", []byte(`<?xml version="1.0"?><clientConfig version="1.1"/>`), "does not contain an email account configuration"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := thunderbirdParse(t, tt.doc, "alice@example.com")
			if err == nil {
				t.Fatalf("Thunderbird accepts it: %+v", r.Config)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Thunderbird's error %q does not mention %q", err, tt.want)
			}
		})
	}

	// Accepted, but the SSL servers are dropped ("ssl" is not a
	// socketType): the comparison must catch the changed servers.
	t.Run("wrong servers", func(t *testing.T) {
		t.Parallel()
		r, err := thunderbirdParse(t, replace(`<socketType>SSL</socketType>`, "<socketType>ssl</socketType>"), "alice@example.com")
		if err != nil {
			t.Fatalf("Thunderbird rejects: %v", err)
		}
		if tbConfigDiff(r.Config, wantIn, wantOut) == "" {
			t.Errorf("tbConfigDiff finds no difference, but Thunderbird kept only %+v", r.Config)
		}
		if in, _ := r.Config.servers(); !slices.Equal(in, wantIn[1:2]) {
			t.Errorf("incoming = %q, want only %q", in, wantIn[1])
		}
	})
}

// TestThunderbirdContentTypes checks fetchHTTPAccepts, the Go model of
// FetchHTTP's rule, against FetchHTTP itself, on the demo document.
func TestThunderbirdContentTypes(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	srv := newThunderbirdServer(t)
	_, demo := tbGet(t, srv, "", "/mail/config-v1.1.xml?emailaddress=alice@example.com")
	for _, tt := range []struct {
		status int
		ct     string
	}{
		{200, "application/xml; charset=utf-8"},
		{200, "text/xml"},
		{203, "text/xml; charset=utf-8"},
		{200, "Text/XML"}, // FetchHTTP compares case-sensitively
		{200, "text/plain; charset=utf-8"},
		{200, "application/json"},
		{200, ""},
		{404, "application/xml"},
		{301, "application/xml"},
	} {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.ct), func(t *testing.T) {
			t.Parallel()
			model := fetchHTTPAccepts(tt.status, tt.ct)
			_, real := thunderbirdReplay(t, "isp", tt.status, tt.ct, demo, "alice@example.com")
			if (model == nil) != (real == nil) {
				t.Errorf("model says %v, Thunderbird says %v", model, real)
			}
		})
	}
}

// thunderbirdAutodiscoverRequest is the body Thunderbird POSTs
// (ExchangeAutoDiscover.fetchConfigFromExchange).
const thunderbirdAutodiscoverRequest = `<?xml version="1.0" encoding="utf-8"?>
    <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
      <Request>
        <EMailAddress>alice@example.com</EMailAddress>
        <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
      </Request>
    </Autodiscover>`

// TestThunderbirdAutodiscover runs Thunderbird's Autodiscover lookup
// against the service: its own POST, then readAutoDiscoverXML on our
// answer.
func TestThunderbirdAutodiscover(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	srv := newThunderbirdServer(t)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/autodiscover/autodiscover.xml", strings.NewReader(thunderbirdAutodiscoverRequest))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "autodiscover.example.com"
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		t.Skip("skipping: POST /autodiscover/autodiscover.xml answers 404 (the Autodiscover route is not built yet)")
	}
	if err := fetchHTTPAccepts(resp.StatusCode, resp.Header.Get("Content-Type")); err != nil {
		t.Fatalf("POST /autodiscover/autodiscover.xml: %v\n%s", err, body)
	}

	r, err := thunderbirdLive(t, "exchange", srv.URL, "alice@example.com")
	if err != nil {
		t.Fatalf("Thunderbird %s rejects: %v\nrequests: %+v\nlog: %q\nour answer: %s", r.Thunderbird, err, r.Requests, r.Log, body)
	}
	c := r.Config
	if !c.IsComplete {
		t.Errorf("isComplete() is false: %+v", c)
	}
	wantIn, wantOut := tbDemoServers("alice@example.com", "alice@example.com")
	if got := c.Incoming.String(); got != wantIn[0] {
		t.Errorf("incoming = %s, want %s", got, wantIn[0])
	}
	if got := c.Outgoing.String(); got != wantOut[0] {
		t.Errorf("outgoing = %s, want %s", got, wantOut[0])
	}
	// Autodiscover has no socketType: Thunderbird guesses it from the
	// port. Every alternative must still be one of the demo's servers.
	in, out := c.servers()
	for _, s := range append(in, out...) {
		if !slices.Contains(append(wantIn, wantOut...), s) {
			t.Errorf("Thunderbird got %s, which is not one of the demo's servers", s)
		}
	}
	if len(r.Requests) == 0 || r.Requests[0].Status != http.StatusOK {
		t.Errorf("Thunderbird's first request was not answered 200: %+v", r.Requests)
	}
}

// TestThunderbirdAutodiscoverPlainRedirect runs Thunderbird's Autodiscover
// lookup for a customer domain without a certificate of its own: only
// http://autodiscover.<domain> reaches us, and the plain-HTTP listener
// redirects it to the service's public host (PlainRules.PublicHost).
// Thunderbird follows the 302 as a GET without credentials, then asks the
// user before POSTing the password to another domain (after a 2 s pause),
// and uses our answer only if the user agrees.
func TestThunderbirdAutodiscoverPlainRedirect(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	const public = "autoconfig.hoster.example"
	cfg := newTestConfig(t, nil)
	cfg.Plain = &PlainRules{PublicHost: public}
	h := New(cfg)
	plain := httptest.NewServer(h.PlainRouter())
	t.Cleanup(plain.Close)
	tls := httptest.NewServer(h.Router()) // the HTTPS listener's router
	t.Cleanup(tls.Close)
	wantIn, wantOut := tbDemoServers("alice@example.com", "alice@example.com")
	for _, agree := range []bool{false, true} {
		t.Run(fmt.Sprintf("user agrees %v", agree), func(t *testing.T) {
			t.Parallel()
			args := []string{"--lookup", "exchange", "--email", "alice@example.com",
				"--live", plain.URL, "--live-https", tls.URL, "--no-https", "--host", public}
			if agree {
				args = append(args, "--accept-redirects")
			}
			r := thunderbird(t).run(t, nil, args...)
			if want := []string{"https://hoster.example"}; !slices.Equal(r.Confirmations, want) {
				t.Errorf("Thunderbird asked the user about %q, want %q\nrequests: %+v", r.Confirmations, want, r.Requests)
			}
			if !agree {
				if r.Accepted {
					t.Errorf("Thunderbird used the answer without the user's consent: %+v", r.Config)
				}
				return
			}
			if err := r.rejection(); err != nil {
				t.Fatalf("Thunderbird %s rejects: %v\nrequests: %+v\nlog: %q", r.Thunderbird, err, r.Requests, r.Log)
			}
			if d := tbConfigDiff(r.Config, wantIn, wantOut); d != "" {
				t.Errorf("Thunderbird %s:\n%s", r.Thunderbird, d)
			}
			last := r.Requests[len(r.Requests)-1]
			if last.URL != "https://"+public+"/autodiscover/autodiscover.xml" || last.Method != http.MethodPost || last.Auth != "Basic" || last.Status != http.StatusOK {
				t.Errorf("last request %+v, want an authenticated POST to https://%s answered 200", last, public)
			}
		})
	}

	// The account hub's whole discovery for such a domain: autoconfig
	// over plain HTTP gives the config, but the Autodiscover redirect
	// makes the hub stop first at its "send your credentials to
	// hoster.example?" screen (email.mjs, emailCredentialsConfirmationSubview),
	// even when the user then declines. This pins that cost of
	// PlainRules.PublicHost; change it here if the design changes.
	t.Run("account hub", func(t *testing.T) {
		t.Parallel()
		r := thunderbird(t).run(t, nil, "--lookup", "discover", "--email", "alice@example.com",
			"--live", plain.URL, "--live-https", tls.URL, "--no-https", "--host", public)
		if err := r.rejection(); err != nil {
			t.Fatalf("Thunderbird %s finds nothing: %v\nrequests: %+v", r.Thunderbird, err, r.Requests)
		}
		if d := tbConfigDiff(r.Config, wantIn, wantOut); d != "" || r.Config.SubSource != "xml-from-isp-http" {
			t.Errorf("Thunderbird %s, from %s:\n%s", r.Thunderbird, r.Config.SubSource, d)
		}
		if want := []string{"https://hoster.example"}; !slices.Equal(r.Confirmations, want) {
			t.Errorf("the account hub asked the user about %q, want %q", r.Confirmations, want)
		}
	})
}

// TestThunderbirdAutodiscoverVariants replays our POX answers for
// providers other than the demo to Thunderbird's own Autodiscover reader:
// STARTTLS-only servers and a local-part login come through as such, and
// an answer in the mobilesync schema (no Protocol) is refused, so the
// replay can fail.
func TestThunderbirdAutodiscoverVariants(t *testing.T) {
	t.Parallel()
	thunderbird(t)
	cat, err := provision.Parse(provision.Source{Name: "variants", Data: []byte(`providers:
  - id: mail.example.org
    domains: [example.org]
    activesync: https://eas.example.org/Microsoft-Server-ActiveSync
    incoming: [{protocol: imap, host: mail.example.org, port: 143, security: starttls, username: "%EMAILLOCALPART%"}]
    outgoing: [{protocol: smtp, host: mail.example.org, port: 587, security: starttls, username: "%EMAILLOCALPART%"}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cat.Lookup("example.org")
	if err != nil {
		t.Fatal(err)
	}
	addr := provision.Address{Local: "bob", Domain: "example.org"}
	r, err := thunderbirdAutodiscover(t, rendered(t)(cat.Autodiscover(nil, p, "example.org", &addr, provision.Options{})), "bob@example.org")
	if err != nil {
		t.Fatalf("Thunderbird %s rejects the STARTTLS-only answer: %v", r.Thunderbird, err)
	}
	wantIn := []string{"imap mail.example.org:143 STARTTLS password-cleartext bob"}
	wantOut := []string{"smtp mail.example.org:587 STARTTLS password-cleartext bob"}
	if d := tbConfigDiff(r.Config, wantIn, wantOut); d != "" {
		t.Errorf("Thunderbird's config differs: %s", d)
	}

	ms, err := cat.MobileSync(nil, p, addr.Domain, &addr, provision.Options{})
	if err != nil {
		t.Fatal("no mobilesync answer for a provider with activesync")
	}
	if _, err := thunderbirdAutodiscover(t, ms, "bob@example.org"); err == nil {
		t.Error("Thunderbird accepted a mobilesync answer, which has no IMAP or SMTP: the replay cannot tell")
	}
}
