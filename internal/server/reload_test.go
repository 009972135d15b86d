package server

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/servetest"
)

// load is a steady stream of requests from a few clients, each recording
// the catalog versions it saw in order and every failure.
type load struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	requests int
	failures []string
	seen     [][]string // per client, versions in the order first seen
}

func startLoad(base string, clients int) *load {
	l := &load{stop: make(chan struct{}), seen: make([][]string, clients)}
	for i := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				v, err := servetest.ServedVersion(c, base)
				l.mu.Lock()
				l.requests++
				if err != nil {
					l.failures = append(l.failures, err.Error())
				} else if n := len(l.seen[i]); n == 0 || l.seen[i][n-1] != v {
					l.seen[i] = append(l.seen[i], v)
				}
				l.mu.Unlock()
				time.Sleep(3 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

// TestReloadUnderSteadyLoad: while clients ask without pause, the catalog
// file is rewritten in place and renamed over, with valid and invalid
// catalogs. No request fails; every answer comes whole from one catalog;
// each client sees the versions in order, never going back; a valid edit
// is served within two seconds; an invalid one is refused with its
// file:line message, in the log and the metrics, and the previous catalog
// keeps answering.
func TestReloadUnderSteadyLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.yaml")
	servetest.WriteInPlace(t, path, servetest.VersionCatalog("v1"))
	s := startServer(t, func(c *Config) { c.Catalog = path })
	l := startLoad(s.Base, 3)

	served := func(want string) func() bool {
		return func() bool {
			v, err := servetest.ServedVersion(http.DefaultClient, s.Base)
			return err == nil && v == want
		}
	}
	failures := func(want float64) func() bool {
		return func() bool {
			return servetest.MetricValue(t, s.Metrics, `mailautoconf_catalog_reloads_total{result="failure"}`) == want
		}
	}
	time.Sleep(200 * time.Millisecond)

	servetest.WriteInPlace(t, path, servetest.VersionCatalog("v2"))
	took := testutil.WaitFor(t, 2*time.Second, "in-place edit v2 not served", served("v2"))
	t.Logf("in-place edit served after %v", took)

	servetest.WriteRename(t, path, servetest.InvalidCatalog("v3"))
	testutil.WaitFor(t, 2*time.Second, "invalid catalog not refused", failures(1))
	servetest.WriteInPlace(t, path, "")
	testutil.WaitFor(t, 2*time.Second, "empty catalog not refused", failures(2))
	time.Sleep(300 * time.Millisecond) // the old catalog keeps answering
	if v, err := servetest.ServedVersion(http.DefaultClient, s.Base); err != nil || v != "v2" {
		t.Errorf("after refused catalogs: %q, %v; want v2", v, err)
	}
	if got := servetest.MetricValue(t, s.Metrics, "mailautoconf_catalog_last_reload_successful"); got != 0 {
		t.Errorf("last_reload_successful = %v after a refusal, want 0", got)
	}

	servetest.WriteRename(t, path, servetest.VersionCatalog("v4"))
	took = testutil.WaitFor(t, 2*time.Second, "renamed-over v4 not served", served("v4"))
	t.Logf("rename-over served after %v", took)
	time.Sleep(100 * time.Millisecond)
	l.finish()

	t.Logf("%d requests, %d failed", l.requests, len(l.failures))
	for i, f := range l.failures {
		if i < 5 {
			t.Errorf("request failed: %s", f)
		}
	}
	if l.requests < 200 {
		t.Errorf("only %d requests: not a steady stream", l.requests)
	}
	for i, seen := range l.seen {
		if got := strings.Join(seen, ","); got != "v1,v2,v4" {
			t.Errorf("client %d saw versions %s, want v1,v2,v4", i, got)
		}
	}
	for sample, want := range map[string]float64{
		`mailautoconf_catalog_reloads_total{result="success"}`:                                        2,
		`mailautoconf_catalog_reloads_total{result="failure"}`:                                        2,
		"mailautoconf_catalog_last_reload_successful":                                                 1,
		"mailautoconf_catalog_domains":                                                                1,
		`mailautoconf_requests_total{client="other",domain="known",format="autoconfig",status="200"}`: float64(l.requests + 0),
	} {
		got := servetest.MetricValue(t, s.Metrics, sample)
		if strings.HasPrefix(sample, "mailautoconf_requests_total") {
			// The test's own polls count too.
			if got < want {
				t.Errorf("%s = %v, want at least %v", sample, got, want)
			}
			continue
		}
		if got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	s.Stop()
	logs := s.Logs.String()
	for _, want := range []string{
		path + `:5: providers[0].incoming[0].port: 99999 is not a port (1-65535)`,
		path + `: file is empty`,
		"catalog reload refused; still serving the previous catalog",
		`msg="catalog reloaded" trigger="file change"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// configMap lays out a directory as the kubelet does for a ConfigMap
// volume: the files live in a timestamped directory, "..data" links to
// it, and each key is a link through "..data". update swaps "..data" by
// rename, as the kubelet's atomic writer does, and removes the old
// directory.
type configMap struct {
	t       *testing.T
	dir     string
	current string
	n       int
}

func newConfigMap(t *testing.T, files map[string]string) *configMap {
	cm := &configMap{t: t, dir: t.TempDir()}
	cm.update(files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(cm.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return cm
}

func (cm *configMap) update(files map[string]string) {
	t := cm.t
	cm.n++
	ts := fmt.Sprintf("..2026_11_26_00_00_%02d.%d", cm.n, 1000+cm.n)
	if err := os.Mkdir(filepath.Join(cm.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(cm.dir, ts, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(cm.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(cm.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if cm.current != "" {
		if err := os.RemoveAll(filepath.Join(cm.dir, cm.current)); err != nil {
			t.Fatal(err)
		}
	}
	cm.current = ts
}

// TestReloadConfigMapSwaps: a catalog mounted from a ConfigMap, named as
// the file and as the directory, follows repeated "..data" swaps, refuses
// a broken version and takes the next good one.
func TestReloadConfigMapSwaps(t *testing.T) {
	for _, asDir := range []bool{false, true} {
		t.Run(fmt.Sprintf("directory=%v", asDir), func(t *testing.T) {
			cm := newConfigMap(t, map[string]string{"catalog.yaml": servetest.VersionCatalog("v1")})
			path := filepath.Join(cm.dir, "catalog.yaml")
			if asDir {
				path = cm.dir
			}
			s := startServer(t, func(c *Config) { c.Catalog = path })
			for i, v := range []string{"v2", "v3", "bad", "v5", "v6"} {
				if v == "bad" {
					cm.update(map[string]string{"catalog.yaml": servetest.InvalidCatalog("v4")})
					testutil.WaitFor(t, 2*time.Second, "broken ConfigMap version not refused", func() bool {
						return servetest.MetricValue(t, s.Metrics, `mailautoconf_catalog_reloads_total{result="failure"}`) == 1
					})
					continue
				}
				cm.update(map[string]string{"catalog.yaml": servetest.VersionCatalog(v)})
				took := testutil.WaitFor(t, 2*time.Second, fmt.Sprintf("swap %d (%s) not served", i+1, v), func() bool {
					got, err := servetest.ServedVersion(http.DefaultClient, s.Base)
					return err == nil && got == v
				})
				t.Logf("swap %d served after %v", i+1, took)
			}
			if got := servetest.MetricValue(t, s.Metrics, `mailautoconf_catalog_reloads_total{result="success"}`); got != 4 {
				t.Errorf("successful reloads = %v, want 4", got)
			}
			if !strings.Contains(s.Logs.String(), `:5: providers[0].incoming[0].port: 99999 is not a port (1-65535)`) {
				t.Errorf("log lacks the broken version's file:line message:\n%s", s.Logs.String())
			}
		})
	}
}

// appendEvery appends a line to name every interval until the test ends:
// a busy log file.
func appendEvery(t *testing.T, name string, interval time.Duration) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fmt.Fprintf(f, "%s something happened\n", time.Now().Format(time.RFC3339Nano))
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done; f.Close() })
}

// latencies summarizes edit-to-served times.
func latencies(ds []time.Duration) string {
	slices.Sort(ds)
	return fmt.Sprintf("min %v, median %v, max %v over %d edits", ds[0].Round(time.Millisecond), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), len(ds))
}

// TestReloadBesideBusyLog: with the service's own log (at debug level)
// and another log written every 2 ms in the catalog's directory, and
// requests arriving without pause, each edit is served within 2 s, as a
// file and as a directory; in directory mode nothing is reloaded while
// only the logs change.
func TestReloadBesideBusyLog(t *testing.T) {
	for _, asDir := range []bool{false, true} {
		t.Run(fmt.Sprintf("directory=%v", asDir), func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "catalog.yaml")
			servetest.WriteInPlace(t, file, servetest.VersionCatalog("v1"))
			path := file
			if asDir {
				path = dir
			}
			logFile, err := os.Create(filepath.Join(dir, "mailautoconf.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer logFile.Close()
			appendEvery(t, filepath.Join(dir, "other.log"), 2*time.Millisecond)
			s := startServerLog(t, func(c *Config) { c.Catalog, c.LogLevel = path, "debug" }, logFile)
			l := startLoad(s.Base, 3)
			defer l.finish()
			reloads := func() float64 {
				return servetest.MetricValue(t, s.Metrics, `mailautoconf_catalog_reloads_total{result="success"}`)
			}
			time.Sleep(1500 * time.Millisecond)
			if n := reloads(); n != 0 {
				t.Errorf("%v reloads in 1.5 s while only the logs changed", n)
			}
			var took []time.Duration
			for i := 2; i <= 6; i++ {
				v := fmt.Sprintf("v%d", i)
				if i%2 == 0 {
					servetest.WriteInPlace(t, file, servetest.VersionCatalog(v))
				} else {
					servetest.WriteRename(t, file, servetest.VersionCatalog(v))
				}
				took = append(took, testutil.WaitFor(t, 2*time.Second, v+" not served", func() bool {
					got, err := servetest.ServedVersion(http.DefaultClient, s.Base)
					return err == nil && got == v
				}))
			}
			t.Logf("edit -> served with busy logs beside, under load: %s", latencies(took))
			if n := reloads(); n != 5 {
				t.Errorf("%v reloads for 5 edits", n)
			}
		})
	}
}

// TestReloadDirectoryOwnLog: a catalog directory that holds the
// service's own log is not reloaded while nothing but the log changes (a
// reload's log line would change it again).
func TestReloadDirectoryOwnLog(t *testing.T) {
	dir := t.TempDir()
	servetest.WriteInPlace(t, filepath.Join(dir, "catalog.yaml"), servetest.VersionCatalog("v1"))
	logFile, err := os.Create(filepath.Join(dir, "mailautoconf.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	s := startServerLog(t, func(c *Config) { c.Catalog = dir }, logFile)
	// One request, so that the log has a line after start.
	if v, err := servetest.ServedVersion(http.DefaultClient, s.Base); err != nil || v != "v1" {
		t.Fatalf("servedVersion = %q, %v", v, err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := servetest.MetricValue(t, s.Metrics, `mailautoconf_catalog_reloads_total{result="success"}`); n != 0 {
		t.Errorf("%v reloads in 1.5 s while only the service's log changed", n)
	}
}

// TestReloadSteadyRewrites: a tool replacing the catalog every 20 ms (by
// rename, so that no read finds it half-written) leaves it never quiet
// for 250 ms; each new content is still served within 2 s.
func TestReloadSteadyRewrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	servetest.WriteInPlace(t, path, servetest.VersionCatalog("v1"))
	s := startServer(t, func(c *Config) { c.Catalog = path })
	var mu sync.Mutex
	content := servetest.VersionCatalog("v1")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			mu.Lock()
			data := content
			mu.Unlock()
			tmp := path + ".tmp"
			if os.WriteFile(tmp, []byte(data), 0o644) == nil {
				os.Rename(tmp, path)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	var took []time.Duration
	for i := 2; i <= 4; i++ {
		v := fmt.Sprintf("v%d", i)
		mu.Lock()
		content = servetest.VersionCatalog(v)
		mu.Unlock()
		took = append(took, testutil.WaitFor(t, 2*time.Second, v+" not served while the file is replaced every 20 ms", func() bool {
			got, err := servetest.ServedVersion(http.DefaultClient, s.Base)
			return err == nil && got == v
		}))
	}
	t.Logf("edit -> served with the file replaced every 20 ms: %s", latencies(took))
}

// TestReloadRefusesSpecialFiles: a catalog replaced by a FIFO, then by a
// file over the size limit, is refused at once, by name, in the log and
// the metrics; the reloader goes on and serves the next good catalog.
func TestReloadRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.yaml")
	servetest.WriteInPlace(t, path, servetest.VersionCatalog("v1"))
	s := startServer(t, func(c *Config) { c.Catalog = path })
	failures := func(want float64) func() bool {
		return func() bool {
			return servetest.MetricValue(t, s.Metrics, `mailautoconf_catalog_reloads_total{result="failure"}`) == want
		}
	}
	fifo := testutil.Mkfifo(t, filepath.Join(dir, ".catalog.fifo"))
	if err := os.Rename(fifo, path); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 2*time.Second, "a FIFO over the catalog not refused", failures(1))
	if got := servetest.MetricValue(t, s.Metrics, "mailautoconf_catalog_last_reload_successful"); got != 0 {
		t.Errorf("last_reload_successful = %v after a FIFO, want 0", got)
	}

	big := filepath.Join(dir, ".catalog.big")
	if err := os.WriteFile(big, []byte(servetest.VersionCatalog("v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 64<<20+1); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(big, path); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 2*time.Second, "a file over the limit not refused", failures(2))

	servetest.WriteRename(t, path, servetest.VersionCatalog("v3"))
	testutil.WaitFor(t, 2*time.Second, "v3 not served after the FIFO", func() bool {
		got, err := servetest.ServedVersion(http.DefaultClient, s.Base)
		return err == nil && got == "v3"
	})
	for _, want := range []string{
		path + `: a named pipe (FIFO), not a regular file`,
		path + `: larger than 67108864 bytes`,
	} {
		if !strings.Contains(s.Logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, s.Logs.String())
		}
	}
}

// TestReloadAfterChmod runs the server as its own process, as another user
// than the catalog's owner when the test runs as root (root reads any
// file): a catalog saved unreadable is refused, and served once it is
// made readable, with no other change; made unreadable again, it is
// reported once, not at every later event.
func TestReloadAfterChmod(t *testing.T) {
	dir := t.TempDir()
	// The child may run as another user: it needs to reach the
	// directory (t.TempDir's and its parent are private) and run the
	// test binary, which stays under a private build directory.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "mailautoconf.test")
	if data, err := os.ReadFile(os.Args[0]); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	catDir := filepath.Join(dir, "catalog")
	if err := os.Mkdir(catDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(catDir, "catalog.yaml")
	servetest.WriteInPlace(t, path, servetest.VersionCatalog("v1"))
	cfg := testConfig(t)
	cfg.Catalog, cfg.MetricsListen = path, testutil.FreeAddr(t)
	base, metricsBase := "http://"+cfg.Listen, "http://"+cfg.MetricsListen
	cmd := exec.Command(bin)
	cmd.Env = childEnv(t, cfg)
	unreadable := os.FileMode(0o000)
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		unreadable = 0o600 // owned by root: what a deploy step often leaves
	}
	var logs testutil.SyncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "child did not start", func() bool {
		v, err := servetest.ServedVersion(http.DefaultClient, base)
		return err == nil && v == "v1"
	})
	failures := func(want float64) func() bool {
		return func() bool {
			return servetest.MetricValue(t, metricsBase, `mailautoconf_catalog_reloads_total{result="failure"}`) == want
		}
	}
	denied := func() int { return strings.Count(logs.String(), "permission denied") }

	// Saved unreadable, by rename: refused.
	tmp := filepath.Join(catDir, ".catalog.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(servetest.VersionCatalog("v2")), unreadable); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, unreadable); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 2*time.Second, "an unreadable catalog not refused", failures(1))

	// Made readable: served.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	took := testutil.WaitFor(t, 2*time.Second, "catalog made readable not served", func() bool {
		v, err := servetest.ServedVersion(http.DefaultClient, base)
		return err == nil && v == "v2"
	})
	t.Logf("chmod -> served after %v", took)

	// Made unreadable: reported once, however many events follow.
	if err := os.Chmod(path, 0o000); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 2*time.Second, "chmod 000 not reported", failures(2))
	for i := range 3 {
		time.Sleep(300 * time.Millisecond)
		os.Chmod(path, 0o000)
		now := time.Now().Add(time.Duration(i) * time.Second)
		os.Chtimes(path, now, now)
	}
	time.Sleep(500 * time.Millisecond)
	if got := servetest.MetricValue(t, metricsBase, `mailautoconf_catalog_reloads_total{result="failure"}`); got != 2 {
		t.Errorf("failed reloads = %v after repeated events on an unreadable catalog, want 2", got)
	}
	if n := denied(); n != 2 {
		t.Errorf("%d log lines name the permission denied, want 2 (once each time it became unreadable):\n%s", n, logs.String())
	}
	if v, err := servetest.ServedVersion(http.DefaultClient, base); err != nil || v != "v2" {
		t.Errorf("while unreadable: %q, %v; want v2 still served", v, err)
	}
}
