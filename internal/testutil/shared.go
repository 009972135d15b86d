package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedDir returns ../shared/<elem...> beside the repository, the
// workspace's reference material. A test that needs it skips, saying so,
// when it is absent (a clone outside the workspace); under CI (CI set) it
// fails instead.
func SharedDir(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{RepoRoot(t), "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI must run beside ../shared)", p)
		}
		t.Skipf("skipping: %s is absent (this test reads the workspace's ../shared)", p)
	}
	return p
}

// RepoRoot is the top of the repository: the first directory holding
// go.mod at or above the test's working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
