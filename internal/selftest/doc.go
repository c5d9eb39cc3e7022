// Package selftest is gohv's in-hypervisor self test: checks that the Go
// runtime works on the metal the way the hypervisor needs it to —
// goroutines spread over kernel threads, channels and select, timers and
// their accuracy, the garbage collector under pressure, maps, fmt, defer
// and recover, and a stress run of all of them at once on every P. cmd/gohv runs it for the `selftest` boot option; go test
// runs the same checks on the host.
//
// Pure: imports only the standard library.
package selftest
