package main

import "testing"

func TestByteSizeDecode(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "32MiB": 32 << 20, "64MB": 64_000_000, "512K": 512_000, "1GiB": 1 << 30, "123": 123, " 8MiB ": 8 << 20} {
		var b byteSize
		if err := b.Decode(in); err != nil || uint64(b) != want {
			t.Errorf("Decode(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-1MiB", "12 parsecs", "1.5.3MB"} {
		var b byteSize
		if err := b.Decode(in); err == nil {
			t.Errorf("Decode(%q) = %d, want an error", in, b)
		}
	}
}
