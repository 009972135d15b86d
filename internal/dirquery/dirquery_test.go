package dirquery

import (
	"slices"
	"strings"
	"testing"
)

// The catalog's cases (provision's TestParseDirectoryErrors) go through
// the loader; these pin the lexer itself.
func TestSQLParams(t *testing.T) {
	for _, tt := range []struct {
		q    string
		d    Dialect
		want []int
		err  string
	}{
		{q: "SELECT login FROM users WHERE address = $1", d: Postgres, want: []int{1}},
		{q: "SELECT $1, $2", d: Postgres, want: []int{1, 2}},
		{q: "SELECT '$1', \"$2\", $$ $3 $$, $q$ $4 $q$ -- $5\n/* $6 */ x$7", d: Postgres},
		{q: "SELECT 'it''s ?' -- ?", d: MySQL},
		{q: "SELECT `?`, 'a\\'?' # ?\n, ?", d: MySQL, want: []int{0}},
		{q: "SELECT ? FROM t WHERE a = ?", d: MySQL, want: []int{0, 0}},
		{q: "SELECT 'open", d: Postgres, err: "unterminated ' quote"},
		{q: "SELECT $x$ open", d: Postgres, err: "unterminated $x$ quote"},
		{q: "SELECT /* open", d: MySQL, err: "unterminated /* comment"},
	} {
		got, err := SQLParams(tt.q, tt.d)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SQLParams(%q) = %v, %v; want error %q", tt.q, got, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("SQLParams(%q) = %v, %v; want %v", tt.q, got, err, tt.want)
		}
	}
}

func TestCheckFilter(t *testing.T) {
	for _, tt := range []struct {
		v            string
		placeholders int
		ok           bool
	}{
		{"(mail=%s)", 1, true},
		{"(&(objectClass=person)(|(mail=%s)(uid=%s)))", 2, true},
		{"(objectClass=*)", 0, true},
		{"mail=%s", 1, false},
		{"(mail=%s))(", 1, false},
		{"(mail=%s)(uid=%s)", 1, false},
		{"(mail=%s%%)", 1, false},
		{"(objectClass=%s)", 0, false},
		{"", 0, false},
	} {
		if err := CheckFilter(tt.v, tt.placeholders); (err == nil) != tt.ok {
			t.Errorf("CheckFilter(%q, %d) = %v, want ok %v", tt.v, tt.placeholders, err, tt.ok)
		}
	}
}

func TestAttributeName(t *testing.T) {
	for v, want := range map[string]bool{
		"uid": true, "associatedDomain": true, "x-1": true, "2.5.4.3": true,
		"": false, "1uid": false, "-x": false, "2.5..3": false, "2.05": false, "a b": false,
	} {
		if got := AttributeName(v); got != want {
			t.Errorf("AttributeName(%q) = %v, want %v", v, got, want)
		}
	}
}
