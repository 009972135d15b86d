package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"syscall"

	"mailautoconf/provision"
)

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
	out, files, err := provision.Import(srcs...)
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
// (provision.ReadFile: a regular file, of at most MaxImportSize bytes),
// with the reason for a refusal without the file's name, which the caller
// prints.
func readImportFile(name string) ([]byte, error) {
	data, err := provision.ReadFile(name, provision.MaxImportSize)
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
