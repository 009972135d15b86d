package provision

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"mailautoconf/internal/testutil"
)

// TestLoadRefusesOversizedFileBeforeReading: a catalog file larger than
// the limit (a sparse one: no disk used) is refused on its size, with
// next to nothing allocated.
func TestLoadRefusesOversizedFileBeforeReading(t *testing.T) {
	name := filepath.Join(t.TempDir(), "catalog.yaml")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	// One byte over the limit docs/guide/hardening.md documents.
	if err := f.Truncate(64<<20 + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Load(name)
	runtime.ReadMemStats(&after)
	if want := name + ": larger than 67108864 bytes"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Load(64 MiB + 1) = %v, want %q", err, want)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("Load(64 MiB + 1) allocated %d bytes before refusing", n)
	}
}

// TestCatalogDirectorySpecialFiles: in a catalog directory, a FIFO or a
// device link that Load does not read (no .yaml name) is left alone, and
// one it reads is refused by name, at once.
func TestCatalogDirectorySpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Mkfifo(t, filepath.Join(dir, "events"))
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero")); err != nil {
		t.Fatal(err)
	}
	files, err := CatalogFiles(dir)
	if err != nil || strings.Join(files, ",") != filepath.Join(dir, "a.yaml") {
		t.Errorf("CatalogFiles(dir) = %q, %v", files, err)
	}
	if _, err := testutil.Within(t, "Load(dir)", func() (*Catalog, error) { return Load(dir) }); err != nil {
		t.Errorf("Load(dir with a FIFO and a device link beside) = %v", err)
	}
	pipe := testutil.Mkfifo(t, filepath.Join(dir, "pipe.yaml"))
	_, err = testutil.Within(t, "Load(dir)", func() (*Catalog, error) { return Load(dir) })
	if want := pipe + ": a named pipe (FIFO), not a regular file"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Load(dir with pipe.yaml) = %v, want %q", err, want)
	}
}

func TestCatalogFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.yml", "a.yaml", ".hidden.yaml", "notes.txt", "c.yaml.bak"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := CatalogFiles(dir)
	if got, want := strings.Join(files, ","), filepath.Join(dir, "a.yaml")+","+filepath.Join(dir, "b.yml"); err != nil || got != want {
		t.Errorf("CatalogFiles(dir) = %s, %v; want %s", got, err, want)
	}
	one := filepath.Join(dir, "notes.txt")
	if files, err := CatalogFiles(one); err != nil || len(files) != 1 || files[0] != one {
		t.Errorf("CatalogFiles(file) = %q, %v", files, err)
	}
	for name, want := range map[string]bool{"a.yaml": true, "a.yml": true, "..data": false, ".a.yaml": false, "a.json": false, "yaml": false} {
		if got := CatalogFileName(name); got != want {
			t.Errorf("CatalogFileName(%q) = %v, want %v", name, got, want)
		}
	}
}
