// Command mkimage stamps the boot-loader headers into a linked gohv ELF image:
// a multiboot1 header, a multiboot2 header and a Xen PVH note (see package
// internal/image). It is idempotent: running it on its own output rewrites
// the same bytes.
//
// Usage:
//
//	mkimage [-offset VIRT-PHYS] -o OUT IN
//
// -offset is how far the image's virtual addresses (as linked) lie above its
// physical ones: gohv links at 0xffff82d040200000 and loads at 0x200000, so
// its Makefile passes 0xffff82d040000000. The headers and program headers
// get physical addresses.
//
// On success it prints one line with the file offsets of the three headers and
// the physical load range and entry:
//
//	mkimage: mb1 @0x810 mb2 @0x830 pvh @0x890 load 0x1ff000-0x3837c0 bss-end 0x3b8260 entry 0x29d1a0
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gohv/gohv/internal/image"
)

func main() {
	out := flag.String("o", "", "output `file` (may equal the input)")
	offset := flag.Uint64("offset", 0, "virtual minus physical `address` of the loaded image")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkimage [-offset VIRT-PHYS] -o OUT IN\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out, *offset); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}

func run(in, out string, offset uint64) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	stamped, rep, err := image.Stamp(b, offset)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	// Write through a temporary file so a failed write never leaves a
	// half-stamped image (and so OUT may equal IN).
	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkimage-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(stamped); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mkimage: %v\n", rep)
	return nil
}

// stdout is where run prints its summary line (tests replace it).
var stdout io.Writer = os.Stdout
