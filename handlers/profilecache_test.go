package handlers

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"mailautoconf/internal/profilesign"
	"mailautoconf/internal/testutil/testpki"
	"mailautoconf/provision"
)

// TestProfileCacheServes: a repeated download is the cached bytes; a
// reload or a new signer makes the profile again, never serving one made
// for the catalog or certificate before.
func TestProfileCacheServes(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	newSigner := func() *profilesign.Signer {
		s, err := profilesign.New([]*x509.Certificate{selfSigned(t, key)}, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cfg := newTestConfig(t, nil)
	cfg.Profiles = NewProfileCache(16, 1<<20)
	cfg.Signer = new(atomic.Pointer[profilesign.Signer])
	cfg.Signer.Store(newSigner())
	e := New(cfg).Router()
	const url = "http://example.com/mobileconfig?email=fred@example.com"
	first := serve(e, http.MethodGet, url, "")
	wantStatus(t, first, http.StatusOK)
	again := serve(e, http.MethodGet, url, "")
	if !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) || cfg.Profiles.Len() != 1 {
		t.Fatalf("second download not from the cache (%d cached)", cfg.Profiles.Len())
	}
	if pop := serve(e, http.MethodGet, url+"&protocol=pop3", ""); bytes.Equal(pop.Body.Bytes(), first.Body.Bytes()) || cfg.Profiles.Len() != 2 {
		t.Error("another option served the same cached profile")
	}

	// A reload: the new catalog's profile, not the cached one.
	demo, err := os.ReadFile("../provision/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := provision.Parse(provision.Source{Name: "new", Data: []byte(strings.Replace(string(demo), "display_name: Example Mail", "display_name: Renamed Mail", 1))})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Catalog.Store(cat)
	reloaded := serve(e, http.MethodGet, url, "")
	p7, err := pkcs7.Parse(reloaded.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(p7.Content, []byte("Renamed Mail")) {
		t.Error("after a reload the profile of the old catalog was served")
	}

	// A new certificate: a new signature.
	s2 := newSigner()
	cfg.Signer.Store(s2)
	resigned := serve(e, http.MethodGet, url, "")
	p7, err = pkcs7.Parse(resigned.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(resigned.Body.Bytes(), reloaded.Body.Bytes()) || !p7.Certificates[0].Equal(selfSignedOf(s2)) {
		t.Error("after a signer change the old signature was served")
	}
	cfg.Signer.Store(nil)
	if plain := serve(e, http.MethodGet, url, ""); !bytes.HasPrefix(plain.Body.Bytes(), []byte("<?xml")) {
		t.Error("unsigned again, a signed profile was served")
	}
}

// selfSignedOf returns the certificate a signer signs with.
func selfSignedOf(s *profilesign.Signer) *x509.Certificate {
	der, _ := s.Sign([]byte("x"))
	p7, _ := pkcs7.Parse(der)
	return p7.Certificates[0]
}

// TestProfileCacheBounds: least recently used profiles go first, by
// count and by bytes.
func TestProfileCacheBounds(t *testing.T) {
	cat := provision.Demo()
	pc := NewProfileCache(3, 100)
	k := func(local string) profileKey {
		return profileKey{provider: "example.com", addr: provision.Address{Local: local, Domain: "example.com"}}
	}
	for _, l := range []string{"a", "b", "c"} {
		pc.put(cat, nil, k(l), servedProfile{body: []byte(l)})
	}
	pc.get(cat, nil, k("a")) // a is now the most recent
	pc.put(cat, nil, k("d"), servedProfile{body: []byte("d")})
	if _, ok := pc.get(cat, nil, k("b")); ok {
		t.Error("b, least recently used, was kept")
	}
	for _, l := range []string{"a", "c", "d"} {
		if _, ok := pc.get(cat, nil, k(l)); !ok {
			t.Errorf("%s was dropped", l)
		}
	}
	pc.put(cat, nil, k("big"), servedProfile{body: bytes.Repeat([]byte("x"), 99)})
	if pc.Len() != 2 || pc.bytes != 100 {
		t.Errorf("%d profiles of %d bytes kept beside one of 99 bytes, bound 100", pc.Len(), pc.bytes)
	}
	pc.put(cat, nil, k("huge"), servedProfile{body: bytes.Repeat([]byte("x"), 101)})
	if _, ok := pc.get(cat, nil, k("huge")); ok {
		t.Error("a profile over the byte bound was kept")
	}
	if _, ok := pc.get(provision.Demo(), nil, k("big")); ok {
		t.Error("a profile made with another catalog was served")
	}
	var none *ProfileCache
	none.put(cat, nil, k("a"), servedProfile{body: []byte("a")})
	if _, ok := none.get(cat, nil, k("a")); ok {
		t.Error("a nil cache had something")
	}
}

// signingTime returns the verified signing time of a signed profile.
func signingTime(t *testing.T, der []byte) time.Time {
	t.Helper()
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := p7.Verify(); err != nil {
		t.Fatalf("signature: %v", err)
	}
	for _, a := range p7.Signers[0].AuthenticatedAttributes {
		if a.Type.Equal(pkcs7.OIDAttributeSigningTime) {
			var st time.Time
			if _, err := asn1.Unmarshal(a.Value.Bytes, &st); err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	t.Fatal("no signing time")
	return time.Time{}
}

// signedRouter returns a router signing profiles with a new
// certificate, and its handler.
func signedRouter(t *testing.T) (*Router, *Handler) {
	t.Helper()
	key := testpki.Key(t)
	s, err := profilesign.New([]*x509.Certificate{selfSigned(t, key)}, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := newTestConfig(t, nil)
	cfg.Signer = new(atomic.Pointer[profilesign.Signer])
	cfg.Signer.Store(s)
	h := New(cfg)
	return h.Router(), h
}

// TestProfileSigningTimeTellsNothing (issue 12, defect 8): a cached
// signed profile told when its address was first asked for. Now fred's
// profile, asked for again after alice's was made fresh a second later,
// carries the same signing time as hers: the start of the minute, the
// same for every address.
func TestProfileSigningTimeTellsNothing(t *testing.T) {
	const fred = "http://example.com/mobileconfig?email=fred@example.com"
	const alice = "http://example.com/mobileconfig?email=alice@example.com"
	for attempt := 0; attempt < 3; attempt++ {
		e, _ := signedRouter(t)
		start := time.Now()
		first := serve(e, http.MethodGet, fred, "")
		time.Sleep(1100 * time.Millisecond)
		other := serve(e, http.MethodGet, alice, "")
		again := serve(e, http.MethodGet, fred, "")
		if end := time.Now(); start.Truncate(time.Minute) != end.Truncate(time.Minute) {
			continue // a minute began between: the times differ rightly
		}
		for _, rec := range []*httptest.ResponseRecorder{first, other, again} {
			wantStatus(t, rec, http.StatusOK)
		}
		want := start.UTC().Truncate(time.Minute)
		for name, rec := range map[string]*httptest.ResponseRecorder{"fred's first": first, "alice's": other, "fred's again": again} {
			if got := signingTime(t, rec.Body.Bytes()); !got.Equal(want) {
				t.Errorf("%s profile signed at %v, want the minute's start %v", name, got, want)
			}
		}
		if !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) {
			t.Error("fred's second download is not the cached profile")
		}
		return
	}
	t.Fatal("three attempts straddled a minute")
}

// TestProfileCacheSigningWindow: a profile cached in one signing window
// is not served in the next, where it would carry an older time than any
// fresh one and so tell that it was asked for before.
func TestProfileCacheSigningWindow(t *testing.T) {
	e, h := signedRouter(t)
	base := time.Now().UTC().Truncate(profilesign.Window)
	now := base.Add(-50 * time.Second)
	h.cfg.Profiles.now = func() time.Time { return now }
	const fred = "http://example.com/mobileconfig?email=fred@example.com"
	first := serve(e, http.MethodGet, fred, "")
	wantStatus(t, first, http.StatusOK)
	now = base.Add(5 * time.Second)
	next := serve(e, http.MethodGet, fred, "")
	if got, want := signingTime(t, next.Body.Bytes()), base; !got.Equal(want) {
		t.Errorf("in the next window fred's profile is signed at %v, want %v", got, want)
	}
	if bytes.Equal(first.Body.Bytes(), next.Body.Bytes()) {
		t.Error("the previous window's profile was served")
	}
	now = base.Add(50 * time.Second)
	if again := serve(e, http.MethodGet, fred, ""); !bytes.Equal(again.Body.Bytes(), next.Body.Bytes()) {
		t.Error("within one window the profile was not served from the cache")
	}
}
