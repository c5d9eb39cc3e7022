// Package amd64 is the metal's instruction layer: port I/O, MSRs, control
// registers, descriptor-table loads, TLB and halt (cpu_amd64.s), WBINVD,
// debug registers and RDSEED (hwstate_amd64.s), each a documented
// one-instruction assembly routine, plus the x86 constants that name
// their bits.
//
// It imports only arch/amd64/hw, the pure package that owns the page-table
// entry and RFLAGS bits. Only arch/amd64/... and cmd/gohv may import it; the
// pure core never does (tests/deps_test.go holds that rule). The Go
// runtime's own kernel — boot entry, Linux-syscall shim, kernel threads,
// traps — is arch/amd64/rt.
package amd64
