// Package jsontext appends text escaped for the inside of a JSON string,
// exactly as one of two standard-library encoders escapes it: json.Marshal
// (Marshal) or log/slog's JSON handler (Slog). Both escape quote, backslash,
// control characters, U+2028 and U+2029, and write each byte of invalid
// UTF-8 as \ufffd; they differ in < > & (Marshal escapes them for HTML) and
// in \b and \f (Marshal's short forms, slog's \u0008 and \u000c).
package jsontext

import "unicode/utf8"

// Escaper appends escaped text in one encoder's style.
type Escaper struct {
	// ascii holds each ASCII byte's escape, "" for a byte written as is.
	ascii [utf8.RuneSelf]string
}

var (
	// Marshal escapes as encoding/json's json.Marshal does.
	Marshal = newEscaper(true)
	// Slog escapes as log/slog's JSON handler does.
	Slog = newEscaper(false)
)

func newEscaper(marshal bool) *Escaper {
	const hex = "0123456789abcdef"
	e := &Escaper{}
	for c := range 0x20 {
		e.ascii[c] = `\u00` + string(hex[c>>4]) + string(hex[c&0xf])
	}
	e.ascii['\n'], e.ascii['\r'], e.ascii['\t'] = `\n`, `\r`, `\t`
	e.ascii['"'], e.ascii['\\'] = `\"`, `\\`
	if marshal {
		e.ascii['\b'], e.ascii['\f'] = `\b`, `\f`
		e.ascii['<'], e.ascii['>'], e.ascii['&'] = `\u003c`, `\u003e`, `\u0026`
	}
	return e
}

// Append appends s escaped, without the surrounding quotes.
func (e *Escaper) Append(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if esc := e.ascii[c]; esc != "" {
				b = append(b, s[last:i]...)
				b = append(b, esc...)
				last = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && size == 1:
			esc = `\ufffd`
		case r == '\u2028':
			esc = `\u2028`
		case r == '\u2029':
			esc = `\u2029`
		default:
			i += size
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += size
		last = i
	}
	return append(b, s[last:]...)
}
