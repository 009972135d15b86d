package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mailautoconf/internal/directory"
	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/internal/dnsupdate"
	"mailautoconf/internal/doctor"
	"mailautoconf/internal/importxml"
	"mailautoconf/internal/regularfile"
	"mailautoconf/internal/server"
	"mailautoconf/provision"
)

// The commands of the command table (main.go): each parses its flags and
// arguments and calls what does the work, in provision, internal/server,
// internal/dnscheck, internal/dnsupdate or internal/doctor.

// cmdServe serves the catalog with the settings until ctx ends
// (internal/server).
func cmdServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments; settings come from %s_* variables (see: mailautoconf help)", envPrefix)
	}
	s, err := loadSettings()
	if err != nil {
		return err
	}
	return server.Run(ctx, *s, stderr)
}

func cmdHelp(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, "mailautoconf: mail client auto-configuration for the domains of a catalog")
	fmt.Fprintln(stdout, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(stdout, "  mailautoconf %s %s\n      %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(stdout, "\nSettings (environment variables):")
	return printSettings(stdout)
}

// cmdCheck validates a catalog and prints every error, one per line.
// Then, unless --offline, it connects to each of the catalog's
// directories with the environment it is given (their url_env and
// bind_password_env variables), runs the domain query and one login
// lookup, and prints the counts and any error: never a URL or a password
// (internal/directory scrubs them). The domain lists read are merged with
// the files as serve merges them at start: a domain served twice fails
// the check, naming both owners, and a row skipped is a warning.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := loadSettings()
	if err != nil {
		return err
	}
	const usage = "usage: mailautoconf check [--offline] [--address ADDR] [CATALOG]"
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	offline := fs.Bool("offline", false, "validate the catalog without connecting to its directories")
	address := fs.String("address", "", "the address to look a login up for (default: a made-up one, which should be \"not found\")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	// Flags may come before or after the catalog.
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return errors.New(usage)
	}
	path := s.Catalog
	if len(rest) == 1 {
		path = rest[0]
	}
	if path == "" {
		return fmt.Errorf("usage: mailautoconf check [--offline] CATALOG (or set %s_CATALOG)", envPrefix)
	}
	cat, err := provision.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError{"catalog invalid"}
	}
	fmt.Fprintf(stdout, "%s: ok, %d providers, %d domains\n", path, len(cat.Providers()), cat.DomainCount())
	for _, p := range cat.Providers() {
		if w := provision.LastWinsWarning(p); w != "" {
			fmt.Fprintln(stdout, "warning: "+w)
		}
		if w := provision.PACCWarning(p); w != "" {
			fmt.Fprintln(stdout, "warning: "+w)
		}
		for _, w := range provision.ClientWarnings(p) { // docs/clients/
			fmt.Fprintln(stdout, "warning: "+w)
		}
	}
	for _, d := range cat.Directories() {
		if w := provision.TTLWarning(d); w != "" {
			fmt.Fprintln(stdout, "warning: "+w)
		}
	}
	if *offline || len(cat.Directories()) == 0 {
		return nil
	}
	failed := 0
	lists := map[string][]string{}
	for _, r := range directory.Check(ctx, cat.Directories(), os.Getenv, *address) {
		if !r.OK() {
			failed++
		}
		if r.HasDomains && r.Open == nil && r.DomainsErr == nil {
			lists[r.Name] = r.List
		}
		fmt.Fprintln(stdout, checkLine(r))
	}
	// As serve's start does (internal/server/directories.go): every list
	// read is a first read.
	_, warnings, mergeErr := directory.Merge(cat, lists)
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	if mergeErr != nil {
		fmt.Fprintln(stderr, mergeErr)
	}
	switch {
	case failed > 0:
		return exitError{fmt.Sprintf("%d of %d directories failed", failed, len(cat.Directories()))}
	case mergeErr != nil:
		return exitError{"catalog refused with its directories' domains"}
	}
	return nil
}

// checkLine is one directory's line of check's report.
func checkLine(r directory.CheckResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "directory %s (%s): ", r.Name, r.Type)
	if r.Open != nil {
		fmt.Fprintf(&b, "not opened: %v", r.Open)
		return b.String()
	}
	var parts []string
	if r.HasDomains {
		if r.DomainsErr != nil {
			parts = append(parts, fmt.Sprintf("domains: error: %v", r.DomainsErr))
		} else {
			parts = append(parts, fmt.Sprintf("%d domains read in %s", r.Domains, r.Took.Round(time.Millisecond)))
		}
	}
	if r.HasLogin {
		switch {
		case r.LoginErr != nil:
			parts = append(parts, fmt.Sprintf("login of %s: error: %v", r.Address, r.LoginErr))
		case r.Found:
			parts = append(parts, fmt.Sprintf("login of %s: %q", r.Address, r.Login))
		default:
			parts = append(parts, fmt.Sprintf("login of %s: not found (the address stands in)", r.Address))
		}
	}
	b.WriteString(strings.Join(parts, "; "))
	return b.String()
}

// cmdRender prints what the service would answer for an address.
func cmdRender(_ context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := loadSettings()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the e-mail address to render for (required)")
	format := fs.String("format", "autoconfig", "output format: "+strings.Join(formatNames(), ", ")+" (thunderbird: autoconfig's former name)")
	catalog := fs.String("catalog", s.Catalog, "catalog file or directory (default: "+envPrefix+"_CATALOG, else the demo)")
	sign := fs.Bool("sign", false, "sign a mobileconfig with "+envPrefix+"_SIGN_CERT and "+envPrefix+"_SIGN_KEY, as serve does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || fs.NArg() > 0 {
		return errors.New("usage: mailautoconf render --email ADDR --format FORMAT [--catalog PATH] [--sign]")
	}
	if *sign && *format != "mobileconfig" {
		return fmt.Errorf("--sign signs --format mobileconfig only")
	}
	if *format == "thunderbird" {
		*format = "autoconfig" // its name before the formats had one name each
	}
	render, ok := renderFormats[*format]
	if !ok {
		return fmt.Errorf("unknown format %q (known: %s)", *format, strings.Join(formatNames(), ", "))
	}
	addr, err := provision.ParseAddress(*email)
	if err != nil {
		return err
	}
	cat, err := provision.LoadOrDemo(*catalog)
	if err != nil {
		return err
	}
	p, err := cat.Lookup(addr.Domain)
	if err != nil {
		return err
	}
	// autodiscover-json answers Protocol=AutodiscoverV1, pointing at
	// MAILAUTOCONF_PUBLIC_HOST when set, as serve does.
	opts := provision.Options{Protocol: provision.ProtocolAutodiscoverV1}
	if *format == "autodiscover-json" {
		opts.PublicHost = s.PublicHost
	}
	out, err := render(cat, nil, p, addr.Domain, &addr, opts)
	if err != nil {
		return err
	}
	if *sign {
		if out, err = signRendered(s, out); err != nil {
			return err
		}
	}
	_, err = stdout.Write(out)
	return err
}

// renderFormats maps each --format name of render to its renderer: the
// answer to the lookup each client makes for the address.
var renderFormats = map[string]func(*provision.Catalog, []byte, *provision.Provider, string, *provision.Address, provision.Options) ([]byte, error){
	"mobileconfig":      (*provision.Catalog).Mobileconfig, // IMAP where offered; --sign signs it
	"autoconfig":        (*provision.Catalog).Autoconfig,   // config-v1.1.xml
	"autodiscover":      (*provision.Catalog).Autodiscover, // the answer to an outlook-schema POST
	"autodiscover-json": (*provision.Catalog).AutodiscoverJSON,
}

func formatNames() []string {
	names := make([]string, 0, len(renderFormats))
	for n := range renderFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// signRendered signs a profile for render --sign with the pair of the
// settings, as serve would.
func signRendered(s *server.Config, profile []byte) ([]byte, error) {
	if s.SignCert == "" && s.SignKey == "" {
		return nil, fmt.Errorf("--sign needs %[1]s_SIGN_CERT and %[1]s_SIGN_KEY", envPrefix)
	}
	signer, err := server.SignerFromSettings(s)
	if err != nil {
		return nil, err
	}
	return signer.Sign(profile)
}

// cmdDNS prints the DNS records each served domain needs, as zone-file
// lines or JSON; with --check, it asks DNS whether they are published
// and says each record's state (internal/dnscheck); with --apply, it
// sends them to the zones of dns_updates (internal/dnsupdate).
func cmdDNS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := loadSettings()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of zone-file lines")
	catalog := fs.String("catalog", s.Catalog, "catalog file or directory (default: "+envPrefix+"_CATALOG, else the demo)")
	host := fs.String("public-host", s.PublicHost, "host name of the service, the CNAME target (default: "+envPrefix+"_PUBLIC_HOST)")
	v4 := fs.String("ipv4", s.PublicIpv4, "IPv4 addresses of the service, comma-separated, for A records (default: "+envPrefix+"_PUBLIC_IPV4)")
	v6 := fs.String("ipv6", s.PublicIpv6, "IPv6 addresses of the service, comma-separated, for AAAA records (default: "+envPrefix+"_PUBLIC_IPV6)")
	ttl := fs.Int("ttl", dnsrecords.DefaultTTL, "TTL of the records, in seconds")
	check := addCheckFlags(fs)
	apply := addApplyFlags(fs)
	// Flags may come before or after the domains.
	domains, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := check.validate(set); err != nil {
		return err
	}
	if err := apply.validate(set, check.check); err != nil {
		return err
	}
	explicit := len(domains) > 0
	t, err := dnsTarget(*host, *v4, *v6)
	if err != nil {
		return err
	}
	if *ttl < 1 || *ttl > 1<<31-1 {
		return fmt.Errorf("--ttl %d: want 1 to 2147483647 seconds", *ttl)
	}
	t.TTL = *ttl
	cat, err := catalogOrDemo(*catalog)
	if err != nil {
		return err
	}
	// The directories' domains too, as served; one that cannot be read
	// is left out, and the command fails once it has printed the rest.
	cat, dirErr := directory.Served(ctx, cat, os.Getenv, stderr)
	if cat == nil {
		return dirErr
	}
	if len(domains) == 0 {
		domains = cat.Domains()
	}
	var out []dnsrecords.Domain
	var providers []*provision.Provider
	for _, name := range domains {
		d, err := provision.NormalizeDomain(name)
		if err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
		p, err := cat.Lookup(d)
		if err != nil {
			return err
		}
		recs := dnsrecords.Derive(p, d, t)
		if !check.check {
			for _, n := range recs.Notes {
				fmt.Fprintf(stderr, "mailautoconf dns: %s: %s\n", d, n)
			}
		}
		out = append(out, recs)
		providers = append(providers, p)
	}
	// A provider's one PACC digest record (pacc_txt), once, after the
	// domains whose _ua-auto-config CNAMEs lead to it.
	out = append(out, dnsrecords.SharedOf(providers, t.TTL)...)
	if apply.apply {
		if t.Host == "" && len(t.IPv4)+len(t.IPv6) == 0 {
			// Without them the host names get no records, and their
			// records would be deleted as stale.
			return fmt.Errorf("--apply needs the service's public host or addresses: set %s_PUBLIC_HOST (or --public-host), or --ipv4/--ipv6", envPrefix)
		}
		if err := dnsupdate.ApplyAll(ctx, cat.DNSUpdates(), out, explicit, apply.Options, os.Getenv, stdout); err != nil {
			return err
		}
		return dirErr
	}
	if check.check {
		if t.Host == "" && len(t.IPv4)+len(t.IPv6) == 0 {
			return fmt.Errorf("--check needs the service's public host or addresses to compare with: set %s_PUBLIC_HOST (or --public-host), or --ipv4/--ipv6", envPrefix)
		}
		check.JSON, check.Lookup = *asJSON, cat.Lookup
		if err := dnscheck.CheckAll(ctx, out, t, check.Options, stdout, stderr); err != nil {
			return err
		}
		return dirErr
	}
	if *asJSON {
		_, err = stdout.Write(dnsrecords.ZoneJSON(out))
	} else {
		_, err = stdout.Write(dnsrecords.Zone(out))
	}
	if err != nil {
		return err
	}
	return dirErr
}

// checkOptions are `dns --check`'s flags.
type checkOptions struct {
	check bool
	dnscheck.Options
}

// addCheckFlags declares --check, --resolver (repeatable), --qps and
// --timeout on fs.
func addCheckFlags(fs *flag.FlagSet) *checkOptions {
	o := &checkOptions{}
	fs.BoolVar(&o.check, "check", false, "check what DNS publishes against the records each domain needs (states: docs/guide/dns.md#states); exit status 1 when a required record is not ok")
	fs.Func("resolver", "DNS server to ask, HOST:PORT; repeat it to ask several (a record is ok only when every one agrees); default: the first nameserver of /etc/resolv.conf", func(s string) error {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			return fmt.Errorf("%q: want HOST:PORT, e.g. 192.0.2.53:53 or [2001:db8::53]:53", s)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%q: port %q is not 1 to 65535", s, port)
		}
		o.Resolvers = append(o.Resolvers, s)
		return nil
	})
	fs.Float64Var(&o.QPS, "qps", 50, "queries a second to all resolvers together, with --check (0: unpaced)")
	fs.DurationVar(&o.Timeout, "timeout", dnscheck.DefaultTimeout, "limit for each DNS query and each autoconfig probe, with --check")
	return o
}

// validate says what is wrong with the check's flags; set holds the
// flags given on the command line.
func (o *checkOptions) validate(set map[string]bool) error {
	if !o.check {
		for _, f := range []string{"resolver", "qps", "timeout"} {
			if set[f] {
				return fmt.Errorf("--%s needs --check", f)
			}
		}
		return nil
	}
	if o.QPS < 0 || math.IsNaN(o.QPS) || math.IsInf(o.QPS, 0) {
		return fmt.Errorf("--qps %v: want 0 (unpaced) or more queries a second", o.QPS)
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout %v: want a positive duration, e.g. 3s", o.Timeout)
	}
	return nil
}

// applyOptions are `dns --apply`'s flags.
type applyOptions struct {
	apply bool
	dnsupdate.Options
}

// addApplyFlags declares --apply, --dry-run and --force on fs.
func addApplyFlags(fs *flag.FlagSet) *applyOptions {
	o := &applyOptions{}
	fs.BoolVar(&o.apply, "apply", false, "send the records as RFC 2136 updates signed with TSIG to the zones the catalog's dns_updates lists (docs/guide/dns-updates.md)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "with --apply: print the updates, send nothing")
	fs.BoolVar(&o.Force, "force", false, "with --apply: replace records this service did not write at the names it owns")
	return o
}

// validate says what is wrong with the flags; set holds those given.
func (o *applyOptions) validate(set map[string]bool, check bool) error {
	if !o.apply {
		for _, f := range []string{"dry-run", "force"} {
			if set[f] {
				return fmt.Errorf("--%s needs --apply", f)
			}
		}
		return nil
	}
	if check {
		return errors.New("--apply and --check do not go together: apply, then check")
	}
	if set["json"] {
		return errors.New("--apply writes text only")
	}
	return nil
}

// dnsTarget builds the service's DNS target from a host name and
// comma-separated address lists.
func dnsTarget(host, v4, v6 string) (dnsrecords.Target, error) {
	var t dnsrecords.Target
	if host != "" {
		h, err := provision.NormalizeHost(host)
		if err != nil {
			return t, fmt.Errorf("public host %q: %v", host, err)
		}
		t.Host = h
	}
	var err error
	if t.IPv4, err = addrList(v4, true); err != nil {
		return t, err
	}
	if t.IPv6, err = addrList(v6, false); err != nil {
		return t, err
	}
	return t, nil
}

func addrList(s string, v4 bool) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%q is not an IP address", f)
		case v4 && !a.Is4():
			return nil, fmt.Errorf("%q is not an IPv4 address", f)
		case !v4 && (!a.Is6() || a.Is4In6()):
			return nil, fmt.Errorf("%q is not an IPv6 address", f)
		}
		out = append(out, a)
	}
	return out, nil
}

// catalogOrDemo loads the catalog at path, or the embedded demo when path
// is empty, for dns and doctor: an invalid catalog's errors come after a
// line saying it was refused, as serve says.
func catalogOrDemo(path string) (*provision.Catalog, error) {
	cat, err := provision.LoadOrDemo(path)
	if err != nil {
		var le *provision.LoadError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("catalog refused:\n%w", err)
		}
		return nil, err
	}
	return cat, nil
}

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
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
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
		pem, err := regularfile.Read(*caFile, maxCAFile)
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
		// Our records are expected only of our domains, the
		// directories' included (one not read is reported on stderr);
		// any other is checked against what it serves itself.
		if served, _ := directory.Served(ctx, cat, os.Getenv, stderr); served != nil {
			cat = served
		}
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
		return exitError{"a client fails, or another service answers for one of the domain's names"}
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

const importUsage = "usage: mailautoconf import FILE... (config-v1.1.xml files; the catalog YAML goes to stdout, warnings to stderr)"

// cmdImport prints the catalog YAML for existing config-v1.1.xml files
// (what admins host statically, and the ISPDB's format) on stdout, and on
// stderr a warning for everything it had to drop and the reason for every
// file it could not import. The files that could be imported are printed
// even when others could not; the exit status is then 1.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("import", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprintln(stderr, importUsage) }
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() == 0 {
		return errors.New(importUsage)
	}
	failed := 0
	var srcs []provision.Source
	for _, name := range flags.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := readImportFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "%s: not imported: %v\n", name, err)
			failed++
			continue
		}
		srcs = append(srcs, provision.Source{Name: name, Data: data})
	}
	out, files, err := importxml.Files(srcs...)
	if err != nil {
		return err
	}
	warnings, providers, domains := 0, 0, 0
	for _, f := range files {
		for _, w := range f.Warnings {
			fmt.Fprintln(stderr, "warning:", w)
		}
		warnings += len(f.Warnings)
		if f.Err != nil {
			fmt.Fprintln(stderr, f.Err)
			failed++
			continue
		}
		providers += len(f.Providers)
		for _, p := range f.Providers {
			domains += len(p.Domains)
		}
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	total := flags.NArg()
	fmt.Fprintf(stderr, "imported %d of %d files: %d providers, %d domains, %d warnings\n", total-failed, total, providers, domains, warnings)
	if failed > 0 {
		return exitError{fmt.Sprintf("%d of %d files not imported", failed, total)}
	}
	return nil
}

// readImportFile reads a file to import as every file is read
// (regularfile.Read: a regular file, of at most importxml.MaxSize bytes),
// with the reason for a refusal without the file's name, which the caller
// prints.
func readImportFile(name string) ([]byte, error) {
	data, err := regularfile.Read(name, importxml.MaxSize)
	if err == nil {
		return data, nil
	}
	if errors.Is(err, syscall.EISDIR) {
		return nil, errors.New("is a directory (give the files, e.g. DIR/*.xml)")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, pe.Err
	}
	return nil, err
}

// cmdHealthcheck asks the service running on this host for /healthz and
// succeeds on a 200: the container image's HEALTHCHECK, since a
// distroless image has no curl. The URL defaults to the plain listener of
// MAILAUTOCONF_LISTEN on the loopback address.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var url string
	switch len(args) {
	case 0:
		s, err := loadSettings()
		if err != nil {
			return err
		}
		addr, err := loopback(s.Listen)
		if err != nil {
			return fmt.Errorf("%s_LISTEN=%q: %w", envPrefix, s.Listen, err)
		}
		url = "http://" + addr + "/healthz"
	case 1:
		url = args[0]
	default:
		return errors.New("usage: mailautoconf healthcheck [URL]")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, body)
	}
	_, err = stdout.Write(body)
	return err
}

// loopback turns a listen address into one to connect to on this host:
// an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes the
// loopback address of its family.
func loopback(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// parseInterspersed parses fs's flags wherever they stand among args and
// returns the other arguments in order: "check --offline c.yaml" and
// "check c.yaml --offline" mean the same.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
