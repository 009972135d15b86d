package yamlcheck

import "bytes"

// NodeBound returns an upper bound on the nodes the YAML library builds
// for data (go.yaml.in/yaml/v3: one for the document, one for each scalar,
// alias, list and mapping, including the empty scalars it supplies for an
// entry, key or value left out), or some count above limit once the bound
// passes limit. It reads data once, line by line, and allocates nothing.
//
// It does not parse YAML: it counts what could start a node, and leaves
// out only what cannot, so that the bound stays near the real count for
// the shapes of a catalog (one domain a line, one server a flow mapping):
//
//   - a run of words on a line, up to an indicator: one scalar (words
//     separated by blanks are one plain scalar, or an anchor or tag and its
//     node; YAML 1.2.2, 7.3.3 and 6.9);
//   - "- " (a block sequence entry): its list, unless the line begins
//     with it and the previous line began with "- " at the same
//     indentation, without a quote (the same list goes on); and an empty
//     entry, unless something follows on the line;
//   - ":" (a value): its mapping, unless it ends the line's first run of
//     words (a key: no quote, tag or comment) and the previous line began
//     with a key at the same indentation, neither line holding a quote or
//     a flow indicator (the same mapping goes on), or unless it sits in a
//     flow mapping opened on the same line; an empty key, unless a run or
//     a closed collection precedes it on the line; an empty value, unless
//     something follows on the line;
//   - "?" (an explicit key): a mapping, an empty key and an empty value;
//   - "[" and "{": a collection; "," and "}": the empty value of a key
//     written alone in a flow mapping ("{a, b}"), unless the entry had a
//     value or the collection is a list opened on the same line.
//
// Whatever could mislead the scan (a quote, a comment, a tag, a block
// scalar's indicator, a flow collection opened on an earlier line) only
// turns the reductions off. The fuzz target FuzzNodeBound holds the bound
// to the library's count.
func NodeBound(data []byte, limit int) int {
	// A UTF-16 file (the library reads one with a byte order mark):
	// two nodes a byte, four a character, more than any character
	// stands for (a "?" alone stands for three: a mapping, its empty key
	// and its empty value). All but small files of this encoding are
	// refused.
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		return 2 + 2*len(data)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	n := 2 // the document, and the empty scalar of an empty one
	var prev lineShape
	for len(data) > 0 && n <= limit {
		end, next, holds := lineEnd(data)
		var c int
		c, prev = lineNodes(data[:end], holds, prev)
		n += c
		data = data[next:]
	}
	return n
}

// lineEnd returns the end of data's first line, where the next begins,
// and which of the bytes NodeBound looks for (quotes, flow indicators) the
// line holds. Line breaks are the library's: LF, CR, NEL, LS and PS (YAML
// 1.1, which the library follows, counts the last three; 1.2.2 section
// 5.4 does not).
func lineEnd(data []byte) (end, next int, holds byte) {
	for i := 0; i < len(data); i++ {
		c := byteClass[data[i]]
		if c&classBreak == 0 {
			holds |= c
			continue
		}
		switch data[i] {
		case '\n', '\r':
			return i, i + 1, holds
		case 0xc2:
			if i+1 < len(data) && data[i+1] == 0x85 {
				return i, i + 2, holds
			}
		case 0xe2:
			if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9) {
				return i, i + 3, holds
			}
		}
	}
	return len(data), len(data), holds
}

// The classes of byteClass: the first bytes of line breaks, quotes and
// flow indicators.
const (
	classBreak = 1 << iota
	classQuote
	classFlow
)

var byteClass = func() (t [256]byte) {
	for _, c := range []byte("\n\r\xc2\xe2") {
		t[c] = classBreak
	}
	for _, c := range []byte("\"'") {
		t[c] = classQuote
	}
	for _, c := range []byte(",[]{}") {
		t[c] = classFlow
	}
	return t
}()

// lineShape is what NodeBound remembers of the last line that was not
// blank: how it began, at which indentation, and whether it held flow
// indicators or quotes.
type lineShape struct {
	first  byte // '-' for "- ", ':' for a word and ':', 0 otherwise
	indent int  // leading spaces, or -1 when a tab is among them
	quoted bool // holds a quote, " or '
	flow   bool // holds a flow indicator: , [ ] { }
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == 0 }

// isIndicator reports whether c ends a run of words: the flow
// indicators, and the key and value indicators, taken wherever they are.
func isIndicator(c byte) bool {
	switch c {
	case ',', '[', ']', '{', '}', '?', ':':
		return true
	}
	return false
}

// lineNodes is NodeBound's count for one line (without its break), and
// the line's shape for the next, or prev again for a blank line. holds is
// lineEnd's.
func lineNodes(line []byte, holds byte, prev lineShape) (int, lineShape) {
	i := 0
	indent := 0
	for i < len(line) && isBlank(line[i]) {
		if line[i] != ' ' {
			indent = -1
		} else if indent >= 0 {
			indent++
		}
		i++
	}
	if i == len(line) {
		return 0, prev
	}
	first := i
	cur := lineShape{indent: indent, quoted: holds&classQuote != 0, flow: holds&classFlow != 0}

	// The flow collections opened on this line: a list ('[') or a
	// mapping ('{'), and whether the current entry has a value. Past
	// maxDepth, or once a quote, a comment, a tag or a block scalar's
	// indicator has been seen, nothing is known of them.
	const maxDepth = 64
	var stack [maxDepth]struct {
		open  byte
		value bool
	}
	depth := 0
	lost := false
	inFlow := func(open byte) bool { return !lost && depth > 0 && stack[depth-1].open == open }

	// follows reports whether something that is a node of its own, or
	// makes one, comes after position j on the line.
	follows := func(j int) bool {
		j = skipBlanks(line, j)
		return j < len(line) && line[j] != ',' && line[j] != ']' && line[j] != '}'
	}
	// value reports the same of what follows a ':', which a second ':'
	// does not give a value either.
	value := func(j int) bool { return follows(j) && line[skipBlanks(line, j)] != ':' }

	n := 0
	afterRun := false // the last token was a run of words or a closed collection
	firstRun := false // the line began with a run that no indicator has ended yet
	for i < len(line) {
		c := line[i]
		if isBlank(c) {
			i++
			continue
		}
		switch {
		case c == '-' && (i+1 == len(line) || isBlank(line[i+1])):
			if !(i == first && prev.first == '-' && prev.indent == indent && indent >= 0 && !prev.quoted) {
				n++ // a new list
			}
			if !follows(i + 1) {
				n++ // an empty entry
			}
			if i == first {
				cur.first = '-'
			}
			afterRun = false
			i++
		case c == '?':
			n += 3
			afterRun = false
			i++
		case c == ':':
			// A first run that holds a quote, a '#' (a comment) or a
			// tag is no key to go on from.
			key := firstRun && !lost
			continues := key && prev.first == ':' && prev.indent == indent && indent >= 0 &&
				!prev.quoted && !prev.flow && !cur.quoted && !cur.flow
			if key {
				cur.first = ':'
			}
			if !continues && !inFlow('{') {
				n++ // a mapping
			}
			if !afterRun {
				n++ // an empty key
			}
			if !value(i + 1) {
				n++ // an empty value
			}
			if depth > 0 {
				stack[depth-1].value = true
			}
			afterRun = false
			i++
		case c == ',':
			if !(inFlow('[') || inFlow('{') && stack[depth-1].value) {
				n++
			}
			if depth > 0 {
				stack[depth-1].value = false
			}
			afterRun = false
			i++
		case c == '[' || c == '{':
			n++
			if depth == maxDepth {
				lost = true
			} else {
				stack[depth].open, stack[depth].value = c, false
				depth++
			}
			afterRun = false
			i++
		case c == ']' || c == '}':
			if c == '}' && !(inFlow('{') && stack[depth-1].value) {
				n++
			}
			open := byte('[')
			if c == '}' {
				open = '{'
			}
			if inFlow(open) {
				depth--
			} else {
				lost = true
			}
			afterRun = true
			i++
		default:
			// A run of words: up to an indicator, or a "- " that
			// starts a word.
			n++
			start := i
			for i < len(line) {
				c := line[i]
				if isIndicator(c) {
					break
				}
				if isBlank(c) {
					i++
					if i < len(line) && line[i] == '-' && (i+1 == len(line) || isBlank(line[i+1])) {
						break
					}
					continue
				}
				switch c {
				case '"', '\'', '#', '!', '|', '>':
					lost = true
				}
				i++
			}
			firstRun = start == first
			afterRun = true
			continue
		}
		firstRun = false
	}
	return n, cur
}

func skipBlanks(line []byte, j int) int {
	for j < len(line) && isBlank(line[j]) {
		j++
	}
	return j
}
