package rt

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// PhysMemory is machine memory through the direct map, as the pure core's
// mm.MachineMemory wants it: copies, and atomic 64-bit operations on words
// a running guest may touch at the same time. Addresses outside the direct
// map report ok == false. Safe from any
// goroutine; the frames belong to whoever the frame allocator gave them to.
type PhysMemory struct{}

func physOK(ma, n uint64) bool {
	end := ma + n
	return end >= ma && end <= directMapEnd
}

// Read copies len(p) bytes at machine address ma into p.
func (PhysMemory) Read(ma uint64, p []byte) bool { return ReadPhys(ma, p) }

// Write copies p to machine address ma.
func (PhysMemory) Write(ma uint64, p []byte) bool { return WritePhys(ma, p) }

// Copy copies n bytes from machine address src to dst.
func (PhysMemory) Copy(dst, src, n uint64) bool {
	if !physOK(dst, n) || !physOK(src, n) {
		return false
	}
	if n > 0 {
		// Safety: both ranges lie in the direct map; the frames belong to
		// the caller's domains (the grant code holds references on them).
		copy(unsafe.Slice((*byte)(unsafe.Pointer(dm(dst))), n), unsafe.Slice((*byte)(unsafe.Pointer(dm(src))), n))
	}
	return true
}

// ReadTable copies the 512 entries of the page-table frame at machine
// address ma (page aligned) into t: mm's TableReader, a word copy where
// Read and decoding would take two passes (the CPU is little-endian).
func (PhysMemory) ReadTable(ma uint64, t *[512]uint64) bool {
	if ma&(pageSize-1) != 0 || !physOK(ma, pageSize) {
		return false
	}
	// Safety: the frame lies in the never-unmapped direct map; its words
	// are copied out (the CPU may set A/D bits in a live table meanwhile,
	// as with Read), no pointer is kept.
	copyChunks(unsafe.Pointer(t), unsafe.Pointer(dm(ma)), pageSize)
	return true
}

// copyChunks copies n bytes (a multiple of 64) from src to dst, 64 at a
// time, as eight words: Go's memmove copies 2 KiB and more with REP
// MOVSQ, and under an emulator each iteration of a string instruction
// is a translated block's run of its own (QEMU's TCG), where each of
// this loop's moves 64 bytes (the fork+exec+exit round of dom0's bench
// read some 40 page tables: 21,000 of its 233,000 block runs were
// memmove's). The ranges must not overlap.
//
//go:nosplit
func copyChunks(dst, src unsafe.Pointer, n uintptr) {
	for off := uintptr(0); off < n; off += 64 {
		// Word by word: an array assignment between unsafe pointers is
		// a memmove call (they might overlap).
		s, d := (*[8]uint64)(unsafe.Add(src, off)), (*[8]uint64)(unsafe.Add(dst, off))
		w0, w1, w2, w3, w4, w5, w6, w7 := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
		d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = w0, w1, w2, w3, w4, w5, w6, w7
	}
}

// Slice returns the n bytes of machine memory from ma as a slice over the
// direct map (no copy), for a caller that owns those frames for as long
// as it uses the slice: a boot module it reads in place, frames of a
// domain it is building. It refuses anything beyond the direct map.
func (PhysMemory) Slice(ma, n uint64) ([]byte, bool) {
	if n == 0 || !physOK(ma, n) || n > uint64(^uint(0)>>1) {
		return nil, false
	}
	// Safety: [ma, ma+n) lies in the direct map, which is never unmapped;
	// memory outside the Go heap, which the collector ignores.
	return unsafe.Slice((*byte)(unsafe.Pointer(dm(ma))), n), true
}

// word64 returns the aligned word at ma. Safety: physOK holds, so ma lies
// in the never-unmapped direct map.
func word64(ma uint64) (*uint64, bool) {
	if ma&7 != 0 || !physOK(ma, 8) {
		return nil, false
	}
	return (*uint64)(unsafe.Pointer(dm(ma))), true
}

// Load64 atomically reads the word at ma.
func (PhysMemory) Load64(ma uint64) (uint64, bool) {
	w, ok := word64(ma)
	if !ok {
		return 0, false
	}
	return atomic.LoadUint64(w), true
}

// CompareAndSwap64 atomically replaces old by new at ma.
func (PhysMemory) CompareAndSwap64(ma uint64, old, new uint64) (bool, bool) {
	w, ok := word64(ma)
	if !ok {
		return false, false
	}
	return atomic.CompareAndSwapUint64(w, old, new), true
}

// Or64 atomically ORs bits into the word at ma, returning the old value.
func (PhysMemory) Or64(ma uint64, bits uint64) (uint64, bool) {
	w, ok := word64(ma)
	if !ok {
		return 0, false
	}
	return atomic.OrUint64(w, bits), true
}

// And64 atomically ANDs mask into the word at ma, returning the old value.
func (PhysMemory) And64(ma uint64, mask uint64) (uint64, bool) {
	w, ok := word64(ma)
	if !ok {
		return 0, false
	}
	return atomic.AndUint64(w, mask), true
}

// Halt stops the machine for good, interrupts off.
func Halt() {
	syscall.Syscall(sysHalt, 0, 0, 0)
	select {}
}
