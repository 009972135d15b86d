package dnscheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/testutil/dnstest"
	"mailautoconf/provision"
)

// TestSameServers: the demo's own config-v1.1.xml for example.com is
// ours, whatever the case and trailing dot of its host names; a document
// naming another server, none, or a domain the catalog does not serve
// is not.
func TestSameServers(t *testing.T) {
	cat := provision.Demo()
	p, err := cat.Lookup(domain)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := provision.ParseAddress("postmaster@" + domain)
	if err != nil {
		t.Fatal(err)
	}
	body, err := cat.Autoconfig(nil, p, domain, &addr, provision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(edit func(*etree.Document)) *etree.Document {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(body); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(doc)
		}
		return doc
	}
	hostnames := func(doc *etree.Document) []*etree.Element {
		return doc.FindElements("/clientConfig/emailProvider/*/hostname")
	}
	ours := SameServers(cat.Lookup)
	for _, c := range []struct {
		name   string
		domain string
		edit   func(*etree.Document)
		want   bool
	}{
		{"as served", domain, nil, true},
		{"upper case, trailing dot", domain, func(doc *etree.Document) {
			for _, h := range hostnames(doc) {
				h.SetText(strings.ToUpper(h.Text()) + ".")
			}
		}, true},
		{"another server", domain, func(doc *etree.Document) { hostnames(doc)[0].SetText("imap.other.example") }, false},
		{"no servers", domain, func(doc *etree.Document) {
			for _, h := range hostnames(doc) {
				h.Parent().Parent().RemoveChild(h.Parent())
			}
		}, false},
		{"not served", "not-served.test", nil, false},
	} {
		if got := ours(c.domain, parse(c.edit)); got != c.want {
			t.Errorf("%s: ours = %v, want %v", c.name, got, c.want)
		}
	}
	if SameServers(nil)(domain, parse(nil)) {
		t.Error("no lookup: ours = true, want false")
	}

	// Ours, which the check, the watch and the doctor share: our provider
	// id is enough, and so are our servers; neither is another service.
	setID := func(id string) func(*etree.Document) {
		return func(doc *etree.Document) { doc.FindElement("/clientConfig/emailProvider").CreateAttr("id", id) }
	}
	for _, c := range []struct {
		name string
		edit func(*etree.Document)
		want bool
	}{
		{"as served", nil, true},
		{"our id, another server", func(doc *etree.Document) { hostnames(doc)[0].SetText("imap.other.example") }, true},
		{"another id, our servers", setID("other.example"), true},
		{"another id, another server", func(doc *etree.Document) {
			setID("other.example")(doc)
			hostnames(doc)[0].SetText("imap.other.example")
		}, false},
	} {
		if got := Ours(cat.Lookup)(domain, parse(c.edit)); got != c.want {
			t.Errorf("Ours, %s: %v, want %v", c.name, got, c.want)
		}
	}
	if Ours(nil)(domain, parse(nil)) {
		t.Error("Ours without a lookup: true, want false")
	}
}

// TestReportHostileAnswer: what DNS answered stays on its line of the
// text report.
func TestReportHostileAnswer(t *testing.T) {
	var b bytes.Buffer
	rec := dnsrecords.Record{Name: "autoconfig.example.com.", Type: "CNAME", TTL: 300, Data: "svc.host.test.", Required: true}
	d := Domain{Domain: "example.com", State: Drift, Records: []Record{{Record: rec, State: Drift,
		Found: "CNAME evil.test.\nexample.com: ok", Detail: "x\ry"}}}
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	want := "example.com: drift\n  drift               CNAME autoconfig.example.com. | found: CNAME evil.test.?example.com: ok | x?y | fix: autoconfig.example.com. 300 IN CNAME svc.host.test.\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

// TestCheckAllInOrder checks more domains than it has workers against a
// zone publishing example.com's records: the report lists them in the
// order given, as valid JSON whose summary counts them, and the error
// counts the domains with a required record not ok.
func TestCheckAllInOrder(t *testing.T) {
	cat := provision.Demo()
	p, err := cat.Lookup(domain)
	if err != nil {
		t.Fatal(err)
	}
	target := dnsrecords.Target{Host: publicHost}
	ok := dnsrecords.Derive(p, domain, target)
	server := dnstest.ServeZone(t, publish(ok, nil), nil)
	var list []dnsrecords.Domain
	for i := range 3 * workers {
		if i == workers {
			list = append(list, ok)
			continue
		}
		list = append(list, dnsrecords.Derive(p, fmt.Sprintf("d%02d.test", i), target))
	}
	var out, errb bytes.Buffer
	err = CheckAll(context.Background(), list, target, Options{Resolvers: []string{server}, Timeout: DefaultTimeout, JSON: true, Lookup: cat.Lookup}, &out, &errb)
	if wantErr := fmt.Sprintf("%d of %d domains: a required record not ok", len(list)-1, len(list)); err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("error %v, want one saying %q", err, wantErr)
	}
	var rep struct {
		Domains []Domain
		Summary Summary
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(rep.Domains) != len(list) {
		t.Fatalf("%d domains, want %d", len(rep.Domains), len(list))
	}
	for i, d := range rep.Domains {
		if d.Domain != list[i].Domain {
			t.Errorf("domain %d is %s, want %s", i, d.Domain, list[i].Domain)
		}
	}
	if got := rep.Summary.Domains["ok"]; got != 1 {
		t.Errorf("summary: %d domains ok, want 1", got)
	}
	if !strings.Contains(errb.String(), fmt.Sprintf("checked %d domains with 1 resolver in", len(list))) {
		t.Errorf("stderr: %q", errb.String())
	}
}
