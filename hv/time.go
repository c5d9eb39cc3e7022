package hv

import (
	"encoding/binary"
	"math/bits"

	"github.com/gohv/gohv/mm"
)

// TimeSource is the machine's clock as PV time needs it. Sample returns a
// TSC reading and the system time (ns since boot, Xen's NOW()) that
// belongs to it; TSCHz is the calibrated TSC frequency; WallClock is the
// UTC time at system time 0.
type TimeSource interface {
	Sample() (tsc uint64, systemNs int64)
	TSCHz() uint64
	WallClock() (sec int64, nsec int32)
}

// wcVersionOff is shared_info.wc_version (xen.h; abi's layout test holds
// it).
const wcVersionOff = 3072

// TimeScale is Xen's time_scale: ns = ((tsc << shift, or >> -shift) * mul) >> 32.
type TimeScale struct {
	Mul   uint32
	Shift int8
}

// ScaleFor returns the scale that turns ticks at hz into nanoseconds, as
// Xen's set_time_scale chooses it: hz is shifted into (1e9, 2e9] so the
// multiplier, 1e9/hz in 32-bit fixed point, keeps full precision.
func ScaleFor(hz uint64) TimeScale {
	const nsPerSec = 1_000_000_000
	if hz == 0 {
		return TimeScale{}
	}
	tps, shift := hz, int8(0)
	for tps > 2*nsPerSec {
		tps >>= 1
		shift--
	}
	for tps <= nsPerSec {
		tps <<= 1
		shift++
	}
	// mul = (1e9 << 32) / tps, which is below 2^32 since tps > 1e9.
	hi, lo := bits.Mul64(nsPerSec, 1<<32)
	mul, _ := bits.Div64(hi, lo, tps)
	return TimeScale{Mul: uint32(mul), Shift: shift}
}

// Apply converts a TSC delta to nanoseconds with the scale (what a guest's
// pvclock computes).
func (s TimeScale) Apply(delta uint64) uint64 {
	if s.Shift >= 0 {
		delta <<= uint(s.Shift)
	} else {
		delta >>= uint(-s.Shift)
	}
	hi, lo := bits.Mul64(delta, uint64(s.Mul))
	return hi<<32 | lo>>32
}

// writeVersioned writes body at machine address at with the odd/even
// version protocol on the 32-bit version word at ver: odd while the fields
// change, so a guest reading them retries until it sees the same even
// version before and after.
// v is the caller's scratch for the version word.
func writeVersioned(mem mm.MachineMemory, ver, at mm.Maddr, body []byte, v *[4]byte) {
	mem.Read(ver, v[:])
	n := binary.LittleEndian.Uint32(v[:]) | 1
	binary.LittleEndian.PutUint32(v[:], n)
	mem.Write(ver, v[:])
	mem.Write(at, body)
	binary.LittleEndian.PutUint32(v[:], n+1)
	mem.Write(ver, v[:])
}

// timeRefresh is how old a vCPU's vcpu_time_info may get: the guest
// extrapolates system time from the TSC with the scale it gives, which is
// exact for a stable TSC; Xen rewrites it once a second (time calibration)
// and when the vCPU is scheduled in, and so does gohv.
const timeRefresh = 1_000_000_000 // ns

// timeAged reports whether the vCPU's vcpu_time_info is older than
// timeRefresh.
func (v *VCPU) timeAged() bool {
	ts := v.dom.m.cfg.Time
	if ts == nil {
		return false
	}
	_, now := ts.Sample()
	return now-v.timeAt >= timeRefresh
}

// UpdateTime writes the vCPU's vcpu_time_info in its vcpu_info, wherever
// that is now: the TSC and system time now and the scale between them.
func (v *VCPU) UpdateTime() {
	ts := v.dom.m.cfg.Time
	info, ok := v.vcpuInfoAddr()
	if ts == nil || !ok {
		return
	}
	tsc, now := ts.Sample()
	v.timeAt = now
	sc := ScaleFor(ts.TSCHz())
	b := &v.bufs.time // tsc_timestamp, system_time, mul, shift, flags, pad
	*b = [24]byte{}
	binary.LittleEndian.PutUint64(b[0:], tsc)
	binary.LittleEndian.PutUint64(b[8:], uint64(now))
	binary.LittleEndian.PutUint32(b[16:], sc.Mul)
	b[20] = byte(sc.Shift)
	ma := info + vcpuTimeOff
	writeVersioned(v.dom.m.cfg.Mem, ma, ma+8, b[:], &v.bufs.version)
	// The second copy the guest registered (VCPUOP_register_vcpu_time_memory_area)
	// and the runstate area are refreshed at the same points.
	v.writeTimeArea(b[:])
	v.st.mu.Lock()
	rs := v.st.info
	v.st.mu.Unlock()
	v.writeRunstateArea(rs)
}

// updateWallClock writes shared_info's wall clock: the UTC time at system
// time 0 (wc_sec, wc_nsec, wc_sec_hi) with wc_version's protocol.
func (d *Domain) updateWallClock() {
	sec, nsec, ok := d.m.wallClock()
	if !ok {
		return
	}
	var b [12]byte // wc_sec, wc_nsec, wc_sec_hi after wc_version
	binary.LittleEndian.PutUint32(b[0:], uint32(sec))
	binary.LittleEndian.PutUint32(b[4:], uint32(nsec))
	binary.LittleEndian.PutUint32(b[8:], uint32(uint64(sec)>>32))
	ma := d.sharedInfo.Addr() + wcVersionOff
	var ver [4]byte
	writeVersioned(d.m.cfg.Mem, ma, ma+4, b[:], &ver)
}
