// Package yamlcheck reads YAML nodes (go.yaml.in/yaml/v3) strictly and
// says where they are wrong: a Decoder walks mappings with known keys,
// lists, strings, numbers, booleans and durations, resolves aliases, and
// collects every problem as an Error naming the file, the line and the
// field, with the document's values quoted short. It also bounds what a
// document may cost before it is walked: NodeBound counts nodes before
// the library builds them, AliasesBounded the nodes aliases add.
//
// It knows no keys of its own: the catalog's rules are provision's, which
// uses it.
package yamlcheck

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Decoder walks yaml nodes and collects located errors. It keeps going
// after an error so that one run counts every problem, but keeps only
// the first MaxErrors. The zero Decoder is ready; set File before each
// document.
type Decoder struct {
	// File names the document in the errors.
	File string
	errs []*Error
	// count is the number of problems found, kept or not: code that
	// asks "did this part add an error?" compares counts (Count), never
	// len(errs), which stops growing at MaxErrors.
	count int
}

// Add records a problem, or only counts it once MaxErrors are kept.
func (d *Decoder) Add(fe *Error) {
	d.count++
	if len(d.errs) < MaxErrors {
		d.errs = append(d.errs, fe)
	}
}

// Full reports whether further problems are only counted, so that a
// caller can skip building their messages.
func (d *Decoder) Full() bool { return len(d.errs) >= MaxErrors }

// Count is the number of problems found so far, kept or not.
func (d *Decoder) Count() int { return d.count }

// Err is nil when no problem was found, else an *ErrorList of them.
func (d *Decoder) Err() error {
	if d.count == 0 {
		return nil
	}
	return &ErrorList{Errs: d.errs, More: d.count - len(d.errs)}
}

// Addf records a problem at a place the caller names, without building
// its message once MaxErrors are kept. Its arguments are printed as
// given: values from the document go through Errorf.
func (d *Decoder) Addf(file string, line int, field, format string, args ...any) {
	if d.Full() {
		d.count++
		return
	}
	d.Add(&Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Errorf records a problem at n. Every string argument is printed through
// clipped: one that %q quotes shows at most MaxQuoted characters of the
// document's value, so that a 50 MB value cannot make a 50 MB message.
func (d *Decoder) Errorf(n *yaml.Node, field, format string, args ...any) {
	if d.Full() {
		d.count++
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clipped(s)
		}
	}
	d.Add(&Error{File: d.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// SyntaxError turns a yaml syntax error ("yaml: line 3: ...") into a located
// Error.
func SyntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, convErr := strconv.Atoi(num); convErr == nil {
				line, msg = n, tail
			}
		}
	}
	// The library's message may Quote the input (an unknown anchor's
	// name): cut it like any quoted value.
	return &Error{File: file, Line: line, Msg: "YAML syntax: " + Clip(msg, MaxQuoted)}
}

// --- node helpers ---

// Mapping checks that n is a mapping with only the known keys, each once,
// and returns its values by key.
func (d *Decoder) Mapping(n *yaml.Node, path string, known ...string) map[string]*yaml.Node {
	n = ResolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, FieldName(path), "must be a mapping, not %s", KindName(n))
		return nil
	}
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		f := JoinField(path, key)
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, FieldName(path), "keys must be plain strings")
			continue
		}
		if key == "<<" {
			d.Errorf(k, f, "merge keys are not supported")
			continue
		}
		if !slices.Contains(known, key) {
			d.Errorf(k, f, "unknown key (known: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := m[key]; dup {
			d.Errorf(k, f, "given twice")
			continue
		}
		m[key] = ResolveAlias(v)
	}
	return m
}

// Required returns m[key], or records that it is missing or empty
// (null) in parent.
func (d *Decoder) Required(m map[string]*yaml.Node, parent *yaml.Node, path, key string) (*yaml.Node, bool) {
	n, ok := m[key]
	if !ok {
		d.Errorf(parent, JoinField(path, key), "missing")
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		d.Errorf(n, JoinField(path, key), "empty")
		return nil, false
	}
	return n, true
}

// Sequence returns the items of list n, aliases resolved.
func (d *Decoder) Sequence(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, path, "must be a list, not %s", KindName(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = ResolveAlias(c)
	}
	return out
}

// Str returns scalar n's value: a string, a number or a boolean as
// written, never null.
func (d *Decoder) Str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, path, "must be a string, not %s", KindName(n))
		return "", false
	}
	return n.Value, true
}

// Int returns n's value, a whole number in int's range.
func (d *Decoder) Int(n *yaml.Node, path string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.Errorf(n, path, "%s is not a whole number", QuoteNode(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		// Too large for int, or a yaml 1.1 form such as 0x10: still
		// not a port or a count.
		d.Errorf(n, path, "%s is not a whole number in range", QuoteNode(n))
		return 0, false
	}
	return v, true
}

// Bool returns n's value, a YAML boolean.
func (d *Decoder) Bool(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.Errorf(n, path, "%s is not true or false", QuoteNode(n))
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

// IntRange reads an optional whole number in [lo, hi], nil when the
// key is absent or wrong; unit names the numbers in the message.
func (d *Decoder) IntRange(m map[string]*yaml.Node, path, key string, lo, hi int, unit string) *int {
	n, ok := m[key]
	if !ok {
		return nil
	}
	v, ok := d.Int(n, path+"."+key)
	if !ok {
		return nil
	}
	if v < lo || v > hi {
		d.Errorf(n, path+"."+key, "%d is out of range (%d-%d %s)", v, lo, hi, unit)
		return nil
	}
	return &v
}

// Text reads an optional single-line string of at most max characters.
func (d *Decoder) Text(m map[string]*yaml.Node, path, key string, max int) string {
	n, ok := m[key]
	if !ok {
		return ""
	}
	f := JoinField(path, key)
	v, ok := d.Str(n, f)
	if !ok {
		return ""
	}
	if len([]rune(v)) > max {
		d.Errorf(n, f, "longer than %d characters", max)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			d.Errorf(n, f, "control character %q (one line of printable text)", r)
			break
		}
	}
	return strings.TrimSpace(v)
}

// Together checks that keys are all given or none; it reports whether
// all are.
func (d *Decoder) Together(m map[string]*yaml.Node, n *yaml.Node, path string, keys ...string) bool {
	var have, miss []string
	for _, k := range keys {
		if _, ok := m[k]; ok {
			have = append(have, k)
		} else {
			miss = append(miss, k)
		}
	}
	if len(have) > 0 && len(miss) > 0 {
		d.Errorf(n, path, "%s given without %s (%s go together)", strings.Join(have, " and "), strings.Join(miss, " and "), strings.Join(keys, ", "))
	}
	return len(miss) == 0
}

// Duration reads an optional Go duration ("500ms", "1m", "1h30m") in
// [lo, hi], or def when the key is absent. A bare 0 is allowed where
// zero is: YAML reads it as a number.
func (d *Decoder) Duration(m map[string]*yaml.Node, path, key string, def, lo, hi time.Duration, zeroOK bool) time.Duration {
	n, ok := m[key]
	if !ok {
		return def
	}
	f := path + "." + key
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, f, "must be a duration such as 500ms, 1m or 1h, not %s", KindName(n))
		return def
	}
	var v time.Duration
	if n.Tag == "!!int" && n.Value == "0" {
		v = 0
	} else {
		var err error
		if v, err = time.ParseDuration(n.Value); err != nil || n.Tag != "!!str" {
			d.Errorf(n, f, "%s is not a duration such as 500ms, 1m or 1h (the unit is required)", QuoteNode(n))
			return def
		}
	}
	switch {
	case v == 0 && zeroOK:
	case v < lo || v > hi:
		extra := ""
		if zeroOK {
			extra = ", or 0"
		}
		d.Errorf(n, f, "%s is out of range (%s to %s%s)", v, lo, hi, extra)
		return def
	}
	return v
}

// ResolveAlias returns the node an alias names (through aliases of
// aliases), or n itself.
func ResolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// KindName names what n is, for "must be a list, not ...": a mapping,
// a list, empty, or the scalar as QuoteNode writes it.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return QuoteNode(n)
	}
	return "something else"
}

// QuoteNode writes n for a message: a number or boolean bare, a string
// quoted (and cut, as Quote cuts it).
func QuoteNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		// Numbers and booleans read best bare; anything else (a string,
		// or a scalar of a custom tag with line breaks in it) is quoted,
		// so that a message stays on one line, and so is a value too
		// long to show whole.
		if n.Tag == "!!str" || n.Value == "" || len(n.Value) > MaxQuoted || strings.ContainsFunc(n.Value, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) {
			return Quote(n.Value)
		}
		return n.Value
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "something else"
}

// JoinField appends key to path. A key that is not one printable word
// (a catalog's own unknown key may hold spaces or line breaks) is quoted,
// so that an error stays on one line and shows where the key ends; so is
// one too long to show whole, cut as Quote cuts it.
func JoinField(path, key string) string {
	if key == "" || len(key) > MaxQuoted || strings.ContainsFunc(key, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' || r == '"' }) {
		key = Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// MaxQuoted bounds, in characters, how much of a catalog's value an error
// message shows: enough to find it in the file, and a value of megabytes
// still makes a message of one short line.
const MaxQuoted = 80

// Quote is strconv.Quote of s, or, when s is longer than MaxQuoted
// characters, of its first MaxQuoted characters, marked as cut after the
// closing quote with s's full length: "abc…"… (52428800 bytes). The cut
// falls between characters, so the quoted part is never a broken rune.
func Quote(s string) string {
	head, cut := clipAt(s, MaxQuoted)
	if !cut {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(head), len(s))
}

// Clip is s cut like Quote cuts it, without quotes: for a message of the
// yaml library, which may hold input of its own.
func Clip(s string, max int) string {
	head, cut := clipAt(s, max)
	if !cut {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", head, len(s))
}

// clipAt returns the first max characters of s (a byte that is not UTF-8
// counts as one), and whether anything was left out.
func clipAt(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i], true
		}
		n++
	}
	return s, false
}

// clipped is a string argument of Errorf: %q prints it through Quote,
// every other verb prints it unchanged.
type clipped string

func (c clipped) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, Quote(string(c)))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), string(c))
}

// FieldName is path for a message, "(top level)" when empty.
func FieldName(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// JoinQuoted joins vs, each quoted, with commas.
func JoinQuoted[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(string(v))
	}
	return strings.Join(q, ", ")
}
