// Command entry32 is a test input for internal/image: the smallest Go program
// whose ELF entry is an assembly symbol (entry32, see entry_amd64.s), like
// gohv's. On a Linux host the stamped binary still runs and prints one line,
// which shows that stamping changed nothing that a loader of PT_LOADs uses.
package main

import "fmt"

func main() {
	fmt.Println("entry32: ok")
}
