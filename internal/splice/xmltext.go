package splice

import "unicode/utf8"

// AppendXMLText appends s escaped as etree escapes text and attribute
// values (escapeString in escapeNormal mode, helpers.go of etree v1.8.1): & < > ' " as entities,
// characters outside XML 1.0's Char production (§2.2) and each byte of
// invalid UTF-8 as U+FFFD, everything else, tab and newlines included, as
// it is.
func AppendXMLText(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '&' && c != '<' && c != '>' && c != '\'' && c != '"' {
			i++
			continue
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '\'':
			esc = "&apos;"
		case r == '"':
			esc = "&quot;"
		case r == utf8.RuneError && width == 1, !xmlChar(r):
			esc = "\uFFFD"
		default:
			i += width
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}

// xmlChar reports whether r is in XML 1.0's Char production (§2.2).
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
