package certstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"mailautoconf/internal/certstore"
	"mailautoconf/internal/certstore/certstoretest"

	_ "mailautoconf/internal/testutil/golden" // every test binary accepts -update
)

// The lock holder: a child process of the test that takes a lock, says
// so, and waits to be killed, as a replica dying mid-order.
func TestMain(m *testing.M) {
	if url, dir := os.Getenv("CERTSTORE_HOLD_URL"), os.Getenv("CERTSTORE_HOLD_DIR"); url != "" || dir != "" {
		ttl, _ := time.ParseDuration(os.Getenv("CERTSTORE_HOLD_TTL"))
		s, err := certstore.Open(url, dir, certstore.Options{LockTTL: ttl, LockPoll: 50 * time.Millisecond})
		if err == nil {
			err = s.Lock(context.Background(), os.Getenv("CERTSTORE_HOLD_NAME"))
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		select {}
	}
	os.Exit(m.Run())
}

// backend is one storage under test; open returns another handle on the
// same data, as another replica would have.
type backend struct {
	name string
	url  string
	dir  string
	ttl  time.Duration // the lock expiry of this backend
}

func (b backend) open(t *testing.T) certstore.Storage {
	t.Helper()
	s, err := certstore.Open(b.url, b.dir, certstore.Options{LockTTL: b.ttl, LockPoll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backends returns the file storage and each shared backend whose server
// runs (each skips otherwise).
func backends(t *testing.T) []func(t *testing.T) backend {
	return []func(*testing.T) backend{
		// certmagic's FileStorage: its staleness is fixed at 10s.
		func(t *testing.T) backend { return backend{name: "file", dir: t.TempDir(), ttl: 10 * time.Second} },
		func(t *testing.T) backend {
			return backend{name: "postgres", url: certstoretest.PostgresURL(t), ttl: 2 * time.Second}
		},
		func(t *testing.T) backend {
			return backend{name: "redis", url: certstoretest.RedisURL(t), ttl: 2 * time.Second}
		},
	}
}

var backendNames = []string{"file", "postgres", "redis"}

// each runs f against every backend in parallel subtests.
func each(t *testing.T, f func(t *testing.T, b backend)) {
	for i, mk := range backends(t) {
		t.Run(backendNames[i], func(t *testing.T) {
			t.Parallel()
			f(t, mk(t))
		})
	}
}

func TestStorageContract(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s, other := b.open(t), b.open(t)

		// Missing keys.
		if _, err := s.Load(ctx, "no/such"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(no/such) error = %v, want fs.ErrNotExist", err)
		}
		if _, err := s.Stat(ctx, "no/such"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(no/such) error = %v, want fs.ErrNotExist", err)
		}
		if _, err := s.List(ctx, "no", true); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("List(no) error = %v, want fs.ErrNotExist", err)
		}
		if s.Exists(ctx, "no/such") {
			t.Errorf("Exists(no/such) = true")
		}
		if err := s.Delete(ctx, "no/such"); err != nil {
			t.Errorf("Delete(no/such) = %v, want nil", err)
		}

		// Store and Load, seen by another replica; overwrite; any bytes.
		binary := make([]byte, 256)
		for i := range binary {
			binary[i] = byte(i)
		}
		files := map[string][]byte{
			"certificates/ca/a.example/a.example.crt":   []byte("cert a"),
			"certificates/ca/a.example/a.example.key":   binary,
			"certificates/ca/a.example/a.example.json":  []byte("{}"),
			"certificates/ca/ab.example/ab.example.crt": []byte("cert ab"),
			"certificates/ca/x_%.example/x.crt":         []byte("wildcards in LIKE"),
			"acme/ca/users/admin/admin.json":            []byte("account"),
			"top":                                       []byte("a file at the root"),
		}
		for k, v := range files {
			if err := s.Store(ctx, k, []byte("old")); err != nil {
				t.Fatalf("Store(%s): %v", k, err)
			}
			if err := s.Store(ctx, k, v); err != nil {
				t.Fatalf("Store(%s): %v", k, err)
			}
		}
		for k, v := range files {
			got, err := other.Load(ctx, k)
			if err != nil || !bytes.Equal(got, v) {
				t.Errorf("other replica: Load(%s) = %q, %v; want %q", k, got, err, v)
			}
		}

		// Stat of a file and of a directory; Exists of both.
		info, err := other.Stat(ctx, "certificates/ca/a.example/a.example.key")
		if err != nil || !info.IsTerminal || info.Size != 256 || info.Key != "certificates/ca/a.example/a.example.key" ||
			time.Since(info.Modified).Abs() > time.Minute {
			t.Errorf("Stat(file) = %+v, %v; want terminal, 256 bytes, modified now", info, err)
		}
		info, err = other.Stat(ctx, "certificates/ca")
		if err != nil || info.IsTerminal {
			t.Errorf("Stat(directory) = %+v, %v; want a non-terminal key", info, err)
		}
		for _, k := range []string{"certificates", "certificates/ca/a.example", "top", "certificates/ca/a.example/a.example.crt"} {
			if !other.Exists(ctx, k) {
				t.Errorf("Exists(%s) = false", k)
			}
		}
		// A prefix is one of whole components: "certificates/ca/a" is no
		// directory although keys start with it.
		if other.Exists(ctx, "certificates/ca/a") {
			t.Errorf("Exists(certificates/ca/a) = true: a prefix must be one of whole components")
		}

		// List, recursive and not.
		list := func(prefix string, recursive bool) []string {
			t.Helper()
			got, err := other.List(ctx, prefix, recursive)
			if err != nil {
				t.Fatalf("List(%q, %v): %v", prefix, recursive, err)
			}
			slices.Sort(got)
			return got
		}
		for _, c := range []struct {
			prefix    string
			recursive bool
			want      []string
		}{
			{"certificates/ca", false, []string{"certificates/ca/a.example", "certificates/ca/ab.example", "certificates/ca/x_%.example"}},
			{"certificates/ca/a.example", false, []string{"certificates/ca/a.example/a.example.crt", "certificates/ca/a.example/a.example.json", "certificates/ca/a.example/a.example.key"}},
			{"certificates", true, []string{
				"certificates/ca",
				"certificates/ca/a.example", "certificates/ca/a.example/a.example.crt", "certificates/ca/a.example/a.example.json", "certificates/ca/a.example/a.example.key",
				"certificates/ca/ab.example", "certificates/ca/ab.example/ab.example.crt",
				"certificates/ca/x_%.example", "certificates/ca/x_%.example/x.crt",
			}},
			{"certificates/ca/x_%.example", true, []string{"certificates/ca/x_%.example/x.crt"}},
			{"top", false, nil},
		} {
			if got := list(c.prefix, c.recursive); !slices.Equal(got, c.want) {
				t.Errorf("List(%q, %v) = %q, want %q", c.prefix, c.recursive, got, c.want)
			}
		}

		// Delete of a directory deletes what is under it, not its
		// siblings that share a string prefix.
		if err := other.Delete(ctx, "certificates/ca/a.example"); err != nil {
			t.Fatal(err)
		}
		if s.Exists(ctx, "certificates/ca/a.example") || s.Exists(ctx, "certificates/ca/a.example/a.example.crt") {
			t.Errorf("after Delete(directory) its keys remain")
		}
		if !s.Exists(ctx, "certificates/ca/ab.example/ab.example.crt") {
			t.Errorf("Delete(certificates/ca/a.example) deleted certificates/ca/ab.example too")
		}
		if err := s.Delete(ctx, "top"); err != nil || s.Exists(ctx, "top") {
			t.Errorf("Delete(top) = %v, exists after: %v", err, s.Exists(ctx, "top"))
		}

		// Concurrent stores of one key leave one whole value.
		var wg sync.WaitGroup
		values := [][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 64<<10)}
		for i := range 8 {
			wg.Go(func() {
				st := s
				if i%2 == 1 {
					st = other
				}
				if err := st.Store(ctx, "race/key", values[i%2]); err != nil {
					t.Errorf("concurrent Store: %v", err)
				}
			})
		}
		wg.Wait()
		if got, err := s.Load(ctx, "race/key"); err != nil || !(bytes.Equal(got, values[0]) || bytes.Equal(got, values[1])) {
			t.Errorf("after concurrent stores Load = %d bytes, %v; want one whole value", len(got), err)
		}

		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestStorageLockIsExclusiveAndHonorsContext(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		a, c := b.open(t), b.open(t)
		if err := a.Lock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}
		// Held past its expiry: the holder keeps it fresh.
		wait, cancel := context.WithTimeout(ctx, b.ttl*3/2)
		err := c.Lock(wait, "issue_cert_a.example")
		cancel()
		if err == nil {
			t.Fatalf("a second replica took a lock held by a live one")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lock with an ended context = %v, want context.DeadlineExceeded", err)
		}
		// Another name is independent.
		if err := c.Lock(ctx, "issue_cert_b.example"); err != nil {
			t.Fatal(err)
		}
		if err := c.Unlock(ctx, "issue_cert_b.example"); err != nil {
			t.Fatal(err)
		}
		// Released: the waiter takes it at once.
		got := make(chan error, 1)
		go func() { got <- c.Lock(ctx, "issue_cert_a.example") }()
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		if err := a.Unlock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the waiter took the released lock after %v", d)
			}
		case <-time.After(b.ttl + 5*time.Second):
			t.Fatal("the waiter did not get the released lock")
		}
		if err := c.Unlock(ctx, "issue_cert_a.example"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStorageLockOfADeadReplicaExpires: a process that holds a lock and
// is killed (no Unlock, no refresh) blocks the name until the lock's
// expiry, then another replica takes it.
func TestStorageLockOfADeadReplicaExpires(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		name := "issue_cert_dead.example"
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "CERTSTORE_HOLD_URL="+b.url, "CERTSTORE_HOLD_DIR="+b.dir,
			"CERTSTORE_HOLD_TTL="+b.ttl.String(), "CERTSTORE_HOLD_NAME="+name)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "locked\n" {
			t.Fatalf("holder said %q, %v", line, err)
		}

		s := b.open(t)
		// Alive, the holder keeps its lock past the expiry.
		wait, cancel := context.WithTimeout(ctx, b.ttl*3/2)
		err = s.Lock(wait, name)
		cancel()
		if err == nil {
			t.Fatal("took the lock of a live holder")
		}

		cmd.Process.Kill()
		cmd.Wait()
		killed := time.Now()
		wait, cancel = context.WithTimeout(ctx, 3*b.ttl+5*time.Second)
		defer cancel()
		if err := s.Lock(wait, name); err != nil {
			t.Fatalf("the lock of a killed holder did not expire: %v", err)
		}
		d := time.Since(killed)
		t.Logf("%s: lock of the killed holder taken %v after the kill (expiry %v)", b.name, d.Round(time.Millisecond), b.ttl)
		if d > 2*b.ttl+2*time.Second {
			t.Errorf("took %v after the kill, want at most about twice the expiry %v", d, b.ttl)
		}
		if err := s.Unlock(ctx, name); err != nil {
			t.Error(err)
		}
	})
}
