package certs_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mailautoconf/internal/certs"
	"mailautoconf/internal/certstore"
	"mailautoconf/internal/certstore/certstoretest"
	"mailautoconf/internal/testutil"
	"mailautoconf/internal/testutil/pebbletest"
)

// A replica is this test binary run again as a process of its own
// (TestMain), with its own listeners on loopback ports and the shared
// storage: killing it is a replica dying, without Unlock.
func TestMain(m *testing.M) {
	if c := os.Getenv("MAILAUTOCONF_TEST_REPLICA"); c != "" {
		runReplica(c)
		return
	}
	os.Exit(m.Run())
}

type replicaConfig struct {
	Directory, CARoots, Storage string
	HTTPPort, TLSPort           int
	Names                       []string
	OnDemand                    bool
	LockTTL, RenewCheck         time.Duration
	DisableARI                  bool
}

// runReplica serves as one replica of mailautoconf would, logging JSON to
// stdout, and takes new name sets from stdin, one line of names each.
func runReplica(conf string) {
	var c replicaConfig
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "replica:", err)
		os.Exit(2)
	}
	if err := json.Unmarshal([]byte(conf), &c); err != nil {
		fail(err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := certstore.Open(c.Storage, "", certstore.Options{LockTTL: c.LockTTL, LockPoll: 100 * time.Millisecond, Log: log})
	if err != nil {
		fail(err)
	}
	pl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.HTTPPort))
	if err != nil {
		fail(err)
	}
	tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.TLSPort))
	if err != nil {
		fail(err)
	}
	m, err := certs.NewManager(certs.ACMEOptions{
		Storage: st, Directory: c.Directory, Email: "admin@example.org", CARoots: c.CARoots,
		HTTPAddr: pl.Addr(), TLSAddr: tl.Addr(), Log: log, OnDemand: c.OnDemand,
		RenewCheckInterval: c.RenewCheck, DisableARI: c.DisableARI,
	})
	if err != nil {
		fail(err)
	}
	go (&http.Server{Handler: m.HTTPHandler(http.NotFoundHandler()), ErrorLog: quiet}).Serve(pl)
	go (&http.Server{Handler: http.NotFoundHandler(), TLSConfig: certs.TLSConfig(m), ErrorLog: quiet}).ServeTLS(tl, "", "")
	m.SetNames(c.Names)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		m.SetNames(strings.Fields(in.Text()))
	}
	select {} // until killed
}

// cluster is three replicas behind a forwarder on Pebble's validation
// ports that sends every validation to a replica other than the one that
// placed the order.
type cluster struct {
	t    *testing.T
	p    *pebbletest.Pebble
	pool *x509.CertPool // Pebble's root
	reps []*replica

	mu        sync.Mutex
	orderers  map[string][]int // by name: the replicas that started an order or a renewal, in order
	forwarded map[string][]int // by name: the replicas validations went to
	// onValidation, when set, is called with a validation's name and
	// its orderer before it is forwarded.
	onValidation func(name string, orderer int)
}

type replica struct {
	idx               int
	cmd               *exec.Cmd
	stdin             io.WriteCloser
	httpPort, tlsPort int
	out               bytes.Buffer // its log, under cluster.mu
	dead              bool         // under cluster.mu
}

const replicaLockTTL = 2 * time.Second

func startCluster(t *testing.T, p *pebbletest.Pebble, storage string, names []string, tweak func(*replicaConfig)) *cluster {
	c := &cluster{t: t, p: p, pool: p.RootPool(t), orderers: map[string][]int{}, forwarded: map[string][]int{}}
	c.forward(p.HTTPPort, false)
	c.forward(p.TLSPort, true)
	for i := range 3 {
		r := &replica{idx: i, httpPort: testutil.FreePort(t), tlsPort: testutil.FreePort(t)}
		conf := replicaConfig{Directory: p.Directory, CARoots: p.APIRoots, Storage: storage,
			HTTPPort: r.httpPort, TLSPort: r.tlsPort, Names: names, LockTTL: replicaLockTTL}
		if tweak != nil {
			tweak(&conf)
		}
		b, _ := json.Marshal(conf)
		r.cmd = exec.Command(os.Args[0], "-test.run=^$")
		r.cmd.Env = append(os.Environ(), "MAILAUTOCONF_TEST_REPLICA="+string(b))
		r.cmd.Stderr = testWriter{t}
		stdout, err := r.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if r.stdin, err = r.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go c.follow(r, stdout)
		c.reps = append(c.reps, r)
		t.Cleanup(func() {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, r := range c.reps {
				t.Logf("replica %d log:\n%s", r.idx, r.out.String())
			}
		}
	})
	return c
}

// follow reads a replica's log, noting who orders what.
func (c *cluster) follow(r *replica, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Msg        string `json:"msg"`
			Identifier string `json:"identifier"`
		}
		_ = json.Unmarshal(sc.Bytes(), &line)
		c.mu.Lock()
		r.out.Write(sc.Bytes())
		r.out.WriteByte('\n')
		if line.Msg == "obtaining certificate" || line.Msg == "renewing certificate" {
			c.orderers[line.Identifier] = append(c.orderers[line.Identifier], r.idx)
		}
		c.mu.Unlock()
	}
}

// kill ends replica i as a crash would: no Unlock, no refresh.
func (c *cluster) kill(i int) {
	c.mu.Lock()
	c.reps[i].dead = true
	c.mu.Unlock()
	c.reps[i].cmd.Process.Kill()
}

// setNames gives every live replica a new name set, as a catalog reload.
func (c *cluster) setNames(names []string) {
	for _, r := range c.reps {
		c.mu.Lock()
		dead := r.dead
		c.mu.Unlock()
		if !dead {
			fmt.Fprintln(r.stdin, strings.Join(names, " "))
		}
	}
}

// errPeeked ends the handshake that only reads a ClientHello's name.
var errPeeked = errors.New("peeked")

// recorder keeps what is read from a connection so that it can be
// replayed to the replica.
type recorder struct {
	net.Conn
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

func (r *recorder) Write(p []byte) (int, error) { return len(p), nil } // the peek's alert goes nowhere

// forward accepts Pebble's validations on port and sends each to a live
// replica other than the name's last orderer.
func (c *cluster) forward(port int, isTLS bool) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.handle(conn, isTLS)
		}
	}()
}

func (c *cluster) handle(conn net.Conn, isTLS bool) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rec := &recorder{Conn: conn}
	var name string
	if isTLS {
		_ = tls.Server(rec, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			name = h.ServerName
			return nil, errPeeked
		}}).Handshake()
	} else if req, err := http.ReadRequest(bufio.NewReader(rec)); err == nil {
		name, _, _ = strings.Cut(req.Host, ":")
	}
	conn.SetReadDeadline(time.Time{})
	if name == "" {
		return
	}
	// The order is placed after its orderer logged it: wait for the log.
	var orderer int
	if !testutil.Poll(c.t.Context(), 5*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		o := c.orderers[name]
		if len(o) > 0 {
			orderer = o[len(o)-1]
		}
		return len(o) > 0
	}) {
		return
	}
	if c.onValidation != nil {
		c.onValidation(name, orderer)
	}
	c.mu.Lock()
	target := -1
	for d := 1; d < len(c.reps); d++ {
		if j := (orderer + d) % len(c.reps); !c.reps[j].dead {
			target = j
			break
		}
	}
	if target >= 0 {
		c.forwarded[name] = append(c.forwarded[name], target)
	}
	c.mu.Unlock()
	if target < 0 {
		return
	}
	port := c.reps[target].httpPort
	if isTLS {
		port = c.reps[target].tlsPort
	}
	up, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return
	}
	defer up.Close()
	if _, err := up.Write(rec.buf.Bytes()); err != nil {
		return
	}
	go io.Copy(up, conn)
	io.Copy(conn, up)
}

// serial is the serial number of the certificate replica i serves for
// name, verified against Pebble's root.
func (c *cluster) serial(i int, name string) (string, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", c.reps[i].tlsPort),
		&tls.Config{ServerName: name, RootCAs: c.pool})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// waitServed waits until every live replica serves name with a serial
// other than not, and returns the serial and when each replica first
// served it.
func (c *cluster) waitServed(name, not string, timeout time.Duration) (string, []time.Time) {
	c.t.Helper()
	first := make([]time.Time, len(c.reps))
	serials := make([]string, len(c.reps))
	ok := testutil.Poll(c.t.Context(), timeout, func() bool {
		done := true
		for i, r := range c.reps {
			c.mu.Lock()
			dead := r.dead
			c.mu.Unlock()
			if dead {
				continue
			}
			if first[i].IsZero() {
				if s, err := c.serial(i, name); err == nil && s != not {
					first[i], serials[i] = time.Now(), s
				}
			}
			done = done && !first[i].IsZero()
		}
		return done
	})
	if !ok {
		c.t.Fatalf("after %v, not every replica serves %s (first served at %v)", timeout, name, first)
	}
	var serial string
	for i, s := range serials {
		if s == "" {
			continue
		}
		if serial != "" && s != serial {
			c.t.Errorf("%s: replica %d serves serial %s, another %s: want one certificate", name, i, s, serial)
		}
		serial = s
	}
	return serial, first
}

// spread is the time between the first and last replica serving.
func spread(ts []time.Time) time.Duration {
	var lo, hi time.Time
	for _, t := range ts {
		if t.IsZero() {
			continue
		}
		if lo.IsZero() || t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	return hi.Sub(lo)
}

func (c *cluster) ordersOf(name string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.orderers[name])
}

func (c *cluster) forwardedOf(name string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.forwarded[name])
}

var storages = []struct {
	name string
	url  func(testing.TB) string
}{
	{"postgres", certstoretest.PostgresURL},
	{"redis", certstoretest.RedisURL},
}

// TestReplicasOrderOnceAndAnswerEachOthersChallenges: three replica
// processes sharing a storage order each name once, although Pebble's
// validations never reach the replica that ordered; all three serve the
// one certificate within seconds. The ordering replica killed mid-order
// holds the name up for about the lock's expiry, no more.
func TestReplicasOrderOnceAndAnswerEachOthersChallenges(t *testing.T) {
	for _, st := range storages {
		t.Run(st.name, func(t *testing.T) {
			storage := st.url(t)
			p := pebbletest.Start(t, testutil.FreePort(t), testutil.FreePort(t))
			names := []string{"autoconfig.a.example", "autodiscover.a.example", "autoconfig.b.example", "autodiscover.b.example"}
			start := time.Now()
			c := startCluster(t, p, storage, names, nil)
			for _, n := range names {
				_, first := c.waitServed(n, "", issueTimeout)
				if d := spread(first); d > 5*time.Second {
					t.Errorf("%s: the last replica served it %v after the first, want within a few seconds", n, d)
				}
				if o := c.ordersOf(n); len(o) != 1 {
					t.Errorf("%s: ordered by replicas %v, want exactly one order", n, o)
				}
				fw := c.forwardedOf(n)
				if len(fw) == 0 {
					t.Errorf("%s: no validation went through the forwarder", n)
				}
				if o := c.ordersOf(n); len(o) > 0 && slices.Contains(fw, o[0]) {
					t.Errorf("%s: a validation reached the ordering replica %d (forwarded to %v)", n, o[0], fw)
				}
			}
			if got := p.Orders(); got != len(names) {
				t.Errorf("Pebble got %d orders for %d names, want one each", got, len(names))
			}
			t.Logf("%d names served by 3 replicas in %v", len(names), time.Since(start).Round(time.Millisecond))

			// A new name whose orderer dies once its validation starts.
			killed := "autoconfig.killed.example"
			var killedAt time.Time
			victim := -1
			c.onValidation = func(name string, orderer int) {
				c.mu.Lock()
				first := name == killed && victim < 0
				if first {
					victim = orderer
				}
				c.mu.Unlock()
				if first {
					c.kill(orderer)
					killedAt = time.Now()
				}
			}
			before := p.Orders()
			c.setNames(append(names, killed))
			_, first := c.waitServed(killed, "", issueTimeout)
			took := time.Since(killedAt)
			for _, ts := range first {
				if !ts.IsZero() && ts.Sub(killedAt) < took {
					took = ts.Sub(killedAt)
				}
			}
			t.Logf("orderer %d killed mid-order; another replica served %s %v later (lock expiry %v)", victim, killed, took.Round(time.Millisecond), replicaLockTTL)
			if took > replicaLockTTL+15*time.Second {
				t.Errorf("%s served %v after its orderer died, want about the lock expiry %v", killed, took, replicaLockTTL)
			}
			o := c.ordersOf(killed)
			if len(o) != 2 || o[0] != victim || o[1] == victim {
				t.Errorf("%s: ordered by %v, want the killed replica %d, then one other", killed, o, victim)
			}
			if got := p.Orders() - before; got != 2 {
				t.Errorf("Pebble got %d orders for %s, want 2 (the abandoned one and one more)", got, killed)
			}
		})
	}
}

// TestReplicasPickUpARenewal: short-lived certificates, due for renewal
// at the same moment on the three replicas: one renews, the others load
// its certificate.
func TestReplicasPickUpARenewal(t *testing.T) {
	storage := certstoretest.PostgresURL(t)
	const validity = 30 * time.Second
	p := pebbletest.StartWith(t, testutil.FreePort(t), testutil.FreePort(t), pebbletest.Options{Validity: validity})
	name := "autoconfig.renew.example"
	c := startCluster(t, p, storage, []string{name}, func(rc *replicaConfig) {
		// Without the CA's renewal information the window is the last
		// third of the lifetime: 20s after issuance.
		rc.RenewCheck, rc.DisableARI = time.Second, true
	})
	s1, _ := c.waitServed(name, "", issueTimeout)
	s2, first := c.waitServed(name, s1, validity+issueTimeout)
	if d := spread(first); d > 5*time.Second {
		t.Errorf("the renewed certificate reached the last replica %v after the first, want within a few seconds", d)
	}
	if o := c.ordersOf(name); len(o) != 2 {
		t.Errorf("ordered or renewed by replicas %v, want one order and one renewal", o)
	}
	if got := p.Orders(); got != 2 {
		t.Errorf("Pebble got %d orders, want 2 (the first and one renewal)", got)
	}
	t.Logf("serial %s renewed as %s by replica %v", s1, s2, c.ordersOf(name))
}
