package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailautoconf/internal/server"
	"mailautoconf/provision"

	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/servetest"
)

func TestSettingsRefuseMisspeltVariable(t *testing.T) {
	t.Setenv("MAILAUTOCONF_LISTN", ":9999")
	_, err := loadSettings()
	if err == nil || !strings.Contains(err.Error(), "unknown variable MAILAUTOCONF_LISTN") {
		t.Fatalf("loadSettings() = %v, want unknown variable", err)
	}
	if !strings.Contains(err.Error(), "MAILAUTOCONF_LOG_FORMAT") {
		t.Errorf("error does not list the known settings: %v", err)
	}
}

func TestSettingsValues(t *testing.T) {
	t.Setenv("MAILAUTOCONF_LOG_FORMAT", "xml")
	if _, err := loadSettings(); err == nil || !strings.Contains(err.Error(), "want text or json") {
		t.Errorf("LOG_FORMAT=xml: %v", err)
	}
	t.Setenv("MAILAUTOCONF_LOG_FORMAT", "json")
	t.Setenv("MAILAUTOCONF_LOG_LEVEL", "loud")
	if _, err := loadSettings(); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Errorf("LOG_LEVEL=loud: %v", err)
	}
	t.Setenv("MAILAUTOCONF_LOG_LEVEL", "debug")
	s, err := loadSettings()
	if err != nil || s.Listen != ":8080" || s.LogFormat != "json" {
		t.Errorf("loadSettings() = %+v, %v", s, err)
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, name := range settingNames(&server.Config{}) {
		if !strings.Contains(out.String(), name) {
			t.Errorf("help does not mention %s", name)
		}
	}
	for _, want := range []string{"(default :8080)", "mailautoconf check", "mailautoconf render"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

const brokenCatalog = `providers:
  - id: example.org
    domains: [example.org]
    incoming:
      - {protocol: imap, host: imap.example.org, port: 99999, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.example.org, port: 465, security: tls}
`

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	bad := writeFile(t, "catalog.yaml", brokenCatalog)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"check", bad}, &stdout, &stderr)
	if !errors.As(err, new(exitError)) {
		t.Fatalf("check broken catalog = %v, want exit 1", err)
	}
	want := bad + ":5: providers[0].incoming[0].port: 99999 is not a port (1-65535)\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}

	good := writeFile(t, "catalog.yaml", strings.Replace(brokenCatalog, "99999", "993", 1))
	stdout.Reset()
	if err := run(context.Background(), []string{"check", good}, &stdout, io.Discard); err != nil {
		t.Fatalf("check good catalog = %v", err)
	}
	if !strings.Contains(stdout.String(), "ok, 1 providers, 1 domains") {
		t.Errorf("stdout = %q", stdout.String())
	}
	if err := run(context.Background(), []string{"check", filepath.Join(t.TempDir(), "none.yaml")}, io.Discard, io.Discard); err == nil {
		t.Error("check of a missing file succeeded")
	}
}

// TestCheckCountsUnlistedErrors: check prints the first 100 problems and
// how many more there were.
func TestCheckCountsUnlistedErrors(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"check", servetest.ManyErrors(t)}, io.Discard, &stderr); err == nil {
		t.Fatal("check of an invalid catalog succeeded")
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) < 101 || lines[100] != "and 150 more errors, not listed" {
		t.Errorf("check printed %d lines, line 101 %q; want 100 errors, then \"and 150 more errors, not listed\"", len(lines), lines[min(100, len(lines)-1)])
	}
}

func TestRender(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"render", "--email", "alice@example.com", "--format", "thunderbird"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := provision.Demo().Lookup("example.com")
	var ref *provision.Catalog // renders without templates
	if want, _ := ref.Autoconfig(nil, p, "example.com", &provision.Address{Local: "alice", Domain: "example.com"}, provision.Options{}); !bytes.Equal(out.Bytes(), want) {
		t.Errorf("render output differs:\n%s", out.String())
	}
	for _, args := range [][]string{
		{"render"},
		{"render", "--email", "alice@example.com", "--format", "nope"},
		{"render", "--email", "alice@unknown.org"},
		{"render", "--email", "not-an-address"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(context.Background(), []string{"serv"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("run(serv) = %v", err)
	}
}

func TestServeRefusesBrokenCatalog(t *testing.T) {
	bad := writeFile(t, "catalog.yaml", brokenCatalog)
	t.Setenv("MAILAUTOCONF_CATALOG", bad)
	t.Setenv("MAILAUTOCONF_LISTEN", "127.0.0.1:0")
	err := run(context.Background(), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), bad+":5: providers[0].incoming[0].port") {
		t.Fatalf("serve with a broken catalog = %v, want the file:line message", err)
	}
}

// TestServeLifecycle runs the real serve command: it starts on the demo
// catalog, answers, logs the domain but not the address, and stops cleanly
// when its context ends (as on SIGINT/SIGTERM).
func TestServeLifecycle(t *testing.T) {
	addr := testutil.FreeAddr(t)
	t.Setenv("MAILAUTOCONF_LISTEN", addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testutil.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, io.Discard, &logs) }()

	url := "http://" + addr + "/mail/config-v1.1.xml?emailaddress=alice@example.com"
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(url); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<username>alice@example.com</username>")) {
		t.Errorf("GET: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	for _, want := range []string{"serving the embedded demo catalog", "domain=example.com", "shutting down", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "alice@example.com") {
		t.Errorf("full address logged at info level:\n%s", logs.String())
	}
}

// TestCommandsRefuseFIFO: every command that reads a file given to it
// refuses a named pipe at once, naming it, instead of waiting for a
// writer.
func TestCommandsRefuseFIFO(t *testing.T) {
	fifo := testutil.Mkfifo(t, filepath.Join(t.TempDir(), "catalog.yaml"))
	want := fifo + ": a named pipe (FIFO), not a regular file"
	for _, args := range [][]string{
		{"check", fifo},
		{"render", "--email", "alice@example.org", "--catalog", fifo},
		{"dns", "--catalog", fifo},
		{"import", fifo},
		{"doctor", "--ca", fifo, "alice@example.org"},
	} {
		var stderr testutil.SyncBuffer
		done := make(chan error, 1)
		go func() { done <- run(context.Background(), args, io.Discard, &stderr) }()
		select {
		case err := <-done:
			if msg := fmt.Sprint(err) + "\n" + stderr.String(); err == nil || !strings.Contains(msg, "a named pipe (FIFO), not a regular file") ||
				!strings.Contains(msg, fifo) {
				t.Errorf("run(%q) = %v, stderr %q; want %q", args, err, stderr.String(), want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("run(%q): still blocked on the FIFO after 5s", args)
		}
	}
}

// TestCommandsStopOnSignal runs commands as their own processes and
// interrupts them: the doctor waiting on a DNS server that never answers
// (its timeout 30s) ends within the 1 s grace on SIGINT and on SIGTERM,
// serve ends cleanly on SIGINT.
func TestCommandsStopOnSignal(t *testing.T) {
	// A DNS server that reads queries and never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	asked := make(chan struct{}, 100)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case asked <- struct{}{}:
			default:
			}
		}
	}()
	doctor := []string{"doctor", "--resolver", pc.LocalAddr().String(), "--timeout", "30s", "alice@example.org"}
	for _, tt := range []struct {
		name   string
		args   []string
		sig    syscall.Signal
		ok     bool
		stderr string
	}{
		{name: "doctor SIGINT", args: doctor, sig: syscall.SIGINT, stderr: "interrupted"},
		{name: "doctor SIGTERM", args: doctor, sig: syscall.SIGTERM, stderr: "interrupted"},
		{name: "serve SIGINT", args: []string{"serve"}, sig: syscall.SIGINT, ok: true, stderr: "msg=stopped"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			listen := testutil.FreeAddr(t)
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = childEnv(map[string]string{"MAILAUTOCONF_LISTEN": listen})
			var stderr testutil.SyncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
					<-exited
				}
			}()
			if tt.args[0] == "doctor" {
				for len(asked) > 0 {
					<-asked
				}
				select {
				case <-asked:
				case <-time.After(10 * time.Second):
					t.Fatalf("the doctor asked no DNS question:\n%s", stderr.String())
				}
			} else {
				testutil.WaitFor(t, 10*time.Second, "serve did not start", func() bool {
					resp, err := http.Get("http://" + listen + "/healthz")
					if err == nil {
						resp.Body.Close()
					}
					return err == nil
				})
			}
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				t.Logf("%s: exited after %v: %v", tt.name, time.Since(start).Round(time.Millisecond), err)
				if (err == nil) != tt.ok {
					t.Errorf("exit: %v, want success %v; stderr:\n%s", err, tt.ok, stderr.String())
				}
				if !strings.Contains(stderr.String(), tt.stderr) {
					t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("still running 5s after %v; stderr:\n%s", tt.sig, stderr.String())
			}
		})
	}
}

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

// startServing runs the serve command with the given settings, the
// listener and the metrics listener on free loopback ports, until the
// test ends, and waits until it answers.
func startServing(t *testing.T, env map[string]string) *servetest.Live {
	t.Helper()
	listen, metrics := testutil.FreeAddr(t), testutil.FreeAddr(t)
	t.Setenv("MAILAUTOCONF_LISTEN", listen)
	t.Setenv("MAILAUTOCONF_METRICS_LISTEN", metrics)
	for k, v := range env {
		t.Setenv(k, v)
	}
	return servetest.Start(t, listen, metrics, nil, func(ctx context.Context, logs io.Writer) error {
		return run(ctx, []string{"serve"}, io.Discard, logs)
	})
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
	servetest.WriteInPlace(t, path, servetest.VersionCatalog("v1"))
	listen, metrics := testutil.FreeAddr(t), testutil.FreeAddr(t)
	base := "http://" + listen
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = childEnv(map[string]string{
		"MAILAUTOCONF_CATALOG":        path,
		"MAILAUTOCONF_CATALOG_WATCH":  "false",
		"MAILAUTOCONF_LISTEN":         listen,
		"MAILAUTOCONF_METRICS_LISTEN": metrics,
	})
	var logs testutil.SyncBuffer
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
	testutil.WaitFor(t, 10*time.Second, "child did not start", func() bool {
		v, err := servetest.ServedVersion(http.DefaultClient, base)
		return err == nil && v == "v1"
	})

	servetest.WriteInPlace(t, path, servetest.VersionCatalog("v2"))
	time.Sleep(500 * time.Millisecond) // twice internal/server's reload debounce
	if v, _ := servetest.ServedVersion(http.DefaultClient, base); v != "v1" {
		t.Errorf("with CATALOG_WATCH=false an edit was served without SIGHUP: %s", v)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	took := testutil.WaitFor(t, 2*time.Second, "SIGHUP did not reload", func() bool {
		v, err := servetest.ServedVersion(http.DefaultClient, base)
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
	testutil.WaitFor(t, 5*time.Second, "listener still accepting after SIGTERM", func() bool {
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

// TestServeCatalogDirWithSpecialFiles: a FIFO and a link to /dev/zero
// beside the catalog files, which Load does not read, neither stop serve
// from starting nor the reloads; a FIFO named like a catalog file is
// refused by name, and its removal reloads.
func TestServeCatalogDirWithSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	servetest.WriteInPlace(t, filepath.Join(dir, "a.yaml"), servetest.VersionCatalog("v1"))
	testutil.Mkfifo(t, filepath.Join(dir, "events"))
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", dir}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "ok") {
		t.Errorf("check = %v, %s", err, out.String())
	}
	s := startServing(t, map[string]string{"MAILAUTOCONF_CATALOG": dir})
	pipe := testutil.Mkfifo(t, filepath.Join(dir, "pipe.yaml"))
	testutil.WaitFor(t, 2*time.Second, "pipe.yaml not refused", func() bool {
		return servetest.MetricValue(t, s.Metrics, `mailautoconf_catalog_reloads_total{result="failure"}`) == 1
	})
	want := pipe + ": a named pipe (FIFO), not a regular file"
	testutil.WaitFor(t, time.Second, "log lacks "+want, func() bool { return strings.Contains(s.Logs.String(), want) })
	if err := os.Remove(pipe); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 2*time.Second, "no reload after pipe.yaml was removed", func() bool {
		return servetest.MetricValue(t, s.Metrics, `mailautoconf_catalog_reloads_total{result="success"}`) == 1
	})
	servetest.WriteInPlace(t, filepath.Join(dir, "a.yaml"), servetest.VersionCatalog("v2"))
	testutil.WaitFor(t, 2*time.Second, "v2 not served", func() bool {
		got, err := servetest.ServedVersion(http.DefaultClient, s.Base)
		return err == nil && got == "v2"
	})
}

// TestHealthcheck: the container HEALTHCHECK command against a running
// serve: its /healthz by default (MAILAUTOCONF_LISTEN on the loopback
// address), a URL given, and a failure once it has stopped.
func TestHealthcheck(t *testing.T) {
	s := startServing(t, nil)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"healthcheck"}, &out, io.Discard); err != nil || out.String() != "ok\n" {
		t.Errorf("healthcheck = %v, %q", err, out.String())
	}
	if err := run(context.Background(), []string{"healthcheck", s.Metrics + "/readyz"}, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck of the metrics listener's /readyz = %v", err)
	}
	s.Stop()
	if err := run(context.Background(), []string{"healthcheck"}, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck succeeded with the server stopped")
	}
}

func TestLoopback(t *testing.T) {
	for in, want := range map[string]string{
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:80":     "127.0.0.1:80",
		"[::]:8080":      "[::1]:8080",
		"10.1.2.3:8080":  "10.1.2.3:8080",
		"localhost:8080": "localhost:8080",
	} {
		if got, err := loopback(in); err != nil || got != want {
			t.Errorf("loopback(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := loopback("8080"); err == nil {
		t.Error("loopback(8080) succeeded")
	}
}
