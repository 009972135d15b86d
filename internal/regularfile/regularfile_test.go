package regularfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"mailautoconf/internal/testutil"
)

// TestReadFileRefusesSpecialFiles: a named pipe, a link to a device, a
// socket and a directory are refused at once, by name and kind, without
// reading (a FIFO without a writer would block even the open); a regular
// file is read.
func TestReadFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := testutil.Mkfifo(t, filepath.Join(dir, "catalog.yaml"))
	zero := filepath.Join(dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock.yaml")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	regular := filepath.Join(dir, "regular.yaml")
	if err := os.WriteFile(regular, []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, want string }{
		{fifo, fifo + ": a named pipe (FIFO), not a regular file"},
		{zero, zero + ": a character device, not a regular file"},
		{sock, sock + ": no such device or address"},
		{dir, dir + ": is a directory"},
	} {
		data, err := testutil.Within(t, "Read("+tt.name+")", func() ([]byte, error) { return Read(tt.name, 1<<20) })
		if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("Read(%s) = %d bytes, %v; want %q", tt.name, len(data), err, tt.want)
		}
	}
	if _, err := Read(dir, 1<<20); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("Read(dir) = %v, want EISDIR", err)
	}
	if data, err := Read(regular, 2); err != nil || string(data) != "ok" {
		t.Errorf("Read(regular) = %q, %v", data, err)
	}
}

func TestReadLimited(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadNote(p, 10, ""); err != nil || string(b) != "0123456789" {
		t.Errorf("ReadNote(10 bytes, max 10) = %q, %v", b, err)
	}
	if _, err := ReadNote(p, 9, ", not a PEM file"); err == nil || !strings.HasSuffix(err.Error(), "larger than 9 bytes, not a PEM file") {
		t.Errorf("ReadNote(10 bytes, max 9) = %v", err)
	}
	if _, err := ReadNote(filepath.Join(t.TempDir(), "none"), 9, ""); err == nil {
		t.Error("ReadNote(missing file) = nil error")
	}
}

// TestReadFileOneBuffer: a catalog file is read into one buffer of its
// size, not through buffers that grow to twice the file and more.
func TestReadFileOneBuffer(t *testing.T) {
	name := filepath.Join(t.TempDir(), "catalog.yaml")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	data, err := Read(name, 64<<20)
	runtime.ReadMemStats(&after)
	if err != nil || len(data) != size {
		t.Fatalf("ReadFile = %d bytes, %v; want %d bytes", len(data), err, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size+1<<20 {
		t.Errorf("ReadFile of %d MiB allocated %.1f MiB, want at most one more", size>>20, float64(alloc)/(1<<20))
	}
}
