// Package testvectors holds the inputs of package kernel's and kernel/xz's
// tests that their testdata is made from, so that the tests and the
// generator (testvectors/gen, run by `go generate` in those packages) share
// one definition: a small ELF64 writer and the Linux-like test kernel, the
// x86-like plaintext of the xz vectors and the xz options of each vector.
//
// Imports: the standard library and abi. It runs the xz and bzip2 commands
// (WriteKernel, WriteXZ) only when generating testdata; nothing in the
// hypervisor imports it.
package testvectors
