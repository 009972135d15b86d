package main

import (
	"fmt"
	"strings"

	"github.com/labstack/gommon/bytes"
)

// byteSize is a setting in bytes, written "32MiB", "64MB", "512K" or as
// a plain number.
type byteSize uint64

// Decode implements envconfig.Decoder.
func (b *byteSize) Decode(s string) error {
	n, err := bytes.Parse(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (e.g. 32MiB, 64MB, 0)", s)
	}
	*b = byteSize(n)
	return nil
}
