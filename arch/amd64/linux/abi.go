package linux

// Errno values the shim returns (negated in RAX).
const (
	EPERM     = 1
	ENOENT    = 2
	EINTR     = 4
	EBADF     = 9
	EAGAIN    = 11
	ENOMEM    = 12
	EFAULT    = 14
	EBUSY     = 16
	EINVAL    = 22
	EMFILE    = 24
	ENOSYS    = 38
	ETIMEDOUT = 110
)

// Errno returns the RAX value of a call failing with e.
//
//go:nosplit
func Errno(e uintptr) uintptr { return -e }

// Memory-management arguments (C ints: prot, flags and advice are 32 bits).
const (
	PageSize     = 4096
	ProtNone     = 0
	MapFixed     = 0x10
	MadvDontneed = 4
	MadvFree     = 8
)

// Window is the part of the address space the shim's mmap serves:
// [Base, End), page-aligned, handed out upwards from Next (a bump
// pointer: freed ranges are not reused, their frames are).
type Window struct{ Base, End, Next uintptr }

// Contains reports whether [va, va+n) lies in w.
//
//go:nosplit
func (w Window) Contains(va, n uintptr) bool {
	return va >= w.Base && va+n >= va && va+n <= w.End
}

// pageRound rounds n up to pages; ok is false if that overflows.
//
//go:nosplit
func pageRound(n uintptr) (uintptr, bool) {
	r := (n + PageSize - 1) &^ (PageSize - 1)
	return r, r >= n
}

// Mapping is an mmap, munmap, madvise or mprotect call decoded: the
// page-aligned range [VA, VA+Len) and what to do with it, in that order.
// (Three words: the shim's stack limit counts every byte on its path.)
type Mapping struct {
	VA, Len uintptr
	Do      Do
}

// Do is what a Mapping asks for.
type Do uint8

const (
	// Release: give back the frames behind the range first (mmap
	// MAP_FIXED over a used range, munmap, madvise DONTNEED/FREE).
	Release Do = 1 << iota
	// Keep: after Release, leave the pages committed (madvise: the next
	// touch reads zeros); otherwise they are unmapped.
	Keep
	// Commit: make the range demand-zero read-write, keeping pages
	// already backed.
	Commit
)

// doIf returns d if c holds, else 0.
//
//go:nosplit
func doIf(c bool, d Do) Do {
	if c {
		return d
	}
	return 0
}

// Mmap decodes mmap(addr, n, prot, flags) in w: without MAP_FIXED the
// hint is ignored and the range goes at w.Next, which moves past it and
// a guard page. Anonymous private memory is all there is, so fd and
// offset do not matter. errno is 0 or the failure (w unchanged).
//
//go:nosplit
func (w *Window) Mmap(addr, n uintptr, prot, flags uint32) (m Mapping, errno uintptr) {
	m.Len = (n + PageSize - 1) &^ (PageSize - 1)
	switch {
	case m.Len < n || m.Len >= w.End-w.Base: // overflowed, or more than there is
		return Mapping{}, ENOMEM
	case m.Len == 0:
		return Mapping{}, EINVAL
	case flags&MapFixed == 0:
		if !w.Contains(w.Next, m.Len+PageSize) {
			return Mapping{}, ENOMEM
		}
		m.VA = w.Next
		w.Next += m.Len + PageSize
	case addr&(PageSize-1) != 0 || !w.Contains(addr, m.Len):
		return Mapping{}, EINVAL
	default:
		m.VA = addr
		m.Do = Release
	}
	if prot != ProtNone {
		m.Do |= Commit
	} else {
		m.Do = 0
	}
	return m, 0
}

// Munmap decodes munmap(addr, n) in w: the pages are released and
// unmapped. A zero length is accepted and does nothing.
//
//go:nosplit
func (w *Window) Munmap(addr, n uintptr) (m Mapping, errno uintptr) {
	n, ok := pageRound(n)
	if !ok || addr&(PageSize-1) != 0 || !w.Contains(addr, n) {
		return m, EINVAL
	}
	return Mapping{VA: addr, Len: n, Do: doIf(n != 0, Release)}, 0
}

// Madvise decodes madvise(addr, n, advice) in w: DONTNEED and FREE
// release the frames and keep the pages committed; other advice, and
// ranges outside w (nothing of the shim's there), do nothing.
//
//go:nosplit
func (w *Window) Madvise(addr, n, advice uintptr) (m Mapping, errno uintptr) {
	n, ok := pageRound(n)
	if !ok || addr&(PageSize-1) != 0 {
		return m, EINVAL
	}
	if (advice != MadvDontneed && advice != MadvFree) || n == 0 || !w.Contains(addr, n) {
		return m, 0
	}
	return Mapping{VA: addr, Len: n, Do: Release | Keep}, 0
}

// Mprotect decodes mprotect(addr, n, prot) in w: any access but none
// commits the range (pages are read-write or not there); PROT_NONE
// leaves it as it is.
//
//go:nosplit
func (w *Window) Mprotect(addr, n, prot uintptr) (m Mapping, errno uintptr) {
	n, ok := pageRound(n)
	if !ok || addr&(PageSize-1) != 0 || !w.Contains(addr, n) {
		return m, EINVAL
	}
	return Mapping{VA: addr, Len: n, Do: doIf(prot != ProtNone && n != 0, Commit)}, 0
}

// Futex operations: only private WAIT and WAKE (one address space).
const (
	FutexWait        = 0
	FutexWake        = 1
	FutexPrivateFlag = 128
)

// FutexOp decodes a futex op: FutexWait or FutexWake, the private flag
// allowed (every futex is private here). ok is false for anything else.
//
//go:nosplit
func FutexOp(op uintptr) (cmd uintptr, ok bool) {
	cmd = op &^ FutexPrivateFlag
	return cmd, cmd == FutexWait || cmd == FutexWake
}

// Clone flags the shim honours.
const (
	CloneVM      = 0x100
	CloneThread  = 0x10000
	CloneSettls  = 0x80000
	cloneProcess = CloneVM | CloneThread
)

// CloneIsThread reports whether clone flags ask for a thread in this
// address space (CLONE_VM and CLONE_THREAD): there are no processes.
//
//go:nosplit
func CloneIsThread(flags uintptr) bool { return flags&cloneProcess == cloneProcess }

// rt_sigprocmask's how.
const (
	SigBlock   = 0
	SigUnblock = 1
	SigSetmask = 2
)

// Sigprocmask returns mask after rt_sigprocmask(how, set); ok is false for
// an unknown how (EINVAL).
//
//go:nosplit
func Sigprocmask(mask uint64, how uintptr, set uint64) (uint64, bool) {
	switch how {
	case SigBlock:
		return mask | set, true
	case SigUnblock:
		return mask &^ set, true
	case SigSetmask:
		return set, true
	}
	return mask, false
}

// Clocks.
const (
	ClockRealtime       = 0
	ClockMonotonic      = 1
	ClockRealtimeCoarse = 5
	ClockRealtimeAlarm  = 8
)

// IsRealtime reports whether clock id counts wall-clock time (since 1970)
// rather than time since boot.
//
//go:nosplit
func IsRealtime(id uintptr) bool {
	return id == ClockRealtime || id == ClockRealtimeCoarse || id == ClockRealtimeAlarm
}

// TimespecNs returns a struct timespec's length in nanoseconds,
// saturating at the largest int64; ok is false for a negative or
// unnormalised one (EINVAL).
//
//go:nosplit
func TimespecNs(sec, nsec int64) (ns int64, ok bool) {
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, false
	}
	if sec > (1<<63-1-nsec)/1e9 {
		return 1<<63 - 1, true
	}
	return sec*1e9 + nsec, true
}

// Deadline returns now+d, saturating at the largest int64.
//
//go:nosplit
func Deadline(now, d int64) int64 {
	if d > 1<<63-1-now {
		return 1<<63 - 1
	}
	return now + d
}

// SleepFor is how long a nanosleep of ns lasts under a timer of period
// tick that serves nothing shorter than min: a sleep from min up to a
// period lasts a whole period, as under a kernel whose timers have its
// tick's resolution; a shorter one (a spin-wait's few microseconds) and
// a longer one last as asked. A negative ns is 0.
//
//go:nosplit
func SleepFor(ns, min, tick int64) int64 {
	if ns >= min && ns < tick {
		return tick
	}
	return max(ns, 0)
}

// arch_prctl codes.
const ArchSetFS = 0x1002
