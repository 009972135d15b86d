package doctor

import (
	"strings"
	"testing"

	"mailautoconf/provision"
)

var paccDocCases = []struct {
	name, ct, body string
	ok             bool
	why            string
}{
	{"demo", "application/json", `{"protocols":{"imap":{"host":"imap.example.com"},"smtp":{"host":"smtp.example.com"}},"authentication":{"password":true},"info":{"provider":{"name":"Example"}}}`, true, ""},
	{"submit only", "application/json; charset=utf-8", `{"protocols":{"pop3":{"host":"pop.example.com"},"submit":{"host":"smtp.example.com"},"x-new":{}},"authentication":{},"info":{"provider":{"name":"E"}}}`, true, ""},
	{"jmap only", "application/json", `{"protocols":{"jmap":{"url":"https://jmap.example.com/s"}},"authentication":{},"info":{"provider":{"name":"E"}}}`, true, ""},
	{"xml", "application/xml", `{}`, false, "content type"},
	{"not json", "application/json", `{`, false, "not a PACC JSON document"},
	{"no protocols", "application/json", `{"authentication":{},"info":{"provider":{"name":"E"}}}`, false, "no protocols"},
	{"no name", "application/json", `{"protocols":{},"authentication":{},"info":{"provider":{}}}`, false, "no info.provider.name"},
	{"long name", "application/json", `{"protocols":{},"authentication":{},"info":{"provider":{"name":"` + strings.Repeat("x", 61) + `"}}}`, false, "longer than 60"},
	{"long short name", "application/json", `{"protocols":{},"authentication":{},"info":{"provider":{"name":"E","shortName":"` + strings.Repeat("x", 21) + `"}}}`, false, "longer than 20"},
	{"bad host", "application/json", `{"protocols":{"imap":{"host":"a b"},"smtp":{"host":"s.example"}},"authentication":{},"info":{"provider":{"name":"E"}}}`, false, "not a host name"},
	{"http caldav", "application/json", `{"protocols":{"imap":{"host":"i.example"},"smtp":{"host":"s.example"},"caldav":{"url":"http://dav.example/"}},"authentication":{},"info":{"provider":{"name":"E"}}}`, false, "not an https URL"},
	{"no outgoing", "application/json", `{"protocols":{"imap":{"host":"i.example"}},"authentication":{},"info":{"provider":{"name":"E"}}}`, false, "no incoming or no outgoing"},
	{"issuer with query", "application/json", `{"protocols":{"imap":{"host":"i.example"},"smtp":{"host":"s.example"}},"authentication":{"oauth-public":{"issuer":"https://l.example/?a"}},"info":{"provider":{"name":"E"}}}`, false, "RFC 8414"},
	{"array", "application/json", `[]`, false, "not a PACC JSON document"},
}

func TestPACCDocument(t *testing.T) {
	for _, tc := range paccDocCases {
		v := paccDocument(tc.ct, []byte(tc.body))
		if v.ok != tc.ok || !strings.Contains(v.reason, tc.why) {
			t.Errorf("%s: paccDocument = ok %v %q, want ok %v %q", tc.name, v.ok, v.reason, tc.ok, tc.why)
		}
	}
	// Our own documents pass.
	cat := provision.Demo()
	p, _ := cat.Lookup("example.com")
	body, _ := cat.PACC(nil, p, "example.com", nil, provision.Options{})
	if v := paccDocument("application/json", body); !v.ok || v.incoming.String() != "IMAP imap.example.com:993 SSL" || v.outgoing.String() != "SMTP smtp.example.com:465 SSL" {
		t.Errorf("paccDocument(demo) = %+v", v)
	}
}

func TestPACCDigestCheck(t *testing.T) {
	body := []byte(`{"a":1}` + "\n")
	good := provision.PACCDigestOf(body)
	d := strings.TrimPrefix(good, "v=UAAC1; a=sha256; d=")
	for _, tc := range []struct {
		txts []string
		want string // "" matches
	}{
		{[]string{good}, ""},
		{[]string{"V = uaac1 ;A=SHA256;  d = " + d + " "}, ""},
		{[]string{"v=spf1 -all", good}, ""},
		{[]string{"v=UAAC1; a=sha256; d=AAAA"}, "stale digest: the TXT record says d=AAAA, the served document hashes to d=" + d},
		{[]string{"v=UAAC1; a=sha512; d=" + d}, "no v=UAAC1"},
		{nil, "no v=UAAC1"},
	} {
		got := paccDigestCheck(body, tc.txts)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("paccDigestCheck(%q) = %q, want %q", tc.txts, got, tc.want)
		}
	}
}

// FuzzPACCDocument: any answer is read without a panic, and an accepted
// one advertises an incoming and an outgoing server (or JMAP), every host
// a normalized host name on PACC's standard port.
func FuzzPACCDocument(f *testing.F) {
	for _, tc := range paccDocCases {
		f.Add(tc.ct, tc.body)
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		v := paccDocument(ct, []byte(body))
		if !v.ok {
			return
		}
		if v.incoming == nil && v.outgoing == nil && len(v.candidates) == 0 {
			t.Fatalf("accepted %q with nothing to configure", body)
		}
		for _, e := range v.candidates {
			if h, err := provision.NormalizeHost(e.Host); err != nil || h != e.Host {
				t.Fatalf("accepted host %q of %q", e.Host, body)
			}
			if want, ok := paccStandardPorts[e.Protocol]; ok && e.Port != want || !ok && e.Port != 443 {
				t.Fatalf("%s on port %d", e.Protocol, e.Port)
			}
		}
	})
}

// TestPACCPublished: a TXT record whose v tag is UAAC1 publishes PACC,
// whatever else it says; other records at the name (a wildcard's SPF)
// do not.
func TestPACCPublished(t *testing.T) {
	for _, tc := range []struct {
		txts []string
		want bool
	}{
		{[]string{"v=UAAC1; a=sha256; d=AAAA"}, true},
		{[]string{"v=spf1 -all", " V = uaac1 ;a=sha512"}, true},
		{[]string{"v=UAAC1"}, true},
		{[]string{"v=spf1 -all"}, false},
		{[]string{"UAAC1", "d=AAAA"}, false},
		{nil, false},
	} {
		if got := paccPublished(tc.txts); got != tc.want {
			t.Errorf("paccPublished(%q) = %v, want %v", tc.txts, got, tc.want)
		}
	}
}
