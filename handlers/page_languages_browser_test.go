package handlers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"mailautoconf/internal/i18n"
)

// TestSetupPageLanguagesInChromium loads the result page (the longest)
// and the form with a problem in every language in headless Chromium, at
// 390 px (a phone) and 1280 px, at the default text size and at 200% (the
// browser's font size doubled, as a person who needs large text sets it).
// In each, nothing is wider than the screen or sticks out of its box, no
// text is cut inside a button, cell or heading, and <html lang> names the
// language. The screenshots stay in testoutput/browser/ (lang-*.png) for
// a person to look at.
func TestSetupPageLanguagesInChromium(t *testing.T) {
	browserCtx, base := browserOnPage(t, 4*time.Minute)
	shots := screenshotDir(t)

	for _, vp := range []struct {
		name   string
		width  int64
		mobile bool
	}{
		{"390", 390, true},
		{"1280", 1280, false},
	} {
		for _, font := range []int64{16, 32} {
			name := fmt.Sprintf("%s-%dpx", vp.name, font)
			t.Run(name, func(t *testing.T) {
				tab, cancelTab := chromedp.NewContext(browserCtx)
				defer cancelTab()
				var emulate []chromedp.EmulateViewportOption
				if vp.mobile {
					emulate = append(emulate, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
				}
				if err := chromedp.Do(tab, chromedp.EmulateViewport(vp.width, 900, emulate...)); err != nil {
					t.Fatal(err)
				}
				for _, l := range i18n.All() {
					for _, pg := range []struct{ step, query string }{
						{"result", "?email=fred@example.com&lang=" + l.Code()},
						{"problem", "?email=ann@unknown.example&lang=" + l.Code()},
					} {
						checkLanguageInBrowser(t, tab, base+"/"+pg.query, l, vp.width, font,
							filepath.Join(shots, fmt.Sprintf("lang-%s-%s-%s.png", l.Code(), name, pg.step)))
					}
				}
			})
		}
	}
}

// checkLanguageInBrowser loads url and checks its layout; shot is where
// the full-page screenshot goes.
func checkLanguageInBrowser(t *testing.T, ctx context.Context, url string, l i18n.Lang, width, font int64, shot string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady("footer")); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	// The text size a person sets in the browser is the root font size
	// (page.css: html {font-size: 100%}, everything else in rem and em).
	// It is set here through the CSSOM, which the page's CSP allows:
	// Chromium's own default-font setting (Page.setFontSizes) is lost
	// when the full-page screenshot resizes the view.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf(`document.documentElement.style.fontSize = '%d%%'`, font*100/16))); err != nil {
		t.Fatal(err)
	}
	eval := func(js string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	where := fmt.Sprintf("%s at %d px, font %d px", url, width, font)
	if got := eval(`document.documentElement.lang`); got != l.Code() {
		t.Errorf("%s: <html lang=%v>, want %s", where, got, l.Code())
	}
	if got := eval(`parseFloat(getComputedStyle(document.body).fontSize)`); got != float64(font) {
		t.Errorf("%s: body font %v px, want %d (the browser's setting)", where, got, font)
	}
	if got := eval(`document.documentElement.scrollWidth <= window.innerWidth`); got != true {
		t.Errorf("%s: page is wider than the viewport (scrollWidth %v)", where, eval(`document.documentElement.scrollWidth`))
	}
	// Every visible box within the screen, and no text wider than the
	// box that holds it (cut, or spilling over its neighbour).
	out := eval(`(() => {
	  const bad = [];
	  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '');
	  for (const e of document.querySelectorAll('body *')) {
	    const r = e.getBoundingClientRect();
	    if (r.width === 0 || r.height === 0) continue;
	    if (r.left < -0.5 || r.right > window.innerWidth + 0.5) bad.push(name(e) + ' outside the screen (' + Math.round(r.left) + '..' + Math.round(r.right) + ')');
	  }
	  for (const e of document.querySelectorAll('h1, h2, p, li, label, legend, th, td, button, a, caption, figcaption, span')) {
	    if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline') bad.push(name(e) + ' text wider than its box (' + e.scrollWidth + ' > ' + e.clientWidth + '): ' + e.textContent.slice(0, 40));
	  }
	  return bad.slice(0, 10).join('\n');
	})()`)
	if s, _ := out.(string); s != "" {
		t.Errorf("%s:\n%s", where, s)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("%s: screenshot: %v", where, err)
	}
	if err := os.WriteFile(shot, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
