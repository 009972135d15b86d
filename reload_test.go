package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runMainEnv makes the test binary run the real main() instead of the
// tests, so that process-level tests get a real process with real signal
// handling without building another binary. Not a MAILAUTOCONF_ name:
// those are settings, and unknown ones are refused.
const runMainEnv = "GO_TEST_MAILAUTOCONF_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// versionCatalog is a catalog whose servers name version v, so that an
// answer shows which catalog served it. The incoming server is on line 5.
func versionCatalog(v string) string {
	return fmt.Sprintf(`providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap-%s.example.org, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp-%s.example.org, port: 465, security: tls}
`, v, v)
}

// invalidCatalog is versionCatalog(v) with a port out of range on line 5.
func invalidCatalog(v string) string {
	return strings.Replace(versionCatalog(v), "port: 993", "port: 99999", 1)
}

var (
	incomingVersion = regexp.MustCompile(`<hostname>imap-(v[0-9]+)\.example\.org</hostname>`)
	outgoingVersion = regexp.MustCompile(`<hostname>smtp-(v[0-9]+)\.example\.org</hostname>`)
)

// servedVersion asks the autoconfig URL and returns the catalog version of
// a whole, consistent answer, or an error for anything else.
func servedVersion(client *http.Client, base string) (string, error) {
	resp, err := client.Get(base + "/mail/config-v1.1.xml?emailaddress=alice@example.org")
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	in, out := incomingVersion.FindSubmatch(body), outgoingVersion.FindSubmatch(body)
	if in == nil || out == nil || string(in[1]) != string(out[1]) {
		return "", fmt.Errorf("answer from no single catalog: %.400s", body)
	}
	return string(in[1]), nil
}

// waitFor polls cond every 10ms until it holds or timeout passes, and
// returns how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// metricValue reads one sample from a /metrics page, -1 when absent.
func metricValue(t *testing.T, metricsBase, sample string) float64 {
	t.Helper()
	resp, err := http.Get(metricsBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v
		}
	}
	return -1
}

// liveServer is a serve command running in this process.
type liveServer struct {
	base, metrics string
	logs          *syncBuffer
	stop          func()
}

// startServing runs the serve command with the given settings (listeners
// on free loopback ports) until the test ends, and waits until it answers.
func startServing(t *testing.T, env map[string]string) *liveServer {
	t.Helper()
	return startServingLog(t, env, nil)
}

// startServingLog is startServing with the service's log written to
// logFile too, when it is not nil.
func startServingLog(t *testing.T, env map[string]string, logFile io.Writer) *liveServer {
	t.Helper()
	s := &liveServer{logs: &syncBuffer{}}
	var logs io.Writer = s.logs
	if logFile != nil {
		logs = io.MultiWriter(s.logs, logFile)
	}
	listen, metrics := freePort(t), freePort(t)
	s.base, s.metrics = "http://"+listen, "http://"+metrics
	t.Setenv("MAILAUTOCONF_LISTEN", listen)
	t.Setenv("MAILAUTOCONF_METRICS_LISTEN", metrics)
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, io.Discard, logs) }()
	s.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			s.stop()
		}
	})
	// The listeners are open before the service answers on them: a
	// request without a timeout would wait for ever on one that never
	// does.
	probe := &http.Client{Timeout: time.Second}
	waitFor(t, 5*time.Second, "server did not start", func() bool {
		resp, err := probe.Get(s.metrics + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// writeInPlace rewrites a file in place: truncate, then write, as shell
// redirection and many tools do.
func writeInPlace(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRename writes a new file beside path and renames it over path, as
// editors and configuration tools do.
func writeRename(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

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
				v, err := servedVersion(c, base)
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
	writeInPlace(t, path, versionCatalog("v1"))
	s := startServing(t, map[string]string{"MAILAUTOCONF_CATALOG": path})
	l := startLoad(s.base, 3)

	served := func(want string) func() bool {
		return func() bool { v, err := servedVersion(http.DefaultClient, s.base); return err == nil && v == want }
	}
	failures := func(want float64) func() bool {
		return func() bool {
			return metricValue(t, s.metrics, `mailautoconf_catalog_reloads_total{result="failure"}`) == want
		}
	}
	time.Sleep(200 * time.Millisecond)

	writeInPlace(t, path, versionCatalog("v2"))
	took := waitFor(t, 2*time.Second, "in-place edit v2 not served", served("v2"))
	t.Logf("in-place edit served after %v", took)

	writeRename(t, path, invalidCatalog("v3"))
	waitFor(t, 2*time.Second, "invalid catalog not refused", failures(1))
	writeInPlace(t, path, "")
	waitFor(t, 2*time.Second, "empty catalog not refused", failures(2))
	time.Sleep(300 * time.Millisecond) // the old catalog keeps answering
	if v, err := servedVersion(http.DefaultClient, s.base); err != nil || v != "v2" {
		t.Errorf("after refused catalogs: %q, %v; want v2", v, err)
	}
	if got := metricValue(t, s.metrics, "mailautoconf_catalog_last_reload_successful"); got != 0 {
		t.Errorf("last_reload_successful = %v after a refusal, want 0", got)
	}

	writeRename(t, path, versionCatalog("v4"))
	took = waitFor(t, 2*time.Second, "renamed-over v4 not served", served("v4"))
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
		got := metricValue(t, s.metrics, sample)
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
	s.stop()
	logs := s.logs.String()
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
			cm := newConfigMap(t, map[string]string{"catalog.yaml": versionCatalog("v1")})
			path := filepath.Join(cm.dir, "catalog.yaml")
			if asDir {
				path = cm.dir
			}
			s := startServing(t, map[string]string{"MAILAUTOCONF_CATALOG": path})
			for i, v := range []string{"v2", "v3", "bad", "v5", "v6"} {
				if v == "bad" {
					cm.update(map[string]string{"catalog.yaml": invalidCatalog("v4")})
					waitFor(t, 2*time.Second, "broken ConfigMap version not refused", func() bool {
						return metricValue(t, s.metrics, `mailautoconf_catalog_reloads_total{result="failure"}`) == 1
					})
					continue
				}
				cm.update(map[string]string{"catalog.yaml": versionCatalog(v)})
				took := waitFor(t, 2*time.Second, fmt.Sprintf("swap %d (%s) not served", i+1, v), func() bool {
					got, err := servedVersion(http.DefaultClient, s.base)
					return err == nil && got == v
				})
				t.Logf("swap %d served after %v", i+1, took)
			}
			if got := metricValue(t, s.metrics, `mailautoconf_catalog_reloads_total{result="success"}`); got != 4 {
				t.Errorf("successful reloads = %v, want 4", got)
			}
			if !strings.Contains(s.logs.String(), `:5: providers[0].incoming[0].port: 99999 is not a port (1-65535)`) {
				t.Errorf("log lacks the broken version's file:line message:\n%s", s.logs.String())
			}
		})
	}
}

// childEnv is the environment for a child serve process: this one's
// without any MAILAUTOCONF_ setting, plus env.
func childEnv(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix+"_") {
			out = append(out, kv)
		}
	}
	out = append(out, runMainEnv+"=1")
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// TestProcessSignals runs the program as its own process, as systemd and
// Kubernetes do: with CATALOG_WATCH=false an edit waits for SIGHUP, which
// reloads it; on SIGTERM a request being handled (an Autodiscover POST
// whose body is still arriving) is answered in full, new connections are
// refused, and the process exits 0.
func TestProcessSignals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.yaml")
	writeInPlace(t, path, versionCatalog("v1"))
	listen, metrics := freePort(t), freePort(t)
	base := "http://" + listen
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = childEnv(map[string]string{
		"MAILAUTOCONF_CATALOG":        path,
		"MAILAUTOCONF_CATALOG_WATCH":  "false",
		"MAILAUTOCONF_LISTEN":         listen,
		"MAILAUTOCONF_METRICS_LISTEN": metrics,
	})
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, 10*time.Second, "child did not start", func() bool {
		v, err := servedVersion(http.DefaultClient, base)
		return err == nil && v == "v1"
	})

	writeInPlace(t, path, versionCatalog("v2"))
	time.Sleep(2 * reloadDebounce)
	if v, _ := servedVersion(http.DefaultClient, base); v != "v1" {
		t.Errorf("with CATALOG_WATCH=false an edit was served without SIGHUP: %s", v)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 2*time.Second, "SIGHUP did not reload", func() bool {
		v, err := servedVersion(http.DefaultClient, base)
		return err == nil && v == "v2"
	})
	t.Logf("SIGHUP reload served after %v", took)

	// A slow client: headers and half the body, then SIGTERM.
	body := `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.org</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
`
	conns := make([]net.Conn, 3)
	readers := make([]*bufio.Reader, 3)
	for i := range conns {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A first request on the connection proves the server has
		// accepted it: one still in the kernel's backlog when the
		// listener closes would be reset, and is not in flight.
		readers[i] = bufio.NewReader(c)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: autoconfig.example.org\r\n\r\n")
		resp, err := http.ReadResponse(readers[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(c, "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.org\r\nContent-Type: text/xml\r\nContent-Length: %d\r\nUser-Agent: Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17726; Pro)\r\n\r\n", len(body))
		io.WriteString(c, body[:len(body)/2])
		conns[i] = c
	}
	time.Sleep(200 * time.Millisecond) // the handlers are reading the bodies
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "listener still accepting after SIGTERM", func() bool {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	for i, c := range conns {
		io.WriteString(c, body[len(body)/2:])
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(readers[i], nil)
		if err != nil {
			t.Errorf("in-flight request %d: %v", i, err)
			continue
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), "<Server>imap-v2.example.org</Server>") {
			t.Errorf("in-flight request %d: %d %v %.300s", i, resp.StatusCode, err, answer)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("process exited with %v; log:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit after SIGTERM")
	}
	for _, want := range []string{`msg="catalog reloaded" trigger=SIGHUP`, "shutting down: finishing in-flight requests", "msg=stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
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
			writeInPlace(t, file, versionCatalog("v1"))
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
			s := startServingLog(t, map[string]string{"MAILAUTOCONF_CATALOG": path, "MAILAUTOCONF_LOG_LEVEL": "debug"}, logFile)
			l := startLoad(s.base, 3)
			defer l.finish()
			reloads := func() float64 {
				return metricValue(t, s.metrics, `mailautoconf_catalog_reloads_total{result="success"}`)
			}
			time.Sleep(1500 * time.Millisecond)
			if n := reloads(); n != 0 {
				t.Errorf("%v reloads in 1.5 s while only the logs changed", n)
			}
			var took []time.Duration
			for i := 2; i <= 6; i++ {
				v := fmt.Sprintf("v%d", i)
				if i%2 == 0 {
					writeInPlace(t, file, versionCatalog(v))
				} else {
					writeRename(t, file, versionCatalog(v))
				}
				took = append(took, waitFor(t, 2*time.Second, v+" not served", func() bool {
					got, err := servedVersion(http.DefaultClient, s.base)
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
	writeInPlace(t, filepath.Join(dir, "catalog.yaml"), versionCatalog("v1"))
	logFile, err := os.Create(filepath.Join(dir, "mailautoconf.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	s := startServingLog(t, map[string]string{"MAILAUTOCONF_CATALOG": dir}, logFile)
	// One request, so that the log has a line after start.
	if v, err := servedVersion(http.DefaultClient, s.base); err != nil || v != "v1" {
		t.Fatalf("servedVersion = %q, %v", v, err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := metricValue(t, s.metrics, `mailautoconf_catalog_reloads_total{result="success"}`); n != 0 {
		t.Errorf("%v reloads in 1.5 s while only the service's log changed", n)
	}
}

// TestReloadSteadyRewrites: a tool replacing the catalog every 20 ms (by
// rename, so that no read finds it half-written) leaves it never quiet
// for 250 ms; each new content is still served within 2 s.
func TestReloadSteadyRewrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	writeInPlace(t, path, versionCatalog("v1"))
	s := startServing(t, map[string]string{"MAILAUTOCONF_CATALOG": path})
	var mu sync.Mutex
	content := versionCatalog("v1")
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
		content = versionCatalog(v)
		mu.Unlock()
		took = append(took, waitFor(t, 2*time.Second, v+" not served while the file is replaced every 20 ms", func() bool {
			got, err := servedVersion(http.DefaultClient, s.base)
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
	writeInPlace(t, path, versionCatalog("v1"))
	s := startServing(t, map[string]string{"MAILAUTOCONF_CATALOG": path})
	failures := func(want float64) func() bool {
		return func() bool {
			return metricValue(t, s.metrics, `mailautoconf_catalog_reloads_total{result="failure"}`) == want
		}
	}
	fifo := mkfifo(t, filepath.Join(dir, ".catalog.fifo"))
	if err := os.Rename(fifo, path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "a FIFO over the catalog not refused", failures(1))
	if got := metricValue(t, s.metrics, "mailautoconf_catalog_last_reload_successful"); got != 0 {
		t.Errorf("last_reload_successful = %v after a FIFO, want 0", got)
	}

	big := filepath.Join(dir, ".catalog.big")
	if err := os.WriteFile(big, []byte(versionCatalog("v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 64<<20+1); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(big, path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "a file over the limit not refused", failures(2))

	writeRename(t, path, versionCatalog("v3"))
	waitFor(t, 2*time.Second, "v3 not served after the FIFO", func() bool {
		got, err := servedVersion(http.DefaultClient, s.base)
		return err == nil && got == "v3"
	})
	for _, want := range []string{
		path + `: a named pipe (FIFO), not a regular file`,
		path + `: larger than 67108864 bytes`,
	} {
		if !strings.Contains(s.logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, s.logs.String())
		}
	}
}

// TestServeCatalogDirWithSpecialFiles: a FIFO and a link to /dev/zero
// beside the catalog files, which Load does not read, neither stop serve
// from starting nor the reloads; a FIFO named like a catalog file is
// refused by name, and its removal reloads.
func TestServeCatalogDirWithSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	writeInPlace(t, filepath.Join(dir, "a.yaml"), versionCatalog("v1"))
	mkfifo(t, filepath.Join(dir, "events"))
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", dir}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "ok") {
		t.Errorf("check = %v, %s", err, out.String())
	}
	s := startServing(t, map[string]string{"MAILAUTOCONF_CATALOG": dir})
	pipe := mkfifo(t, filepath.Join(dir, "pipe.yaml"))
	waitFor(t, 2*time.Second, "pipe.yaml not refused", func() bool {
		return metricValue(t, s.metrics, `mailautoconf_catalog_reloads_total{result="failure"}`) == 1
	})
	want := pipe + ": a named pipe (FIFO), not a regular file"
	waitFor(t, time.Second, "log lacks "+want, func() bool { return strings.Contains(s.logs.String(), want) })
	if err := os.Remove(pipe); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "no reload after pipe.yaml was removed", func() bool {
		return metricValue(t, s.metrics, `mailautoconf_catalog_reloads_total{result="success"}`) == 1
	})
	writeInPlace(t, filepath.Join(dir, "a.yaml"), versionCatalog("v2"))
	waitFor(t, 2*time.Second, "v2 not served", func() bool {
		got, err := servedVersion(http.DefaultClient, s.base)
		return err == nil && got == "v2"
	})
}

// TestReloadAfterChmod runs serve as its own process, as another user
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
	writeInPlace(t, path, versionCatalog("v1"))
	listen, metrics := freePort(t), freePort(t)
	base, metricsBase := "http://"+listen, "http://"+metrics
	cmd := exec.Command(bin, "serve")
	cmd.Env = childEnv(map[string]string{
		"MAILAUTOCONF_CATALOG":        path,
		"MAILAUTOCONF_LISTEN":         listen,
		"MAILAUTOCONF_METRICS_LISTEN": metrics,
	})
	unreadable := os.FileMode(0o000)
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		unreadable = 0o600 // owned by root: what a deploy step often leaves
	}
	var logs syncBuffer
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
	waitFor(t, 10*time.Second, "child did not start", func() bool {
		v, err := servedVersion(http.DefaultClient, base)
		return err == nil && v == "v1"
	})
	failures := func(want float64) func() bool {
		return func() bool {
			return metricValue(t, metricsBase, `mailautoconf_catalog_reloads_total{result="failure"}`) == want
		}
	}
	denied := func() int { return strings.Count(logs.String(), "permission denied") }

	// Saved unreadable, by rename: refused.
	tmp := filepath.Join(catDir, ".catalog.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(versionCatalog("v2")), unreadable); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, unreadable); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "an unreadable catalog not refused", failures(1))

	// Made readable: served.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 2*time.Second, "catalog made readable not served", func() bool {
		v, err := servedVersion(http.DefaultClient, base)
		return err == nil && v == "v2"
	})
	t.Logf("chmod -> served after %v", took)

	// Made unreadable: reported once, however many events follow.
	if err := os.Chmod(path, 0o000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "chmod 000 not reported", failures(2))
	for i := range 3 {
		time.Sleep(300 * time.Millisecond)
		os.Chmod(path, 0o000)
		now := time.Now().Add(time.Duration(i) * time.Second)
		os.Chtimes(path, now, now)
	}
	time.Sleep(500 * time.Millisecond)
	if got := metricValue(t, metricsBase, `mailautoconf_catalog_reloads_total{result="failure"}`); got != 2 {
		t.Errorf("failed reloads = %v after repeated events on an unreadable catalog, want 2", got)
	}
	if n := denied(); n != 2 {
		t.Errorf("%d log lines name the permission denied, want 2 (once each time it became unreadable):\n%s", n, logs.String())
	}
	if v, err := servedVersion(http.DefaultClient, base); err != nil || v != "v2" {
		t.Errorf("while unreadable: %q, %v; want v2 still served", v, err)
	}
}
