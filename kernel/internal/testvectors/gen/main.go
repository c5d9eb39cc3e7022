// Command gen rewrites the compressed test data of package kernel
// (-kernel dir) or kernel/xz (-xz dir) from package testvectors, with the xz
// and bzip2 commands (XZ Utils 5.4, bzip2 1.0). `go generate` runs it in
// those packages; their tests check the files decode to testvectors' bytes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gohv/gohv/kernel/internal/testvectors"
)

func main() {
	kernelDir := flag.String("kernel", "", "write the compressed test kernels into this directory")
	xzDir := flag.String("xz", "", "write the xz test vectors into this directory")
	flag.Parse()
	if flag.NArg() != 0 || (*kernelDir == "") == (*xzDir == "") {
		fmt.Fprintln(os.Stderr, "usage: gen -kernel dir | -xz dir")
		os.Exit(2)
	}
	var err error
	if *kernelDir != "" {
		err = testvectors.WriteKernel(*kernelDir)
	} else {
		err = testvectors.WriteXZ(*xzDir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
