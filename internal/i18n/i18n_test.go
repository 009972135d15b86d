package i18n

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/message"
)

// placeholderRE finds {Name} in a translation.
var placeholderRE = regexp.MustCompile(`\{([^{}]*)\}`)

// TestMessageFiles holds every language to English's messages: the same
// ids, none twice, none empty, the same placeholders, each used; and each
// file's "message" is English's current text, so that a changed English
// text shows which translations to look at again.
func TestMessageFiles(t *testing.T) {
	en := sources[English]
	want := map[string]fileMessage{}
	for _, m := range en.Messages {
		want[m.ID] = m
	}
	for _, l := range All() {
		f := sources[l]
		seen := map[string]bool{}
		for _, m := range f.Messages {
			where := fmt.Sprintf("messages/%s.json: %s", l.Code(), m.ID)
			if seen[m.ID] {
				t.Errorf("%s: given twice", where)
			}
			seen[m.ID] = true
			e, ok := want[m.ID]
			if !ok {
				t.Errorf("%s: English has no such message", where)
				continue
			}
			if strings.TrimSpace(m.Translation) == "" {
				t.Errorf("%s: empty translation", where)
			}
			if m.Message != e.Translation {
				t.Errorf("%s: translates %q, but English now says %q", where, m.Message, e.Translation)
			}
			if !slices.Equal(m.Placeholders, e.Placeholders) {
				t.Errorf("%s: placeholders %v, English has %v", where, m.Placeholders, e.Placeholders)
			}
			var used []string
			for _, p := range placeholderRE.FindAllStringSubmatch(m.Translation, -1) {
				used = append(used, p[1])
			}
			for _, p := range e.Placeholders {
				if !slices.Contains(used, p.ID) {
					t.Errorf("%s: translation %q leaves out {%s}", where, m.Translation, p.ID)
				}
			}
		}
		for id := range want {
			if !seen[id] {
				t.Errorf("messages/%s.json: %s missing", l.Code(), id)
			}
		}
	}
}

// TestMessageFileRules checks the loader refuses what TestMessageFiles
// relies on it refusing: a placeholder the message does not declare, and
// an unclosed brace.
func TestMessageFileRules(t *testing.T) {
	for _, tc := range []struct {
		m    fileMessage
		want string
	}{
		{fileMessage{ID: "x", Translation: "Hallo {Adress}", Placeholders: []placeholder{{ID: "Address", ArgNum: 1}}}, "unknown placeholder"},
		{fileMessage{ID: "x", Translation: "Hallo {Address", Placeholders: []placeholder{{ID: "Address", ArgNum: 1}}}, "unclosed"},
		{fileMessage{ID: "x", Translation: "{A}", Placeholders: []placeholder{{ID: "A", ArgNum: 2}}}, "out of range"},
	} {
		if _, _, err := compile(tc.m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compile(%q) = %v, want %q", tc.m.Translation, err, tc.want)
		}
	}
}

// TestTMatchesPrinter holds T, the cut form of the messages, to what
// x/text's own printer makes of the catalog, for every message of every
// language, arguments holding % and braces included.
func TestTMatchesPrinter(t *testing.T) {
	args := []string{"fred@example.com", "100% {Mail} & <Co>", "third"}
	for _, l := range All() {
		p := message.NewPrinter(l.Tag(), message.Catalog(Catalog))
		for _, m := range sources[l].Messages {
			a := args[:len(m.Placeholders)]
			anys := make([]any, len(a))
			for i := range a {
				anys[i] = a[i]
			}
			if got, want := l.T(m.ID, a...), p.Sprintf(m.ID, anys...); got != want {
				t.Errorf("%s.T(%s) = %q, printer says %q", l, m.ID, got, want)
			}
		}
	}
}

func TestTFallbacks(t *testing.T) {
	if got := German.T("no.such.message"); got != "no.such.message" {
		t.Errorf("T(unknown id) = %q, want the id", got)
	}
	if got := Lang(200).Code(); got != "en" {
		t.Errorf("Lang(200).Code() = %q, want en", got)
	}
	if got := German.T("result.title"); got != "E-Mail-Einstellungen für " {
		t.Errorf("T with a missing argument = %q", got)
	}
	if got := French.Name(); got != "Français" {
		t.Errorf("French.Name() = %q", got)
	}
}

func TestNegotiate(t *testing.T) {
	long := strings.Repeat("x", 10<<10)
	for _, tc := range []struct {
		param, header string
		want          Lang
	}{
		{"", "", English},
		{"", "de", German},
		{"", "de-AT", German},
		{"", "de-CH,de;q=0.9,en;q=0.8", German},
		{"", "pt-BR", Portuguese},
		{"", "fr;q=0.5,nl;q=0.9", Dutch},
		{"", "en;q=0.1,pl", Polish},
		{"", "ja", English},
		{"", "ja,zh;q=0.9", English},
		{"", "xx-yy-zz-@@", English},
		{"", long, English},
		{"", "de," + long, German}, // cut at the last comma within the bound
		{"", strings.Repeat("de-AT-x-abc,", 2000), German},
		{"", "*", English},
		{"", "\x00\xff", English},
		{"it", "de", Italian},
		{"IT", "de", Italian},
		{"es-MX", "de", Spanish},
		{"ja", "de", German}, // an unknown ?lang= leaves the header to decide
		{"<script>", "nl", Dutch},
		{strings.Repeat("d", 100), "nl", Dutch},
	} {
		if got := Negotiate(tc.param, tc.header); got != tc.want {
			t.Errorf("Negotiate(%.20q, %.40q) = %s, want %s", tc.param, tc.header, got, tc.want)
		}
	}
}

func TestParseCode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Lang
		ok   bool
	}{
		{"de", German, true}, {"PT", Portuguese, true}, {"de-AT", English, false}, {"", English, false}, {"xx", English, false},
	} {
		if got, ok := ParseCode(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("ParseCode(%q) = %s, %v, want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzNegotiate: whatever a request sends, the answer is one of our
// languages, and a header over the bound is decided by its first part.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "de", "de-AT;q=0.8,en", "fr;q=0.5,nl;q=0.9", "*", "x-abc", "\x00"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, param, header string) {
		l := Negotiate(param, header)
		if l >= numLangs {
			t.Fatalf("Negotiate(%q, %q) = %d, not a language", param, header, l)
		}
		if param == "" && len(header) > maxAcceptLanguage {
			i := strings.LastIndexByte(header[:maxAcceptLanguage], ',')
			want := English
			if i >= 0 {
				want = MatchHeader(header[:i])
			}
			if l != want {
				t.Fatalf("Negotiate(%q) = %s, its first %d bytes say %s", header, l, i, want)
			}
		}
	})
}
