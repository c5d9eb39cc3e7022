package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/internal/chacha20"
)

// Randomness for getrandom and AT_RANDOM (the Go runtime's hash seeds and
// crypto/rand).
//
// With RDRAND (CPUID.1:ECX[30]) every request is answered by the CPU's
// generator. Without it, or if RDRAND keeps failing, a ChaCha20 generator
// with fast key erasure (internal/chacha20) answers. It is seeded in
// kmain by seedRandom from:
//   - RDSEED and RDRAND, where the CPU has them;
//   - the TSC's jitter over seedSamples rounds of PIT-counter and
//     RTC-status reads: port I/O is slow and uneven next to the TSC, and
//     the PIT and RTC run off their own crystals, so the low bits of each
//     round's TSC delta and the PIT count it read vary from boot to boot;
//   - the RTC time (readRTC) and the TSC rate (calibrateTSC);
//   - the boot loader's information block (the first 128 bytes at EBX).
//
// and reseeded about once a second (reseedNs), at the next request, with
// a few more rounds of the same jitter.
//
// Limits: without RDSEED/RDRAND all of it comes from timing. On real
// hardware that is a few bits per round; under an emulator (QEMU's TCG)
// the timing is coarser and more repeatable, and a first boot of an
// identical image on an idle host may have little entropy at all. The
// boot-loader block and the RTC time make boots differ but are no
// secret. Good enough for hash seeds and for what gohv's own Go code asks
// crypto/rand for today; not for long-term keys on a CPU without RDRAND.

const (
	seedSamples  = 512           // jitter rounds at boot
	reseedRounds = 16            // jitter rounds at each reseed
	reseedNs     = 1_000_000_000 // system time between reseeds
)

var (
	rng          chacha20.Generator
	rngReseedAt  int64  // system time (nanotime) at the last reseed
	rdrandFailed uint64 // RDRAND gave nothing ten times in a row
)

// seedRandom seeds rng. Context: kmain, after calibrateTSC and readRTC,
// before the timer starts and any thread runs.
//
//go:nosplit
func seedRandom() {
	_, _, c1, _ := amd64.Cpuid(1, 0)
	rdseed := false
	if max, _, _, _ := amd64.Cpuid(0, 0); max >= 7 {
		_, b7, _, _ := amd64.Cpuid(7, 0)
		rdseed = b7&amd64.CPUID7_EBX_RDSEED != 0
	}
	for i := 0; i < 16; i++ {
		if rdseed {
			if v, ok := amd64.Rdseed(); ok {
				rng.Mix(v)
			}
		}
		if c1&amd64.CPUID1_ECX_RDRAND != 0 {
			if v, ok := amd64.Rdrand(); ok {
				rng.Mix(v)
			}
		}
	}
	rng.Mix(uint64(bootUnix))
	rng.Mix(tscHz)
	rng.Mix(amd64.Rdtsc())
	if info := uint64(bootInfo); info != 0 {
		for off := uint64(0); off < 128; off += 8 {
			rng.Mix(*(*uint64)(unsafe.Pointer(dm(info + off))))
		}
	}
	jitter(seedSamples)
	rng.Rekey()
}

// jitter mixes n rounds of TSC timing around a PIT channel 0 latch and
// read and an RTC status read into rng, with what they read.
//
//go:nosplit
func jitter(n int) {
	var acc uint64
	for i := 0; i < n; i++ {
		t0 := amd64.Rdtsc()
		amd64.Outb(0x43, 0x00) // latch channel 0's count
		lo := amd64.Inb(0x40)
		hi := amd64.Inb(0x40)
		a := cmos(0x0A)
		t1 := amd64.Rdtsc()
		acc = (acc<<13 | acc>>51) ^ (t1 - t0) ^ uint64(lo)<<32 ^ uint64(hi)<<40 ^ uint64(a)<<48 ^ t1<<56
		if i&3 == 3 {
			rng.Mix(acc)
		}
	}
	rng.Mix(acc)
}

// random returns 8 random bytes: RDRAND if the CPU has it and it answers,
// otherwise rng, reseeded first if reseedNs has passed. Context: the
// shim (interrupts off), or kmain.
//
//go:nosplit
func random() uint64 {
	if haveRdrand {
		for i := 0; i < 10; i++ {
			if v, ok := amd64.Rdrand(); ok {
				return v
			}
		}
		rdrandFailed++
	}
	if t := nanotime(); t-rngReseedAt >= reseedNs {
		rngReseedAt = t
		rng.Mix(uint64(t))
		jitter(reseedRounds)
		rng.Rekey()
	}
	return rng.Uint64()
}
