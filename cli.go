package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"mailautoconf/provision"
)

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
func cmdCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		return errors.New("usage: mailautoconf check [CATALOG]")
	}
	path := os.Getenv(envPrefix + "_CATALOG")
	if len(args) == 1 {
		path = args[0]
	}
	if path == "" {
		return fmt.Errorf("usage: mailautoconf check CATALOG (or set %s_CATALOG)", envPrefix)
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
	}
	return nil
}

// cmdRender prints what the service would answer for an address.
func cmdRender(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the e-mail address to render for (required)")
	format := fs.String("format", "thunderbird", "output format: "+strings.Join(formatNames(), ", "))
	catalog := fs.String("catalog", os.Getenv(envPrefix+"_CATALOG"), "catalog file or directory (default: "+envPrefix+"_CATALOG, else the demo)")
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
	render, ok := renderFormats[*format]
	if !ok {
		return fmt.Errorf("unknown format %q (known: %s)", *format, strings.Join(formatNames(), ", "))
	}
	addr, err := provision.ParseAddress(*email)
	if err != nil {
		return err
	}
	var cat *provision.Catalog
	if *catalog == "" {
		cat = provision.Demo()
	} else if cat, err = provision.Load(*catalog); err != nil {
		return err
	}
	p, err := cat.Lookup(addr.Domain)
	if err != nil {
		return err
	}
	out, err := render(p, &addr)
	if err != nil {
		return err
	}
	if *sign {
		if out, err = signRendered(out); err != nil {
			return err
		}
	}
	_, err = stdout.Write(out)
	return err
}

// renderFormats maps each --format name of render to its renderer.
var renderFormats = map[string]func(p *provision.Provider, addr *provision.Address) ([]byte, error){
	// The Apple profile of /mobileconfig?email=ADDR (IMAP where offered);
	// --sign signs it.
	"mobileconfig": func(p *provision.Provider, addr *provision.Address) ([]byte, error) {
		return provision.Mobileconfig(p, *addr, provision.ProfileOptions{})
	},
	"thunderbird": func(p *provision.Provider, addr *provision.Address) ([]byte, error) {
		return provision.Thunderbird(p, addr.Domain, addr), nil
	},
	// The POX answer to an outlook-schema POST for the address.
	"autodiscover": func(p *provision.Provider, addr *provision.Address) ([]byte, error) {
		return provision.Autodiscover(p, addr.Domain, addr), nil
	},
	// The autodiscover.json answer for Protocol=AutodiscoverV1, pointing
	// at MAILAUTOCONF_PUBLIC_HOST when set, as serve does.
	"autodiscover-json": func(p *provision.Provider, addr *provision.Address) ([]byte, error) {
		host := os.Getenv(envPrefix + "_PUBLIC_HOST")
		if host != "" {
			h, err := provision.NormalizeHost(host)
			if err != nil {
				return nil, fmt.Errorf("%s_PUBLIC_HOST=%q: not a host name", envPrefix, host)
			}
			host = h
		}
		body, _ := provision.AutodiscoverJSON(p, *addr, provision.ProtocolAutodiscoverV1, host)
		return body, nil
	},
}

func formatNames() []string {
	names := make([]string, 0, len(renderFormats))
	for n := range renderFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
