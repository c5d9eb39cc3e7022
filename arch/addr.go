package arch

// LowerHalfEnd is the first address past the lower canonical half: an
// x86-64 virtual address has 48 significant bits, sign-extended to 64, so
// the canonical ones are [0, LowerHalfEnd) and [2^64-LowerHalfEnd, 2^64).
const LowerHalfEnd = 1 << 47

// Canonical reports whether va is a canonical 48-bit virtual address (bits
// 63 to 47 all equal). It inlines; nosplit so that the metal's trap and
// guest-entry paths may also call it where it does not.
//
//go:nosplit
func Canonical(va uint64) bool { return uint64(int64(va<<16)>>16) == va }
