// Command scale measures the catalog at scale: for catalogs of 1,000,
// 100,000 and 1,000,000 domains (bench/gencatalog's spread), the load time,
// the memory (peak and resident, and the heap per domain), and the time
// of a lookup and of a lookup plus rendering; then, with -reload, the
// real service serving the largest catalog under steady requests while it
// reloads it on SIGHUP, counting every request that failed.
//
//	go run ./bench/scale                       # all three sizes and the reload
//	go run ./bench/scale -sizes 1000000 -reload=false
//
// Each size is measured in a process of its own, so that one size's
// memory does not count towards the next. See bench/README.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mailautoconf/bench/fakecatalog"
	"mailautoconf/provision"
)

// result is one size's measurements, as the child process reports them.
type result struct {
	Domains, Providers int
	FileBytes          int64
	LoadSeconds        float64 // wall clock
	LoadCPUSeconds     float64 // user + system
	PeakRSS, RSS       int64   // bytes: VmHWM and VmRSS after the load
	HeapBytes          int64   // live heap after a GC, less the empty process's
	LookupNs           float64 // known domains, in random order
	UnknownNs          float64 // a domain not served
	RenderNs           float64 // lookup plus the autoconfig document for an address
	FirstRenderUs      float64 // a provider's first document: its templates made
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-measure" {
		measure(os.Args[2], os.Args[3])
		return
	}
	sizes := flag.String("sizes", "1000,100000,1000000", "catalog sizes, comma-separated")
	reload := flag.Bool("reload", true, "serve the largest catalog and reload it under requests")
	dir := flag.String("dir", "", "directory for the catalogs (default: a temporary one)")
	flag.Parse()

	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "mailautoconf-scale"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(work)
	}
	fmt.Printf("machine: %d CPUs, %s, %s/%s\n", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("%10s %9s %9s %8s %8s %9s %9s %10s %9s %9s %9s %9s\n",
		"domains", "providers", "file MB", "load s", "cpu s", "peak MB", "rss MB", "heap B/dom", "lookup ns", "unknown", "render ns", "first µs")
	var largest string
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fail(fmt.Errorf("size %q", s))
		}
		path := filepath.Join(work, fmt.Sprintf("catalog-%d.yaml", n))
		if err := writeCatalog(path, n); err != nil {
			fail(err)
		}
		largest = path
		out, err := exec.Command(os.Args[0], "-measure", path, strconv.Itoa(n)).Output()
		if err != nil {
			fail(fmt.Errorf("measuring %d domains: %v", n, err))
		}
		var r result
		if err := json.Unmarshal(out, &r); err != nil {
			fail(fmt.Errorf("measuring %d domains: %v: %s", n, err, out))
		}
		fmt.Printf("%10d %9d %9.1f %8.2f %8.2f %9.0f %9.0f %10.0f %9.0f %9.0f %9.0f %9.0f\n",
			r.Domains, r.Providers, float64(r.FileBytes)/1e6, r.LoadSeconds, r.LoadCPUSeconds,
			float64(r.PeakRSS)/1e6, float64(r.RSS)/1e6, float64(r.HeapBytes)/float64(r.Domains),
			r.LookupNs, r.UnknownNs, r.RenderNs, r.FirstRenderUs)
	}
	if *reload && largest != "" {
		if err := reloadUnderLoad(work, largest); err != nil {
			fail(err)
		}
	}
}

func writeCatalog(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := fakecatalog.Write(f, fakecatalog.DefaultShape(n)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// measure runs in the child: load, measure, print one JSON result.
func measure(path, size string) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	st, err := os.Stat(path)
	if err != nil {
		fail(err)
	}
	cpu0 := cpuTime()
	start := time.Now()
	cat, err := provision.Load(path)
	if err != nil {
		fail(err)
	}
	r := result{LoadSeconds: time.Since(start).Seconds(), LoadCPUSeconds: (cpuTime() - cpu0).Seconds(), FileBytes: st.Size()}
	r.PeakRSS, r.RSS = procStatus("VmHWM"), procStatus("VmRSS")
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	r.HeapBytes = int64(after.HeapAlloc) - int64(before.HeapAlloc)
	r.Domains, r.Providers = cat.DomainCount(), len(cat.Providers())
	if want, _ := strconv.Atoi(size); want != r.Domains {
		fail(fmt.Errorf("%s: %d domains, want %s", path, r.Domains, size))
	}

	// Lookups of known domains in random order (so the map is read all
	// over, not from cache), in upper case half the time as clients
	// send them.
	domains := cat.Domains()
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]string, 1<<20)
	for i := range order {
		d := domains[rng.IntN(len(domains))]
		if i%2 == 1 {
			d = strings.ToUpper(d)
		}
		order[i] = d
	}
	start = time.Now()
	for _, d := range order {
		if _, err := cat.Lookup(d); err != nil {
			fail(err)
		}
	}
	r.LookupNs = float64(time.Since(start).Nanoseconds()) / float64(len(order))
	const unknown = 1 << 18
	start = time.Now()
	for range unknown {
		if _, err := cat.Lookup("not-served.example"); err == nil {
			fail(fmt.Errorf("not-served.example is served"))
		}
	}
	r.UnknownNs = float64(time.Since(start).Nanoseconds()) / unknown
	// Lookup and render, as a request does. Each provider's templates
	// are made on its first request: that is timed apart, then the
	// steady state.
	buf := make([]byte, 0, 8192)
	start = time.Now()
	for _, p := range cat.Providers() {
		a := provision.Address{Local: "alice", Domain: p.Domains[0]}
		if buf, err = cat.Autoconfig(buf[:0], p, a.Domain, &a, provision.Options{}); err != nil {
			fail(err)
		}
	}
	r.FirstRenderUs = float64(time.Since(start).Microseconds()) / float64(len(cat.Providers()))
	renders := order[:1<<18]
	start = time.Now()
	for _, d := range renders {
		p, err := cat.Lookup(d)
		if err != nil {
			fail(err)
		}
		a := provision.Address{Local: "alice", Domain: strings.ToLower(d)}
		if buf, err = cat.Autoconfig(buf[:0], p, a.Domain, &a, provision.Options{}); err != nil {
			fail(err)
		}
	}
	r.RenderNs = float64(time.Since(start).Nanoseconds()) / float64(len(renders))
	json.NewEncoder(os.Stdout).Encode(r)
}

// reloadUnderLoad builds and starts the service on catalog, sends it
// requests for random domains from 8 clients, reloads the catalog by
// SIGHUP three times, and reports every failed request.
func reloadUnderLoad(work, catalog string) error {
	bin := filepath.Join(work, "mailautoconf")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %v", err)
	}
	domains, err := catalogDomains(catalog)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "MAILAUTOCONF_CATALOG="+catalog, "MAILAUTOCONF_CATALOG_WATCH=false", "MAILAUTOCONF_LISTEN="+addr)
	logs, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	reloaded := make(chan time.Time, 10)
	ready := make(chan time.Time, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.Contains(line, "msg=serving"):
				ready <- time.Now()
			case strings.Contains(line, "msg=\"catalog reloaded\""):
				reloaded <- time.Now()
			case strings.Contains(line, "level=ERROR"):
				fmt.Fprintln(os.Stderr, "service:", line)
			}
		}
	}()
	select {
	case at := <-ready:
		fmt.Printf("\nservice started on %d domains in %.2f s (load included)\n", len(domains), at.Sub(started).Seconds())
	case <-time.After(60 * time.Second):
		return fmt.Errorf("the service did not start within a minute")
	}

	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg             sync.WaitGroup
		ok, failed     atomic.Int64
		mu             sync.Mutex
		latencies      []time.Duration
		firstFailures  []string
		clientsStarted = time.Now()
	)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			var mine []time.Duration
			for ctx.Err() == nil {
				d := domains[rng.IntN(len(domains))]
				t0 := time.Now()
				resp, err := client.Get("http://" + addr + "/mail/config-v1.1.xml?emailaddress=alice@" + d)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				mine = append(mine, time.Since(t0))
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if len(firstFailures) < 5 {
						firstFailures = append(firstFailures, d+": "+err.Error())
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	time.Sleep(2 * time.Second)
	var took []time.Duration
	for range 3 {
		sent := time.Now()
		cmd.Process.Signal(syscall.SIGHUP)
		select {
		case at := <-reloaded:
			took = append(took, at.Sub(sent))
		case <-time.After(60 * time.Second):
			cancel()
			wg.Wait()
			return fmt.Errorf("no reload within a minute of SIGHUP")
		}
		time.Sleep(time.Second)
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	peak := procStatusOf(cmd.Process.Pid, "VmHWM")
	slices.Sort(latencies)
	q := func(f float64) time.Duration { return latencies[int(f*float64(len(latencies)-1))] }
	fmt.Printf("3 reloads by SIGHUP under 8 clients for %.1f s: reload took %v\n", time.Since(clientsStarted).Seconds(), took)
	fmt.Printf("requests: %d answered 200, %d failed; latency p50 %v, p99 %v, max %v; service peak RSS %.0f MB\n",
		ok.Load(), failed.Load(), q(0.5), q(0.99), q(1), float64(peak)/1e6)
	for _, f := range firstFailures {
		fmt.Println("  failed:", f)
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d requests failed during reloads", failed.Load())
	}
	return nil
}

// catalogDomains reads the domains of a generated catalog, one "- name"
// line each.
func catalogDomains(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "      - "); ok && !strings.HasPrefix(d, "{") {
			out = append(out, d) // a domain, not a server
		}
	}
	return out, sc.Err()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus returns a "kB" field of /proc/self/status in bytes.
func procStatus(field string) int64 { return procStatusOf(os.Getpid(), field) }

func procStatusOf(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return -1
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(1)
}
