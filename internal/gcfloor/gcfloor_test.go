package gcfloor

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, scannable, floor uint64
		want                   int
	}{
		{1 * mib, 1 * mib, 32 * mib, 800},     // the minimum heap, 4 MiB x 8, is the floor
		{2 * mib, 3 * mib, 32 * mib, 800},     // the same: 2 + 3 x 8 = 26 MiB is below it
		{12 * mib, 12 * mib, 32 * mib, 166},   // 12 + 12 x 1.66 = 32 MiB
		{10 * mib, 14 * mib, 32 * mib, 157},   // stacks and globals count: 10 + 14 x 1.57
		{16 * mib, 16 * mib, 32 * mib, 100},   // the floor is 2 x live: Go's default
		{12 * mib, 20 * mib, 32 * mib, 100},   // Go's own goal reaches the floor
		{500 * mib, 510 * mib, 32 * mib, 100}, // a million domains: as Go would
		{40 * mib, 40 * mib, 32 * mib, 100},   // live above the floor
		{0, 0, 32 * mib, 800},                 // before the first collection
		{0, 0, 4 * mib, 100},                  // a floor at Go's own minimum changes nothing
		{0, 0, 1 * mib, 100},                  // nor one below it
		{1, 1, 1 << 62, 1000000},              // capped
		{10 * mib, 5 * mib, 40 * mib, 300},    // scannable below live (a stale reading): counted as live
	} {
		got := gcPercentFor(tc.live, tc.scannable, tc.floor)
		if got != tc.want {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", tc.live, tc.scannable, tc.floor, got, tc.want)
		}
		// The runtime's goal with that percent: at the floor (less a
		// rounding) when the floor raised it, never above.
		scan := max(tc.scannable, tc.live)
		goal := max(tc.live+scan*uint64(got)/100, 4*mib*uint64(got)/100)
		if got > 100 && got < 1000000 && (goal > tc.floor || goal+max(scan, 4*mib)/100 < tc.floor) {
			t.Errorf("live %d, floor %d: percent %d puts the goal at %d", tc.live, tc.floor, got, goal)
		}
	}
}

// gogc reads the GC percent the runtime uses now.
func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeapFloorFollowsCollections: with the floor installed, the runtime's
// GC percent after each collection is the one that puts the next at the
// floor; stopping restores Go's default; GOGC in the environment turns
// the floor off.
func TestHeapFloorFollowsCollections(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the floor stays off (tested below)")
	}
	const floor = 1 << 30
	stop := Start(floor)
	defer stop()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	for range 3 {
		garbage := make([][]byte, 0, 1000)
		for range 1000 {
			garbage = append(garbage, make([]byte, 1024))
		}
		runtime.KeepAlive(garbage)
		runtime.GC()
		metrics.Read(live)
		want := uint64(gcPercentFor(live[0].Value.Uint64(), live[0].Value.Uint64()+live[1].Value.Uint64()+live[2].Value.Uint64(), floor))
		deadline := time.Now().Add(5 * time.Second)
		for gogc() != want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // the cleanup runs just after the collection
		}
		if got := gogc(); got != want || want <= 100 {
			t.Fatalf("after a collection leaving %d live bytes: GC percent %d, want %d (> 100)", live[0].Value.Uint64(), got, want)
		}
	}
	stop()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got := gogc(); got != 100 {
		t.Errorf("after stop: GC percent %d, want 100", got)
	}

	t.Setenv("GOGC", "200")
	defer Start(floor)()
	if got := gogc(); got != 100 {
		t.Errorf("with GOGC set: GC percent %d, want it left at 100", got)
	}
}
