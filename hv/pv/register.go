package pv

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

// The hypercalls that change a vCPU's PV state, as entries of the one
// dispatch table: each handler decodes its arguments (registers, then
// guest memory through the Caller) and calls a worker of VCPU. They are
// served alike as direct calls and as multicall entries, as Xen's pv64
// column serves them (set_segment_base and iret included).

// Owner is the calling vCPU as these handlers need it: the
// hypercall.VCPU of a PV vCPU also gives its PV state. hv's VCPU
// implements it.
type Owner interface {
	PV() *VCPU
}

// pvOf returns the PV state of the calling vCPU, nil if it has none.
func pvOf(c *hypercall.Caller) *VCPU {
	if o, ok := c.VCPU.(Owner); ok {
		return o.PV()
	}
	return nil
}

// pvHandler wraps a PV hypercall: -ENOSYS for a caller without PV state.
func pvHandler(h func(v *VCPU, c *hypercall.Caller, a *hypercall.Args) hypercall.Result) hypercall.Handler {
	return func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		v := pvOf(c)
		if v == nil || v.Regs == nil {
			return hypercall.Errno(abi.ENOSYS)
		}
		return h(v, c, a)
	}
}

// handlers are the PV model's entries of the dispatch table, by
// hypercall number.
var handlers = map[int]hypercall.Handler{
	abi.HYPERVISOR_set_trap_table:    pvHandler(doSetTrapTable),
	abi.HYPERVISOR_set_gdt:           pvHandler(doSetGDT),
	abi.HYPERVISOR_stack_switch:      pvHandler(doStackSwitch),
	abi.HYPERVISOR_set_callbacks:     pvHandler(doSetCallbacks),
	abi.HYPERVISOR_fpu_taskswitch:    pvHandler(doFPUTaskswitch),
	abi.HYPERVISOR_set_debugreg:      pvHandler(doSetDebugReg),
	abi.HYPERVISOR_get_debugreg:      pvHandler(doGetDebugReg),
	abi.HYPERVISOR_update_descriptor: pvHandler(doUpdateDescriptor),
	abi.HYPERVISOR_iret:              pvHandler(doIret),
	abi.HYPERVISOR_set_segment_base:  pvHandler(doSetSegmentBase),
	abi.HYPERVISOR_callback_op:       pvHandler(doCallbackOp),
}

// Register installs the handlers in d (boot time, before any Dispatch).
func Register(d *hypercall.Dispatcher) error {
	for nr, h := range handlers {
		if err := d.Register(nr, h); err != nil {
			return err
		}
	}
	return nil
}

func result(e abi.Errno) hypercall.Result { return hypercall.Errno(e) }

// doIret restores the whole register file from the guest's stack, also
// from inside a multicall (which it ends): IretDone tells the exit path
// to keep the restored registers.
func doIret(v *VCPU, _ *hypercall.Caller, _ *hypercall.Args) hypercall.Result {
	v.IretDone = true
	rax, err := v.Iret(v.Regs)
	if err != nil {
		v.IretErr = err
	}
	return hypercall.Value(rax)
}

func doSetTrapTable(v *VCPU, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	next, more, e := v.SetTrapTable(a[0], c.VCPU.Preempt)
	if e != 0 {
		return hypercall.Errno(e)
	}
	if more {
		rest := *a
		rest[0] = next
		return hypercall.Continuation(rest)
	}
	return hypercall.Value(0)
}

func doStackSwitch(v *VCPU, _ *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	return result(v.StackSwitch(a[0], a[1]))
}

func doSetCallbacks(v *VCPU, _ *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	return result(v.SetCallbacks(a[0], a[1], a[2]))
}

func doFPUTaskswitch(v *VCPU, _ *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	return result(v.FPUTaskswitch(a[0] != 0))
}

func doSetDebugReg(v *VCPU, _ *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	return result(v.SetDebugReg(int(a[0]), a[1]))
}

func doGetDebugReg(v *VCPU, _ *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	val, e := v.GetDebugReg(int(a[0]))
	if e != 0 {
		return hypercall.Errno(e)
	}
	return hypercall.Value(val)
}

// doSetSegmentBase is set_segment_base (25): (which, base). It changes
// the register file the vCPU re-enters with, so it works the same as a
// direct call and as a multicall entry.
func doSetSegmentBase(v *VCPU, _ *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	return result(v.SetSegmentBase(v.Regs, a[0], a[1]))
}

// doSetGDT is set_gdt (2): (frame_list, entries), frame_list an array of
// 64-bit MFNs, one per 512 entries. entries above FirstReservedGDTEntry
// is -EINVAL before the list is read; an unreadable list is -EFAULT.
func doSetGDT(v *VCPU, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	entries := a[1]
	if entries > FirstReservedGDTEntry {
		return hypercall.Errno(abi.EINVAL)
	}
	n := (entries*8 + mm.PageSize - 1) / mm.PageSize
	var b [8 * (FirstReservedGDTEntry * 8 / mm.PageSize)]byte
	if n > 0 && !c.Mem.CopyFromGuest(b[:8*n], mm.GuestVA(a[0])) {
		return hypercall.Errno(abi.EFAULT)
	}
	frames := make([]mm.MFN, n)
	for i := range frames {
		frames[i] = mm.MFN(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return result(v.SetGDT(frames, entries, c.VCPU.Flusher()))
}

// doUpdateDescriptor is update_descriptor (10): (machine address, desc).
func doUpdateDescriptor(v *VCPU, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	return result(v.UpdateDescriptor(mm.Maddr(a[0]), a[1], c.VCPU.Flusher()))
}

// doCallbackOp is callback_op (30): CALLBACKOP_register with struct
// callback_register {u16 type; u16 flags; u32 pad; u64 address},
// CALLBACKOP_unregister with struct callback_unregister {u16 type}.
func doCallbackOp(v *VCPU, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	switch a[0] {
	case abi.CALLBACKOP_register:
		var b [16]byte
		if !c.Mem.CopyFromGuest(b[:], mm.GuestVA(a[1])) {
			return hypercall.Errno(abi.EFAULT)
		}
		le := binary.LittleEndian
		return result(v.RegisterCallback(le.Uint16(b[0:]), le.Uint16(b[2:]), le.Uint64(b[8:])))
	case abi.CALLBACKOP_unregister:
		var b [2]byte
		if !c.Mem.CopyFromGuest(b[:], mm.GuestVA(a[1])) {
			return hypercall.Errno(abi.EFAULT)
		}
		return result(v.UnregisterCallback(binary.LittleEndian.Uint16(b[:])))
	}
	return hypercall.Errno(abi.ENOSYS)
}
