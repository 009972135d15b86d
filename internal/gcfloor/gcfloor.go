// Package gcfloor keeps the garbage collector from running while the heap
// is small (the service's MAILAUTOCONF_HEAP_FLOOR). Go's collector, by default
// (GOGC=100), runs whenever the heap has doubled since the last
// collection, and never waits for less than 4 MB. With a small catalog
// the service's live heap is a few MB, and net/http alone allocates about
// 3 KB a request, so under load it collected some 50 times a second,
// about 5% of the CPU (bench/README.md). The floor lets the heap grow to
// the floor before a collection, and changes nothing once the live heap
// is half the floor or more: after every collection the GC percent is
// set so that the next one comes at max(floor, 2 x live heap). A large
// catalog is thus collected as Go would collect it; a catalog reload is
// too, from the first collection after it. GOGC in the environment is
// the operator's choice and is left alone; GOMEMLIMIT keeps working as
// ever (the collector runs sooner when the process nears it).
package gcfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// heapFloor keeps the collector's goal at floor bytes at least.
type heapFloor struct {
	floor   uint64
	stopped atomic.Bool
	sample  []metrics.Sample
	// percent is the GC percent last set, for tests and /metrics.
	percent atomic.Int64
}

// Start installs the floor unless it is 0 or GOGC is set, and
// returns a stop function (which restores Go's default).
func Start(floor uint64) (stop func()) {
	if floor == 0 || os.Getenv("GOGC") != "" {
		return func() {}
	}
	f := &heapFloor{floor: floor, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	f.adjust()
	f.arm()
	return func() {
		f.stopped.Store(true)
		debug.SetGCPercent(100)
	}
}

// arm registers adjust to run after the next collection: a cleanup of an
// object nothing refers to runs once a collection has found it garbage.
func (f *heapFloor) arm() {
	sentinel := new([16]byte) // big enough to be allocated alone, not batched with others
	runtime.AddCleanup(sentinel, func(f *heapFloor) {
		if f.stopped.Load() {
			return
		}
		f.adjust()
		f.arm()
	}, f)
}

// adjust sets the GC percent from the live heap the last collection left.
func (f *heapFloor) adjust() {
	metrics.Read(f.sample)
	var v [3]uint64
	for i, s := range f.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	p := gcPercentFor(v[0], v[0]+v[1]+v[2], f.floor)
	if int64(p) != f.percent.Load() {
		debug.SetGCPercent(p)
		f.percent.Store(int64(p))
	}
}

// gcPercentFor returns the GC percent that puts the next collection at
// the floor when that is later than Go's default would. The runtime's
// goal is the larger of live + scannable x percent/100 (scannable: the
// live heap plus the goroutine stacks and globals it scans) and its
// minimum heap, 4 MiB x percent/100; the percent returned is the least
// that brings either to the floor, and never below 100.
func gcPercentFor(live, scannable, floor uint64) int {
	const minHeap = 4 << 20 // the runtime's defaultHeapMinimum
	scannable = max(scannable, live)
	if live > 0 && live+scannable >= floor {
		return 100 // Go's own goal is at the floor or past it
	}
	p := float64(floor) * 100 / minHeap
	if live > 0 {
		p = min(p, float64(floor-live)*100/float64(scannable))
	}
	return int(max(100, min(math.Floor(p), 1e6)))
}
