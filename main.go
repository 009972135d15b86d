// Command mailautoconf serves mail client auto-configuration (Thunderbird
// autoconfig, Outlook Autodiscover, Apple profiles) for the domains of a
// catalog.
//
//	mailautoconf [serve]              serve the catalog (the default)
//	mailautoconf check [CATALOG]      validate a catalog
//	mailautoconf render --email ADDR --format FORMAT
//	mailautoconf dns [DOMAIN...]      the DNS records each domain needs
//	mailautoconf doctor ADDRESS       replay each mail client's lookups
//	mailautoconf import FILE...       config-v1.1.xml files to catalog YAML
//	mailautoconf healthcheck [URL]    ask the local service for /healthz
//	mailautoconf help                 commands and settings
//
// This package holds the commands (commands.go) and reads and validates
// the settings (settings.go), which server.Config declares; the service
// itself is internal/server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"mailautoconf/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, os.Stdout, os.Stderr) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// The command was told to stop by its ctx. Not every wait
		// looks at a ctx (a DNS exchange of the doctor waits for its
		// own timeout): after a grace period the process ends without
		// the command. A second signal ends it at once, as the default
		// action of SIGINT and SIGTERM does.
		stop()
		grace := stopGrace(args)
		select {
		case err = <-done:
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "mailautoconf: interrupted; the command did not stop within %v\n", grace)
			os.Exit(1)
		}
		if err != nil && errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
	}
	if err != nil {
		var ee exitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "mailautoconf:", err)
		}
		os.Exit(1)
	}
}

// stopGrace is how long a command may take to end after SIGINT or
// SIGTERM: serve finishes the requests in flight (server.ShutdownTimeout),
// the others have nothing to finish.
func stopGrace(args []string) time.Duration {
	if len(args) == 0 || args[0] == "serve" {
		return server.ShutdownTimeout + 5*time.Second
	}
	return time.Second
}

// exitError ends the program with status 1 after the command has printed
// its own report.
type exitError struct{ msg string }

func (e exitError) Error() string { return e.msg }

type command struct {
	name, args, help string
	run              func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists every subcommand.
func commands() []command {
	return []command{
		{"serve", "", "serve the catalog over HTTP (the default)", cmdServe},
		{"check", "[CATALOG]", "validate a catalog file or directory; exit 1 on any error", cmdCheck},
		{"render", "--email ADDR --format FORMAT [--catalog PATH] [--sign]", "print the document that would be served", cmdRender},
		{"dns", "[--check | --apply [--dry-run] [--force]] [--json] [DOMAIN...]", "print the DNS records each domain needs, in zone-file syntax; --check: whether DNS publishes them; --apply: publish them with RFC 2136 updates", cmdDNS},
		{"doctor", "[-v] [--json] [--resolver HOST:PORT] [--ca FILE] [--port-map 443:18443,...] ADDRESS", "replay each mail client's lookups for an address; exit 1 if any client fails", cmdDoctor},
		{"import", "FILE...", "print catalog YAML for existing config-v1.1.xml files", cmdImport},
		{"healthcheck", "[URL]", "exit 0 when the service on this host answers /healthz (a container HEALTHCHECK without curl)", cmdHealthcheck},
		{"help", "", "print commands and settings", cmdHelp},
	}
}

// run runs the command args name (serve when none) until it is done or
// ctx ends. It takes no environment: the settings come from the process
// environment through envconfig, which reads it itself (envconfig 1.4 has
// no other source), so an environment parameter would be honoured only
// in part. Tests set the environment with t.Setenv.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "-h", "--help", "-help":
		name = "help"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args, stdout, stderr)
		}
	}
	return fmt.Errorf("unknown command %q (try: mailautoconf help)", name)
}
