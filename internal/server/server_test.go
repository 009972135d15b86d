package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	// -update: go test ./... -update rewrites golden files, and every test
	// binary must accept the flag.
	"mailautoconf/internal/testutil"
	_ "mailautoconf/internal/testutil/golden"
	"mailautoconf/internal/testutil/servetest"
)

// childConfigEnv makes the test binary run the server instead of the
// tests, with the Config in it as JSON, so that a test gets a real
// process (another user's, say) without building another binary. Not a
// MAILAUTOCONF_ name: the server reads no environment, and this is the
// test's.
const childConfigEnv = "GO_TEST_MAILAUTOCONF_SERVER_CONFIG"

func TestMain(m *testing.M) {
	if js := os.Getenv(childConfigEnv); js != "" {
		var cfg Config
		if err := json.Unmarshal([]byte(js), &cfg); err != nil {
			panic(err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Run(ctx, cfg, os.Stderr)
		stop()
		if err != nil {
			os.Stderr.WriteString("server: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childEnv is the environment of a child running the server with cfg:
// this one's, without any MAILAUTOCONF_ setting.
func childEnv(t *testing.T, cfg Config) []string {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, settingPrefix+"_") {
			out = append(out, kv)
		}
	}
	return append(out, childConfigEnv+"="+string(js))
}

// testConfig is the Config the settings' defaults give (settings.go),
// with the plain listener on a free loopback port and no other.
func testConfig(t *testing.T) Config {
	return Config{
		Listen:                  testutil.FreeAddr(t),
		CatalogWatch:            true,
		LogFormat:               "text",
		LogLevel:                "info",
		LogFlush:                100 * time.Millisecond,
		HeapFloor:               32 << 20,
		RateBurst:               20,
		MaxConnections:          10000,
		MaxConnectionsPerClient: 64,
		AcmeDirectory:           "https://acme-v02.api.letsencrypt.org/directory",
	}
}

// startServer runs the server with testConfig, the metrics listener on a
// free port too, changed by edit (when not nil), until the test ends, and
// waits until it answers.
func startServer(t *testing.T, edit func(*Config)) *servetest.Live {
	t.Helper()
	return startServerLog(t, edit, nil)
}

// startServerLog is startServer with the server's log written to
// logFile too, when it is not nil.
func startServerLog(t *testing.T, edit func(*Config), logFile io.Writer) *servetest.Live {
	t.Helper()
	cfg := testConfig(t)
	cfg.MetricsListen = testutil.FreeAddr(t)
	if edit != nil {
		edit(&cfg)
	}
	return servetest.Start(t, cfg.Listen, cfg.MetricsListen, logFile, func(ctx context.Context, logs io.Writer) error {
		return Run(ctx, cfg, logs)
	})
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
	log := newLogger("text", slog.LevelError, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveAllUntilDone(ctx, log, served{srv: newHTTPServer(h, log), ln: ln}) }()

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
		t.Errorf("serveAllUntilDone = %v", err)
	}
}
