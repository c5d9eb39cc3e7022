package hypercall

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
)

// vcpu_op (24), after Xen 4.17's common/domain.c (do_vcpu_op) and
// arch/x86/domain.c (arch_do_vcpu_op), public/vcpu.h.

// VCPUOps is what vcpu_op needs from the calling domain beyond Domain: its
// vCPUs by id. hv's Domain implements it; a Domain without it gets -ENOSYS
// for every vcpu_op. vcpu is always a valid id (below NrVCPUs); the
// calling vCPU is Caller.VCPU.ID().
type VCPUOps interface {
	// NrVCPUs is the domain's vCPU count (Xen's max_vcpus).
	NrVCPUs() int
	// VCPUWaiter is vCPU vcpu's timers and sleep (nil: none).
	VCPUWaiter(vcpu int) *sched.Waiter
	// IsUp reports whether vCPU vcpu is up (Xen: not VPF_down).
	IsUp(vcpu int) bool
	// RegisterVCPUInfo moves vCPU vcpu's vcpu_info to frame mfn of the
	// domain at offset (map_vcpu_info), for the calling vCPU caller:
	// -EINVAL if one was registered already, if vcpu is neither the
	// caller nor down, if offset does not leave room for the 64 bytes (or
	// is not 8-byte aligned: gohv's event delivery updates the words
	// atomically), or if the frame is not the domain's or cannot be mapped
	// writable.
	RegisterVCPUInfo(caller, vcpu int, mfn mm.MFN, offset uint32) abi.Errno
	// RegisterRunstateArea records the guest address of vCPU vcpu's
	// runstate area (0 = none); the runstate is written there before the
	// vCPU next enters the guest, and whenever it changes.
	RegisterRunstateArea(vcpu int, va mm.GuestVA)
	// Runstate returns vCPU vcpu's runstate now (vcpu_runstate_get): the
	// current state's time includes the time since it was entered.
	Runstate(vcpu int) abi.VcpuRunstateInfo
	// RegisterTimeArea records the guest address of vCPU vcpu's second
	// vcpu_time_info (0 = none); it is written wherever the vcpu_info's
	// is, from the vCPU's next entry.
	RegisterTimeArea(vcpu int, va mm.GuestVA)
	// InitialiseVCPU is VCPUOP_initialise of vCPU vcpu, by vCPU caller,
	// with context c (decoded, not yet checked): Xen's
	// arch_set_info_guest for a vCPU never initialised. -EEXIST if it
	// was; -EINVAL for a context Xen refuses.
	InitialiseVCPU(caller, vcpu int, c *abi.VcpuGuestContext) abi.Errno
	// UpVCPU is VCPUOP_up: -EINVAL unless vCPU vcpu was initialised;
	// it runs from now on.
	UpVCPU(vcpu int) abi.Errno
	// DownVCPU is VCPUOP_down of vCPU vcpu while another vCPU is up: it
	// stops running until VCPUOP_up.
	DownVCPU(vcpu int)
	// PhysID returns the physical CPU id of vCPU vcpu (APIC id in bits
	// 0-31, ACPI id in 32-63); ok false unless the domain is the hardware
	// domain and the vCPU can only run on one physical CPU.
	PhysID(vcpu int) (id uint64, ok bool)
}

// vcpuRunstateSize is sizeof(struct vcpu_runstate_info).
const vcpuRunstateSize = 48

// doVCPUOp is vcpu_op (24): (int cmd, unsigned vcpuid, void *arg). An
// unknown vCPU is -ENOENT before the command is looked at, as in Xen.
func doVCPUOp(d *Dispatcher, c *Caller, a *Args) Result {
	ops, ok := c.Domain.(VCPUOps)
	if !ok {
		return Errno(abi.ENOSYS)
	}
	cmd, vcpu, arg := int32(a[0]), uint32(a[1]), a[2]
	if uint64(vcpu) >= uint64(ops.NrVCPUs()) {
		return Errno(abi.ENOENT)
	}
	v := int(vcpu)
	self := v == c.VCPU.ID()
	switch cmd {
	case abi.VCPUOP_is_up:
		if ops.IsUp(v) {
			return Value(1)
		}
		return Value(0)

	case abi.VCPUOP_get_runstate_info:
		return Errno(putRunstate(c, arg, ops.Runstate(v)))

	case abi.VCPUOP_register_runstate_memory_area:
		va, ok := c.readU64(arg) // struct vcpu_register_runstate_memory_area {addr}
		if !ok {
			return Errno(abi.EFAULT)
		}
		ops.RegisterRunstateArea(v, mm.GuestVA(va))
		return Errno(0)

	case abi.VCPUOP_register_vcpu_time_memory_area:
		va, ok := c.readU64(arg)
		if !ok {
			return Errno(abi.EFAULT)
		}
		ops.RegisterTimeArea(v, mm.GuestVA(va))
		return Errno(0)

	case abi.VCPUOP_register_vcpu_info:
		var b [16]byte // mfn@0, offset@8, rsvd@12
		if !c.readGuest(arg, b[:]) {
			return Errno(abi.EFAULT)
		}
		return Errno(ops.RegisterVCPUInfo(c.VCPU.ID(), v, mm.MFN(le.Uint64(b[0:])), le.Uint32(b[8:])))

	case abi.VCPUOP_set_periodic_timer:
		w := ops.VCPUWaiter(v)
		if w == nil {
			return Errno(abi.ENOSYS)
		}
		period, ok := c.readU64(arg) // struct vcpu_set_periodic_timer {period_ns}
		if !ok {
			return Errno(abi.EFAULT)
		}
		return Errno(w.SetPeriodic(period))

	case abi.VCPUOP_stop_periodic_timer:
		w := ops.VCPUWaiter(v)
		if w == nil {
			return Errno(abi.ENOSYS)
		}
		w.StopPeriodic()
		return Errno(0)

	case abi.VCPUOP_set_singleshot_timer:
		w := ops.VCPUWaiter(v)
		if w == nil {
			return Errno(abi.ENOSYS)
		}
		if !self {
			return Errno(abi.EINVAL)
		}
		b := c.arg[:16] // timeout_abs_ns@0, flags@8
		if !c.readGuest(arg, b) {
			return Errno(abi.EFAULT)
		}
		return Errno(w.SetSingleshot(le.Uint64(b[0:]), le.Uint32(b[8:])))

	case abi.VCPUOP_stop_singleshot_timer:
		w := ops.VCPUWaiter(v)
		if w == nil {
			return Errno(abi.ENOSYS)
		}
		if !self {
			return Errno(abi.EINVAL)
		}
		w.StopSingleshot()
		return Errno(0)

	case abi.VCPUOP_initialise:
		// The context is read before anything is looked at (-EFAULT),
		// as Xen's default_initialise_vcpu does.
		var b [VCPUContextSize]byte
		if !c.readGuest(arg, b[:]) {
			return Errno(abi.EFAULT)
		}
		ctx, ok := DecodeVCPUContext(b[:])
		if !ok {
			return Errno(abi.EFAULT)
		}
		return Errno(ops.InitialiseVCPU(c.VCPU.ID(), v, &ctx))

	case abi.VCPUOP_up:
		return Errno(ops.UpVCPU(v))

	case abi.VCPUOP_down:
		// The last vCPU going down shuts the domain down (poweroff), as
		// Xen does: that is how a PV Linux halts after a panic with
		// interrupts off. Otherwise vCPU v stops until VCPUOP_up (the
		// caller itself when the hypercall has returned 0).
		for i := range ops.NrVCPUs() {
			if i != v && ops.IsUp(i) {
				ops.DownVCPU(v)
				return Errno(0)
			}
		}
		return Errno(Shutdown(c.Domain, abi.SHUTDOWN_poweroff))

	case abi.VCPUOP_get_physid:
		id, ok := ops.PhysID(v)
		if !ok {
			return Errno(abi.EINVAL)
		}
		if !c.writeU64(arg, id) {
			return Errno(abi.EFAULT)
		}
		return Errno(0)
	}
	// send_nmi: not implemented (gohv injects no NMIs into guests).
	return Errno(abi.ENOSYS)
}

// VCPUContextSize is sizeof(struct vcpu_guest_context) for a 64-bit
// guest.
const VCPUContextSize = 5168

// DecodeVCPUContext decodes struct vcpu_guest_context (public
// arch-x86/xen.h, 64-bit layout) from b, which must hold VCPUContextSize
// bytes (ok false otherwise). Every bit pattern decodes: the checks are
// the worker's (hv, pv.CheckContext).
func DecodeVCPUContext(b []byte) (c abi.VcpuGuestContext, ok bool) {
	if len(b) < VCPUContextSize {
		return c, false
	}
	if _, err := binary.Decode(b[:VCPUContextSize], le, &c); err != nil {
		return c, false
	}
	return c, true
}

// putRunstate writes r as struct vcpu_runstate_info at va.
func putRunstate(c *Caller, va uint64, r abi.VcpuRunstateInfo) abi.Errno {
	b := EncodeRunstate(r)
	if !c.writeGuest(va, b[:]) {
		return abi.EFAULT
	}
	return 0
}

// EncodeRunstate lays r out as struct vcpu_runstate_info: state@0,
// state_entry_time@8, time[4]@16.
func EncodeRunstate(r abi.VcpuRunstateInfo) [vcpuRunstateSize]byte {
	var b [vcpuRunstateSize]byte
	le.PutUint32(b[0:], uint32(r.State))
	le.PutUint64(b[8:], r.StateEntryTime)
	for i, t := range r.Time {
		le.PutUint64(b[16+8*i:], t)
	}
	return b
}

// readU64 reads a 64-bit little-endian value from the guest.
func (c *Caller) readU64(va uint64) (uint64, bool) {
	b := c.word[:8]
	if !c.readGuest(va, b) {
		return 0, false
	}
	return le.Uint64(b), true
}
