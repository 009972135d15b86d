package logbatch

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter counts writes and keeps what they wrote.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	b      strings.Builder
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.b.Write(p)
}

func (c *countingWriter) state() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.b.String()
}

func TestLogWriterBatches(t *testing.T) {
	out := &countingWriter{}
	lw := New(out, 50*time.Millisecond)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				fmt.Fprintf(lw, "line %d %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, s := out.state(); strings.Count(s, "\n") == 1000 {
			break
		}
		if time.Now().After(deadline) {
			_, s := out.state()
			t.Fatalf("after 5 s, %d of 1000 lines written", strings.Count(s, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, _ := out.state(); n > 20 {
		t.Errorf("1000 lines took %d writes; want them batched", n)
	}
	// A later line waits at most the interval, not for more lines.
	start := time.Now()
	fmt.Fprintln(lw, "alone")
	for {
		if _, s := out.state(); strings.HasSuffix(s, "alone\n") {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("a lone line was never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogWriterCloseAndUnbuffered(t *testing.T) {
	out := &countingWriter{}
	lw := New(out, time.Hour)
	fmt.Fprintln(lw, "before close")
	if _, s := out.state(); s != "" {
		t.Errorf("written before the interval: %q", s)
	}
	big := strings.Repeat("x", bufferSize+10) + "\n"
	lw.Write([]byte(big))
	if _, s := out.state(); s != "before close\n"+big {
		t.Errorf("a line larger than the buffer: written %d bytes", len(s))
	}
	fmt.Fprintln(lw, "last")
	lw.Close()
	fmt.Fprintln(lw, "after close")
	if _, s := out.state(); !strings.HasSuffix(s, "last\nafter close\n") {
		t.Errorf("Close lost lines: %q", s[len(s)-30:])
	}

	out = &countingWriter{}
	lw = New(out, 0)
	fmt.Fprintln(lw, "a")
	fmt.Fprintln(lw, "b")
	if n, s := out.state(); n != 2 || s != "a\nb\n" {
		t.Errorf("interval 0: %d writes of %q", n, s)
	}
}
