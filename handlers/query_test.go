package handlers

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// queryValuesReference is queryValues by way of net/url.ParseQuery: the
// behaviour the scanning version must keep (values in any order).
func queryValuesReference(rawQuery, name string) []string {
	q, _ := url.ParseQuery(rawQuery)
	var out []string
	for k, vs := range q {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	return out
}

var querySeeds = []string{
	"", "emailaddress=a@b.c", "EmailAddress=a%40b.c&x=1", "emailaddress=a@b.c&emailaddress=d@e.f", "emailaddress", "emailaddress=",
	"a=1;emailaddress=x@y.z", "emailaddress=%zz", "email%61ddress=x@y.z", "%65mailaddress=q", "emailaddress=a+b", "&&emailaddress=1&&",
	"EMAILADDRESS=1&Emailaddress=2", "emailaddress=%", "emailaddress=a=b", "=x", "emailaddress%3Dx", "emailaddre%C5%BF%C5%BF=x", "%E2%84%AA=1", "Protocol=a&protocol=b", "Email=%E2%84%AA", "name=a&name=b&emailaddress=x&emailaddress=y", "name=1&protocol=imap&emailaddress=a@b.c",
	"%45%4D%41%49%4C%41%44%44%52%45%53%53=x", strings.Repeat("x=1&", 100) + "emailaddress=z",
}

func checkQueryValues(t *testing.T, raw string) {
	e := echo.New()
	// singleQueryValues finds each name's first value in query order, as
	// queryValues does, and refuses a name queryValues finds twice, the
	// first such in names.
	names := []string{"emailaddress", "Protocol", "name"}
	req := httptest.NewRequest("GET", "/", nil)
	req.URL.RawQuery = raw
	c := e.NewContext(req, nil)
	vals := make([]string, len(names))
	err := singleQueryValues(c, names, vals)
	wantErr := ""
	for i, name := range names {
		all := queryValues(c, name)
		if len(all) > 1 && wantErr == "" {
			wantErr = name + " given more than once"
		}
		if err == nil && (len(all) == 0 && vals[i] != "" || len(all) > 0 && vals[i] != all[0]) {
			t.Fatalf("singleQueryValues(%q): %s = %q, queryValues: %q", raw, name, vals[i], all)
		}
	}
	if (err == nil) != (wantErr == "") || err != nil && !strings.HasSuffix(err.Error(), wantErr) {
		t.Fatalf("singleQueryValues(%q) error %v, want %q", raw, err, wantErr)
	}

	for _, name := range []string{"emailaddress", "Email", "Protocol"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.RawQuery = raw
		got := queryValues(e.NewContext(req, nil), name)
		want := queryValuesReference(raw, name)
		if has := hasQueryValue(raw, name); has != (len(want) > 0) {
			t.Fatalf("hasQueryValue(%q, %s) = %v, ParseQuery has %q", raw, name, has, want)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("queryValues(%q, %s) = %q, want %q", raw, name, got, want)
		}
	}
}

func TestQueryValues(t *testing.T) {
	for _, q := range querySeeds {
		checkQueryValues(t, q)
	}
}

// FuzzQueryValues: the scanning queryValues finds what ParseQuery finds.
func FuzzQueryValues(f *testing.F) {
	for _, q := range querySeeds {
		f.Add(q)
	}
	f.Fuzz(checkQueryValues)
}

var unescapeSeeds = []string{"", "a", "alice%40example.com", "a+b", "%", "%4", "%41", "%zz", "x%4g", "%2B+%2b", "%E2%84%AA", "+++", "a%", "%%41", "%41%"}

func checkQueryUnescape(t *testing.T, s string) {
	got, ok := queryUnescape(s)
	want, err := url.QueryUnescape(s)
	if ok != (err == nil) || got != want {
		t.Fatalf("queryUnescape(%q) = %q, %v; url.QueryUnescape: %q, %v", s, got, ok, want, err)
	}
}

func TestQueryUnescape(t *testing.T) {
	for _, s := range append(unescapeSeeds, querySeeds...) {
		checkQueryUnescape(t, s)
	}
}

// FuzzQueryUnescape: queryUnescape is url.QueryUnescape.
func FuzzQueryUnescape(f *testing.F) {
	for _, s := range append(unescapeSeeds, querySeeds...) {
		f.Add(s)
	}
	f.Fuzz(checkQueryUnescape)
}
