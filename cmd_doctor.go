package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"mailautoconf/internal/doctor"
	"mailautoconf/provision"
)

// cmdDoctor replays each mail client's lookup for an address and prints
// the verdict per client; exit status 1 when any client fails.
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := loadSettings()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "print every step of every client, and the certificate chains")
	asJSON := fs.Bool("json", false, "print JSON")
	resolver := fs.String("resolver", "", "DNS server to ask, HOST:PORT (default: the first nameserver of /etc/resolv.conf)")
	caFile := fs.String("ca", "", "PEM file of extra trusted root certificates")
	portMap := fs.String("port-map", "", "connect to another port wherever a standard one would be used: 443:18443,80:18080,993:10993")
	timeout := fs.Duration("timeout", 5*time.Second, "limit for each connection, handshake and answer (Thunderbird waits 5s)")
	catalog := fs.String("catalog", s.Catalog, "catalog whose records the domain should publish (default: "+envPrefix+"_CATALOG; without one they are derived from what the domain serves)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mailautoconf doctor [flags] ADDRESS")
		fs.PrintDefaults()
	}
	// Flags may come before or after the address.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 {
		fs.Usage()
		return errors.New("usage: mailautoconf doctor [flags] ADDRESS")
	}
	if _, err := provision.ParseAddress(rest[0]); err != nil {
		return fmt.Errorf("%q: %w", rest[0], err)
	}
	opts := doctor.Options{Resolver: *resolver, Timeout: *timeout}
	if opts.PortMap, err = parsePortMap(*portMap); err != nil {
		return err
	}
	if *caFile != "" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		pem, err := provision.ReadFile(*caFile, maxCAFile)
		if err != nil {
			return err
		}
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca %s: no PEM certificate in it", *caFile)
		}
		opts.Roots = roots
	}
	target, err := dnsTarget(s.PublicHost, s.PublicIpv4, s.PublicIpv6)
	if err != nil {
		return err
	}
	if *catalog != "" {
		cat, err := catalogOrDemo(*catalog)
		if err != nil {
			return err
		}
		addr, _ := provision.ParseAddress(rest[0])
		// Our records are expected only of our domains; any other is
		// checked against what it serves itself.
		if p, err := cat.Lookup(addr.Domain); err == nil {
			opts.Expected, opts.Target = p, target
		}
	}
	rep, err := doctor.Run(ctx, rest[0], opts)
	if err != nil {
		return err
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout, *verbose)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return exitError{"a client fails"}
	}
	return nil
}

// maxCAFile bounds the --ca file: a bundle of every public root is about
// 200 KB.
const maxCAFile = 4 << 20

// parsePortMap reads "443:18443,80:18080".
func parsePortMap(s string) (map[int]int, error) {
	m := map[int]int{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		from, to, ok := strings.Cut(pair, ":")
		f, err1 := strconv.Atoi(from)
		t, err2 := strconv.Atoi(to)
		if !ok || err1 != nil || err2 != nil || f < 1 || f > 65535 || t < 1 || t > 65535 {
			return nil, fmt.Errorf("--port-map %q: want PORT:PORT pairs separated by commas, such as 443:18443", pair)
		}
		m[f] = t
	}
	return m, nil
}
