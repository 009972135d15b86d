// Command gencatalog writes a catalog of N made-up domains for the scale
// benchmark:
//
//	go run ./bench/gencatalog -domains 1000000 > big.yaml
//
// Most domains sit on a few shared platforms, a long tail on providers of
// their own (see package fakecatalog).
package main

import (
	"flag"
	"fmt"
	"os"

	"mailautoconf/bench/fakecatalog"
)

func main() {
	domains := flag.Int("domains", 1000, "number of domains")
	platforms := flag.Int("platforms", 0, "shared platforms (0: one per 20,000 domains)")
	dedicated := flag.Float64("dedicated", 0.02, "share of domains on providers of their own")
	seed := flag.Uint64("seed", 1, "seed of the names")
	out := flag.String("o", "", "output file (default standard output)")
	flag.Parse()

	w := os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gencatalog:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	st, err := fakecatalog.Write(w, fakecatalog.Shape{Domains: *domains, Platforms: *platforms, Dedicated: *dedicated, Seed: *seed})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencatalog:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gencatalog: %d domains, %d providers, %d bytes\n", st.Domains, st.Providers, st.Bytes)
}
