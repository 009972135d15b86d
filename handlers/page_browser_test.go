package handlers

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	qr "github.com/piglig/go-qr"
	"howett.net/plist"

	"mailautoconf/internal/testutil"
	"mailautoconf/provision"
)

// browserCatalog is the demo catalog with a colour, so that the browser
// shows a branded page and proves the CSP lets the colour through.
const browserCatalog = `providers:
  - id: example.com
    display_name: Example Mail
    organization: Example Ltd
    color: "#0a7d55"
    domains: [example.com, example.net]
    incoming:
      - {protocol: imap, host: imap.example.com, port: 993, security: tls}
      - {protocol: pop3, host: pop.example.com,  port: 995, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.com, port: 465, security: tls}
    caldav:  https://dav.example.com/
    carddav: https://dav.example.com/
`

// findChromium returns Debian's chromium, skipping the test where it is
// absent, except under CI (.ci/run installs it).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is missing (.ci/run installs it)")
	}
	t.Skip("skipping: chromium not installed (apt-get install chromium)")
	return ""
}

// screenshotDir is testoutput/browser at the top of the repository, kept
// out of git by .gitignore. Screenshots stay there after the test for a
// person to look at.
func screenshotDir(t *testing.T) string {
	t.Helper()
	out := filepath.Join(testutil.RepoRoot(t), "testoutput", "browser")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSetupPageInChromium loads the page in real headless Chromium, on a
// phone-sized and a desktop-sized viewport: it types an address, submits
// the form, finds the settings table and the QR code (and decodes the code
// from a screenshot, as a phone camera would), switches to POP3, follows
// the install link and receives the profile as a download of type
// application/x-apple-aspen-config. No script runs on the page, so every
// step is what a person does.
// browserOnPage starts headless Chromium against a test server of
// browserCatalog: Chromium resolves the branded host name to it, so the
// page sees the Host header a real visitor's browser sends. It returns
// the browser's context, which ends with the test or after timeout, and
// the page's base URL.
func browserOnPage(t *testing.T, timeout time.Duration) (context.Context, string) {
	t.Helper()
	chromium := findChromium(t)
	cat, err := provision.Parse(provision.Source{Name: "browser.yaml", Data: []byte(browserCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(newTestConfig(t, cat)).Router())
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP autoconfig.example.com 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return browserCtx, "http://autoconfig.example.com:" + port
}

func TestSetupPageInChromium(t *testing.T) {
	browserCtx, base := browserOnPage(t, 90*time.Second)
	shots := screenshotDir(t)
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(browserCtx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: new(true),
	}); err != nil {
		t.Fatal(err)
	}

	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"phone-375", 375, 812, true},
		{"desktop-1280", 1280, 900, false},
	} {
		t.Run(vp.name, func(t *testing.T) {
			tab, cancelTab := chromedp.NewContext(browserCtx)
			defer cancelTab()
			checkPageInBrowser(t, tab, base, vp.name, vp.width, vp.height, vp.mobile, shots, downloads)
		})
	}
}

func checkPageInBrowser(t *testing.T, ctx context.Context, base, name string, width, height int64, mobile bool, shots, downloads string) {
	var emulate []chromedp.EmulateViewportOption
	if mobile {
		emulate = append(emulate, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, emulate...)); err != nil {
		t.Fatal(err)
	}
	// Every message the page logs: a CSP violation (a refused style or
	// image) would show up here.
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logged []string
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	logCtx, stopLog := context.WithCancel(ctx)
	defer stopLog()
	go func() {
		for ev, err := range entries {
			if err != nil || logCtx.Err() != nil {
				return
			}
			logMu.Lock()
			logged = append(logged, fmt.Sprintf("%s %s: %s (%s)", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			logMu.Unlock()
		}
	}()

	shot := func(step string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", step, err)
		}
		path := filepath.Join(shots, name+"-"+step+".png")
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	eval := func(js string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	readable := func(step string) {
		t.Helper()
		// Nothing wider than the screen: no sideways scrolling.
		if got := eval(`document.documentElement.scrollWidth <= window.innerWidth`); got != true {
			t.Errorf("%s: page is wider than the %d px viewport (scrollWidth %v)", step, width, eval(`document.documentElement.scrollWidth`))
		}
		// Body text at least 15 px, every visible control labelled.
		if got := eval(`parseFloat(getComputedStyle(document.body).fontSize) >= 15`); got != true {
			t.Errorf("%s: body text smaller than 15 px", step)
		}
		if got := eval(`[...document.querySelectorAll('input:not([type=hidden])')].every(i => i.labels.length > 0)`); got != true {
			t.Errorf("%s: an input has no label", step)
		}
		// The provider's colour reached the header: the CSP let the
		// page's inline style through.
		if got := eval(`getComputedStyle(document.querySelector('header.brand')).backgroundColor`); got != "rgb(10, 125, 85)" {
			t.Errorf("%s: header colour %v, want the catalog's #0a7d55", step, got)
		}
	}

	// 1. The form.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("email")),
	); err != nil {
		t.Fatal(err)
	}
	shot("1-form")
	readable("form")
	if title, _ := chromedp.Run(ctx, chromedp.Title()); !strings.Contains(title, "Example Mail") {
		t.Errorf("form title %q does not name the host's provider", title)
	}

	// 2. Type an address and submit, as a person does.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("email"), "fred@example.com")); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "lookup", http.StatusOK)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("settings"))); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, ctx, `document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 0`)
	table, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("settings")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"imap.example.com", "993", "smtp.example.com", "465", "SSL/TLS", "fred@example.com"} {
		if !strings.Contains(table, want) {
			t.Errorf("settings table lacks %q:\n%s", want, table)
		}
	}
	readable("result")
	if mobile {
		if h, _ := eval(`document.getElementById('install').getBoundingClientRect().height`).(float64); h < 44 {
			t.Errorf("install button %v px high, want at least 44 (a finger's width)", h)
		}
	}
	shot("2-result")

	// The QR code, scanned from the screen.
	img, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID("qr")))
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	// The page's own host, https on the default port (origin.go).
	wantURL := "https://autoconfig.example.com/mobileconfig?email=fred%40example.com"
	if got, err := qr.Decode(decoded); err != nil || got != wantURL {
		t.Errorf("QR code on screen reads %q, %v; want %q", got, err, wantURL)
	}

	// 3. Choose POP3: the table and the install link follow.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("protocol-pop3"))); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "choose", http.StatusOK)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("settings"))); err != nil {
		t.Fatal(err)
	}
	table, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("settings")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "pop.example.com") || !strings.Contains(table, "995") {
		t.Errorf("after choosing POP3 the table reads:\n%s", table)
	}
	checked, _ := eval(`document.getElementById('protocol-pop3').checked`).(bool)
	if !checked {
		t.Error("POP3 not selected after choosing it")
	}
	shot("3-pop3")

	// 4. Follow the install link: the browser receives the profile with
	// the type that makes Safari and iOS install it, as a download.
	responses := chromedp.Events(ctx, network.ResponseReceived)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("install"))); err != nil {
		t.Fatal(err)
	}
	for ev, err := range responses {
		if err != nil {
			t.Fatalf("waiting for the profile response: %v", err)
		}
		if !strings.Contains(ev.Response.URL, "/mobileconfig?") {
			continue
		}
		if ev.Response.MimeType != "application/x-apple-aspen-config" {
			t.Errorf("profile MIME type %q", ev.Response.MimeType)
		}
		if !strings.HasSuffix(ev.Response.URL, "protocol=pop3") {
			t.Errorf("install link %s does not follow the POP3 choice", ev.Response.URL)
		}
		break
	}
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(downloads, ev.GUID)
			break
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("download canceled")
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(strings.Replace(base, "autoconfig.example.com", "127.0.0.1", 1) + "/mobileconfig?email=fred%40example.com&protocol=pop3")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, want) {
		t.Error("downloaded profile differs from the served one")
	}
	var prof struct{ PayloadContent []map[string]any }
	if _, err := plist.Unmarshal(got, &prof); err != nil || len(prof.PayloadContent) == 0 || prof.PayloadContent[0]["EmailAccountType"] != "EmailTypePOP" {
		t.Errorf("downloaded profile is not the POP3 profile: %v", err)
	}

	stopLog()
	logMu.Lock()
	defer logMu.Unlock()
	for _, l := range logged {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "error") {
			t.Errorf("browser log: %s", l)
		}
	}
}

// waitTrue evaluates js until it is true, for up to ten seconds. (It polls
// from here: chromedp's Poll builds a function in the page, which the
// page's CSP, rightly, forbids.)
func waitTrue(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		if err == nil && v == true {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v, %v", js, v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// submit clicks a submit button and waits for the page it loads.
func submit(t *testing.T, ctx context.Context, id string, status int64) {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("submitting with #%s: %v", id, err)
	}
	if resp.Status != status {
		t.Fatalf("submitting with #%s: status %d, want %d", id, resp.Status, status)
	}
}
