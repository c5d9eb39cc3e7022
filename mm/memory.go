package mm

// MachineMemory is machine RAM as the pure core sees it: copy in, copy out,
// and the atomic 64-bit operations the PV ABI needs on words a running guest
// may touch at the same time (page-table entries, event-channel bitmaps,
// vcpu_info flags). The core never holds a Go pointer into guest memory.
//
// Implementations: the metal's direct map (arch/amd64) and mmtest.Memory
// over Go byte slices for host tests. Every method is safe for concurrent
// use; a machine address outside RAM makes the call report ok == false and
// change nothing.
type MachineMemory interface {
	// Read copies len(p) bytes starting at ma into p.
	Read(ma Maddr, p []byte) (ok bool)
	// Write copies p to machine memory starting at ma.
	Write(ma Maddr, p []byte) (ok bool)
	// Copy copies n bytes from machine address src to dst, as memmove
	// does when the ranges overlap.
	Copy(dst, src Maddr, n uint64) (ok bool)
	// Load64 atomically reads the 8-byte-aligned word at ma.
	Load64(ma Maddr) (v uint64, ok bool)
	// CompareAndSwap64 atomically replaces the 8-byte-aligned word at ma by
	// new if it holds old, reporting whether it did.
	CompareAndSwap64(ma Maddr, old, new uint64) (swapped, ok bool)
	// Or64 atomically ORs bits into the 8-byte-aligned word at ma and
	// returns the previous value.
	Or64(ma Maddr, bits uint64) (prev uint64, ok bool)
	// And64 atomically ANDs mask into the 8-byte-aligned word at ma and
	// returns the previous value.
	And64(ma Maddr, mask uint64) (prev uint64, ok bool)
}

// TableReader is a MachineMemory that can also read a page-table frame
// as its 512 entries: ReadTable copies the frame at the page-aligned ma
// into t, as Read of its 4096 bytes and decoding each little-endian word
// would, without the decoding. NewFrameTable uses it for every table it
// validates and releases, where Mem has it.
type TableReader interface {
	ReadTable(ma Maddr, t *[512]uint64) (ok bool)
}
