package yamlcheck

import (
	"fmt"
	"strings"
)

// Error is one problem in a document (a catalog file), located by file, line and
// field path: "catalog.yaml:14: providers[0].incoming[1].port: 99999 is not
// a port (1-65535)".
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList lists the problems found in documents, in file order: the
// first MaxErrors of them, and how many more there were.
type ErrorList struct {
	Errs []*Error
	// More counts the problems found after the first MaxErrors, which
	// are neither listed nor kept: a file of a million bad entries costs
	// the memory of a hundred messages, not of a million.
	More int
}

// MaxErrors bounds the problems an ErrorList lists.
const MaxErrors = 100

func (e *ErrorList) Error() string {
	lines := make([]string, len(e.Errs), len(e.Errs)+1)
	for i, fe := range e.Errs {
		lines[i] = fe.Error()
	}
	if e.More > 0 {
		lines = append(lines, e.MoreLine())
	}
	return strings.Join(lines, "\n")
}

// MoreLine says how many problems were found but not listed ("and 2400
// more errors, not listed"), or is empty when every one is listed.
func (e *ErrorList) MoreLine() string {
	if e.More == 0 {
		return ""
	}
	noun := "errors"
	if e.More == 1 {
		noun = "error"
	}
	return fmt.Sprintf("and %d more %s, not listed", e.More, noun)
}
