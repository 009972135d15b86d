package importxml

import (
	"os"
	"path/filepath"
	"testing"

	"mailautoconf/provision"
)

// sharedDir returns ../shared/<elem...> beside the repository, the
// workspace's reference material. Tests that need it skip, saying so, when
// it is absent (a clone outside the workspace); under CI they fail.
func sharedDir(t testing.TB, elem ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI must run beside ../shared)", p)
		}
		t.Skipf("skipping: %s is absent (this test reads the workspace's ../shared)", p)
	}
	return p
}

// etreeAutoconfig is provision's config-v1.1.xml of p for domain, built
// by the reference renderer (etree): a nil Catalog has no pre-rendered
// templates. It panics on a provider no renderer takes, which an imported
// provider never is.
func etreeAutoconfig(p *provision.Provider, domain string, addr *provision.Address) []byte {
	var none *provision.Catalog
	b, err := none.Autoconfig(nil, p, domain, addr, provision.Options{})
	if err != nil {
		panic(err)
	}
	return b
}
