// Package chacha20 is the ChaCha20 block function of RFC 8439 (section
// 2.3) and a random generator built on it with fast key erasure, for the
// metal's getrandom on CPUs without RDRAND (arch/amd64/rt).
//
// Everything here may run where the Go runtime cannot help: on the
// shim's kernel stack, with interrupts off, under //go:nosplit. So every
// function is //go:nosplit with a small frame, allocates nothing, takes
// fixed-size arrays by pointer, indexes them with constants or masked
// indices (no bounds-check panic is reachable), and uses no interfaces.
//
// A Generator is as good as the entropy it is seeded with; see
// arch/amd64/rt/random_unsafe.go for what the metal feeds it.
//
// Pure: imports nothing (not even the standard library). Not safe for
// concurrent use: the caller serialises (the metal: interrupts off).
package chacha20
