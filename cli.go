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
		if w := provision.PACCWarning(p); w != "" {
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
	// autodiscover-json answers Protocol=AutodiscoverV1, pointing at
	// MAILAUTOCONF_PUBLIC_HOST when set, as serve does.
	opts := provision.Options{Protocol: provision.ProtocolAutodiscoverV1}
	if host := os.Getenv(envPrefix + "_PUBLIC_HOST"); host != "" && *format == "autodiscover-json" {
		if opts.PublicHost, err = provision.NormalizeHost(host); err != nil {
			return fmt.Errorf("%s_PUBLIC_HOST=%q: not a host name", envPrefix, host)
		}
	}
	out, err := render(cat, nil, p, addr.Domain, &addr, opts)
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

// renderFormats maps each --format name of render to its renderer: the
// answer to the lookup each client makes for the address.
var renderFormats = map[string]func(*provision.Catalog, []byte, *provision.Provider, string, *provision.Address, provision.Options) ([]byte, error){
	"mobileconfig":      (*provision.Catalog).Mobileconfig, // IMAP where offered; --sign signs it
	"thunderbird":       (*provision.Catalog).Thunderbird,
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
