package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"mailautoconf/provision"
)

// cmdDNS prints the DNS records each served domain needs, as zone-file
// lines or JSON.
func cmdDNS(_ context.Context, args []string, stdout, stderr io.Writer) error {
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
	ttl := fs.Int("ttl", provision.DefaultDNSTTL, "TTL of the records, in seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	domains := fs.Args()
	if len(domains) == 0 {
		domains = cat.Domains()
	}
	var out []provision.DomainRecords
	for _, name := range domains {
		d, err := provision.NormalizeDomain(name)
		if err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
		p, err := cat.Lookup(d)
		if err != nil {
			return err
		}
		recs := provision.DNSRecords(p, d, t)
		for _, n := range recs.Notes {
			fmt.Fprintf(stderr, "mailautoconf dns: %s: %s\n", d, n)
		}
		out = append(out, recs)
	}
	if *asJSON {
		_, err = stdout.Write(provision.ZoneJSON(out))
	} else {
		_, err = stdout.Write(provision.Zone(out))
	}
	return err
}

// dnsTarget builds the service's DNS target from a host name and
// comma-separated address lists.
func dnsTarget(host, v4, v6 string) (provision.DNSTarget, error) {
	var t provision.DNSTarget
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
// is empty.
func catalogOrDemo(path string) (*provision.Catalog, error) {
	if path == "" {
		return provision.Demo(), nil
	}
	cat, err := provision.Load(path)
	if err != nil {
		var le *provision.LoadError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("catalog refused:\n%w", err)
		}
		return nil, err
	}
	return cat, nil
}
