// Package i18n holds the texts a person reads, the setup page's and the
// Apple profile's, in every language the service speaks, and picks the
// language of a request.
//
// The texts are one file per language under messages/, in the JSON shape
// of gotext's messages.gotext.json (golang.org/x/text/cmd/gotext): the
// file's "language" and a list of "messages", each with its "id", the
// English "message" it translates and its "translation". A placeholder is
// written {Name}, as gotext writes it, and listed in "placeholders" with
// its argument number. A translator edits a file and nothing else
// (docs/guide/languages.md); TestMessageFiles fails when a file lacks a
// message English has, has one English lacks, drops or invents a
// placeholder, or translates an English text that has since changed.
//
// The files are embedded and read once, at start. They fill an x/text
// message catalog (Catalog), which message.NewPrinter reads like any
// other; T answers from a form of the same strings cut at their
// placeholders, which costs a profile nothing it can measure, and
// TestTMatchesPrinter holds the two to the same output.
//
// It lives in internal/ rather than in provision or handlers because both
// read it: the profile's texts are provision's, the page's are the
// handlers', and imports flow one way (ARCHITECTURE.md).
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message/catalog"
)

// Lang is a language the service speaks. The zero Lang is English, the
// language of a request that names none we have.
type Lang uint8

// The languages, in the order the page's menu lists them: English first,
// the fallback, then by code.
const (
	English Lang = iota
	German
	Spanish
	French
	Italian
	Dutch
	Polish
	Portuguese
	numLangs
)

// tags are the languages' BCP 47 tags, by Lang: also the matcher's list,
// whose first entry is what it answers when nothing matches.
var tags = [numLangs]language.Tag{
	English:    language.English,
	German:     language.German,
	Spanish:    language.Spanish,
	French:     language.French,
	Italian:    language.Italian,
	Dutch:      language.Dutch,
	Polish:     language.Polish,
	Portuguese: language.Portuguese,
}

// codes are the languages' codes: the files' names, ?lang= values, the
// catalog's texts keys and <html lang>.
var codes = [numLangs]string{"en", "de", "es", "fr", "it", "nl", "pl", "pt"}

// All returns every language, English first.
func All() []Lang {
	out := make([]Lang, numLangs)
	for i := range out {
		out[i] = Lang(i)
	}
	return out
}

// Codes returns the codes of every language, English first.
func Codes() []string { return append([]string(nil), codes[:]...) }

// Code is the language's code ("de"), for URLs, file names and
// <html lang>.
func (l Lang) Code() string { return codes[l.valid()] }

// Tag is the language's BCP 47 tag.
func (l Lang) Tag() language.Tag { return tags[l.valid()] }

// Name is the language's name in itself ("Deutsch"), for the menu.
func (l Lang) Name() string { return l.T("language.name") }

func (l Lang) String() string { return l.Code() }

// valid maps a Lang out of range, which only a conversion can make, to
// English.
func (l Lang) valid() Lang {
	if l >= numLangs {
		return English
	}
	return l
}

// ParseCode returns the language of code, one of Codes() in any letter
// case, exactly: the catalog's texts keys, where "de-AT" is a typing
// error to report, not a language to match.
func ParseCode(code string) (Lang, bool) {
	for i, c := range codes {
		if strings.EqualFold(code, c) {
			return Lang(i), true
		}
	}
	return English, false
}

// --- the message files ---

//go:embed messages/*.json
var files embed.FS

// file is one messages/<code>.json.
type file struct {
	Language string        `json:"language"`
	Messages []fileMessage `json:"messages"`
}

type fileMessage struct {
	ID           string        `json:"id"`
	Message      string        `json:"message"`
	Translation  string        `json:"translation"`
	Placeholders []placeholder `json:"placeholders,omitempty"`
}

type placeholder struct {
	ID     string `json:"id"`
	ArgNum int    `json:"argNum"`
}

// msg is a translation cut at its placeholders: lits[0], arg args[0],
// lits[1], ... lits[len(args)].
type msg struct {
	lits []string
	args []int // 0-based argument numbers
	size int   // the literals' bytes
}

var (
	// texts holds every language's messages by id.
	texts [numLangs]map[string]*msg
	// Catalog holds every message, for message.NewPrinter(tag,
	// message.Catalog(Catalog)); its keys are the ids.
	Catalog = catalog.NewBuilder(catalog.Fallback(language.English))
	// sources are the files as read, for the tests.
	sources [numLangs]file
)

func init() {
	for l := range numLangs {
		f, err := readFile(codes[l])
		if err != nil {
			panic(err) // embedded files: a test (TestMessageFiles) fails first
		}
		sources[l] = f
		texts[l] = make(map[string]*msg, len(f.Messages))
		for _, m := range f.Messages {
			cut, printf, err := compile(m)
			if err != nil {
				panic(fmt.Sprintf("messages/%s.json: %s: %v", codes[l], m.ID, err))
			}
			texts[l][m.ID] = cut
			if err := Catalog.SetString(tags[l], m.ID, printf); err != nil {
				panic(fmt.Sprintf("messages/%s.json: %s: %v", codes[l], m.ID, err))
			}
		}
	}
}

// readFile reads and decodes messages/<code>.json, strictly: a key
// misspelt by a translator is an error, not a message quietly lost.
func readFile(code string) (file, error) {
	var f file
	data, err := files.ReadFile("messages/" + code + ".json")
	if err != nil {
		return f, err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("messages/%s.json: %v", code, err)
	}
	if f.Language != code {
		return f, fmt.Errorf("messages/%s.json: language is %q", code, f.Language)
	}
	return f, nil
}

// compile cuts m's translation at its placeholders, and writes it as the
// format string x/text's catalog takes: %[n]s for {Name}, %% for %.
func compile(m fileMessage) (*msg, string, error) {
	argNum := make(map[string]int, len(m.Placeholders))
	for _, p := range m.Placeholders {
		if p.ArgNum < 1 || p.ArgNum > len(m.Placeholders) {
			return nil, "", fmt.Errorf("placeholder %s: argNum %d out of range", p.ID, p.ArgNum)
		}
		argNum[p.ID] = p.ArgNum
	}
	out := &msg{}
	var printf strings.Builder
	rest := m.Translation
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, "", fmt.Errorf("unclosed { in %q", m.Translation)
		}
		name := rest[i+1 : i+j]
		n, ok := argNum[name]
		if !ok {
			return nil, "", fmt.Errorf("unknown placeholder {%s}", name)
		}
		out.lits = append(out.lits, rest[:i])
		out.args = append(out.args, n-1)
		printf.WriteString(strings.ReplaceAll(rest[:i], "%", "%%"))
		fmt.Fprintf(&printf, "%%[%d]s", n)
		rest = rest[i+j+1:]
	}
	out.lits = append(out.lits, rest)
	printf.WriteString(strings.ReplaceAll(rest, "%", "%%"))
	for _, s := range out.lits {
		out.size += len(s)
	}
	return out, printf.String(), nil
}

// T returns message id in l with args in its placeholders, by argument
// number. A message l lacks is English's (TestMessageFiles keeps that from
// happening); an id no file has is returned as it is, which a golden file
// shows. Arguments are text, never markup: the caller escapes the result
// for where it goes (html/template, the plist encoder).
func (l Lang) T(id string, args ...string) string {
	m := texts[l.valid()][id]
	if m == nil {
		if m = texts[English][id]; m == nil {
			return id
		}
	}
	if len(m.args) == 0 {
		return m.lits[0]
	}
	n := m.size
	for _, a := range m.args {
		if a < len(args) {
			n += len(args[a])
		}
	}
	var b strings.Builder
	b.Grow(n)
	for i, a := range m.args {
		b.WriteString(m.lits[i])
		if a < len(args) {
			b.WriteString(args[a])
		}
	}
	b.WriteString(m.lits[len(m.args)])
	return b.String()
}
