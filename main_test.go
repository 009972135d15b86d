package main

import (
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
	"sync"
	"syscall"
	"testing"
	"time"

	"mailautoconf/provision"
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
	for _, name := range settingNames(&Settings{}) {
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

func TestRender(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"render", "--email", "alice@example.com", "--format", "thunderbird"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := provision.Demo().Lookup("example.com")
	var ref *provision.Catalog // renders without templates
	if want, _ := ref.Thunderbird(nil, p, "example.com", &provision.Address{Local: "alice", Domain: "example.com"}, provision.Options{}); !bytes.Equal(out.Bytes(), want) {
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

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeLifecycle runs the real serve command: it starts on the demo
// catalog, answers, logs the domain but not the address, and stops cleanly
// when its context ends (as on SIGINT/SIGTERM).
func TestServeLifecycle(t *testing.T) {
	addr := freePort(t)
	t.Setenv("MAILAUTOCONF_LISTEN", addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
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

// TestGracefulShutdownFinishesInFlight: a request being handled when
// shutdown begins is answered in full; new connections are refused.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	log := newLogger(&Settings{LogFormat: "text", LogLevel: "error"}, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveUntilDone(ctx, newHTTPServer(h, log), ln, log) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("new connection accepted after shutdown began")
	}
	close(release)
	if body := <-got; body != "finished" {
		t.Errorf("in-flight request got %q", body)
	}
	if err := <-done; err != nil {
		t.Errorf("serveUntilDone = %v", err)
	}
}

// syncBuffer lets the server's logger and the test share a buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mkfifo makes a named pipe. A reader blocked in its open (what the
// tests guard against) is let go at the end of the test by a writer's
// open.
func mkfifo(t *testing.T, name string) string {
	t.Helper()
	if err := syscall.Mkfifo(name, 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(name, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	return name
}

// TestCommandsRefuseFIFO: every command that reads a file given to it
// refuses a named pipe at once, naming it, instead of waiting for a
// writer.
func TestCommandsRefuseFIFO(t *testing.T) {
	fifo := mkfifo(t, filepath.Join(t.TempDir(), "catalog.yaml"))
	want := fifo + ": a named pipe (FIFO), not a regular file"
	for _, args := range [][]string{
		{"check", fifo},
		{"render", "--email", "alice@example.org", "--catalog", fifo},
		{"dns", "--catalog", fifo},
		{"import", fifo},
		{"doctor", "--ca", fifo, "alice@example.org"},
	} {
		var stderr syncBuffer
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
			listen := freePort(t)
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = childEnv(map[string]string{"MAILAUTOCONF_LISTEN": listen})
			var stderr syncBuffer
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
				waitFor(t, 10*time.Second, "serve did not start", func() bool {
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
