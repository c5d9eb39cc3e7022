package hypercall

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/sched"
)

// vm_assist (21), sched_op (29), sched_op_compat (6) and set_timer_op (15),
// after Xen 4.17's common/domain.c, common/sched/core.c and
// arch/x86/include/asm/domain.h.

// vmAssistValid is the vm_assist set a 64-bit PV domain may use (Xen's
// VM_ASSIST_VALID for PV64): types 0-5 and m2p_strict.
const vmAssistValid = 1<<abi.VMASST_TYPE_4gb_segments |
	1<<abi.VMASST_TYPE_4gb_segments_notify |
	1<<abi.VMASST_TYPE_writable_pagetables |
	1<<abi.VMASST_TYPE_pae_extended_cr3 |
	1<<abi.VMASST_TYPE_architectural_iopl |
	1<<abi.VMASST_TYPE_runstate_update_flag |
	1<<abi.VMASST_TYPE_m2p_strict

// VMAssistOp is the worker of vm_assist: enable (cmd 0) or disable (cmd 1)
// assist type t for the domain. The type is checked first, as Xen does: a
// type outside the PV64 set is -EINVAL whatever cmd says; a bad cmd with a
// valid type is -ENOSYS.
func (s *DomainState) VMAssistOp(cmd, t uint32) abi.Errno {
	if t >= 64 || vmAssistValid&(1<<t) == 0 {
		return abi.EINVAL
	}
	switch cmd {
	case abi.VMASST_CMD_enable:
		s.vmAssist.Or(1 << t)
		return 0
	case abi.VMASST_CMD_disable:
		s.vmAssist.And(^uint64(1 << t))
		return 0
	}
	return abi.ENOSYS
}

func doVMAssist(d *Dispatcher, c *Caller, a *Args) Result {
	return Errno(c.Domain.State().VMAssistOp(uint32(a[0]), uint32(a[1])))
}

// Shutdown records shutdown reason for the domain and starts its shutdown
// (Xen's domain_shutdown): the first recorded code wins (a later request
// or SCHEDOP_shutdown_code cannot change it), and dom.Shutdown is called
// on the first request, and on every request of the hardware domain. A
// reason above SHUTDOWN_MAX is -EINVAL (see doc.go: Xen 4.17 truncates the
// reason to 8 bits and accepts anything; gohv refuses what no guest can
// mean). SHUTDOWN_suspend is recorded like any other reason: hv pauses
// the domain and the toolstack saves it; a cancelled suspend is resumed by
// the toolstack, which sets the guest's RAX to 1 itself, so the hypercall
// returns 0 here.
func Shutdown(dom Domain, reason uint32) abi.Errno {
	if reason > abi.SHUTDOWN_MAX {
		return abi.EINVAL
	}
	s := dom.State()
	s.mu.Lock()
	if s.shutdownCode == noShutdownCode {
		s.shutdownCode = int16(reason)
	}
	code := uint8(s.shutdownCode)
	first := !s.shuttingDown.Load()
	s.shuttingDown.Store(true)
	s.mu.Unlock()
	if first || dom.HardwareDomain() {
		dom.Shutdown(code)
	}
	return 0
}

// setShutdownCode is SCHEDOP_shutdown_code: record reason as the code a
// later shutdown reports, unless one is recorded already.
func (s *DomainState) setShutdownCode(reason uint32) abi.Errno {
	if reason > abi.SHUTDOWN_MAX {
		return abi.EINVAL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdownCode == noShutdownCode {
		s.shutdownCode = int16(reason)
	}
	return 0
}

// schedPollSize is sizeof(struct sched_poll): ports@0, nr_ports@8,
// timeout@16.
const schedPollSize = 24

func doSchedOp(d *Dispatcher, c *Caller, a *Args) Result {
	cmd, arg := int32(a[0]), a[1]
	switch cmd {
	case abi.SCHEDOP_yield:
		return schedWait(c, func(w *sched.Waiter) abi.Errno { return w.Yield() })

	case abi.SCHEDOP_block:
		return schedWait(c, func(w *sched.Waiter) abi.Errno { return w.Block() })

	case abi.SCHEDOP_shutdown:
		reason, ok := c.readU32(arg) // struct sched_shutdown {u32 reason}
		if !ok {
			return Errno(abi.EFAULT)
		}
		return Errno(Shutdown(c.Domain, reason))

	case abi.SCHEDOP_shutdown_code:
		reason, ok := c.readU32(arg)
		if !ok {
			return Errno(abi.EFAULT)
		}
		return Errno(c.Domain.State().setShutdownCode(reason))

	case abi.SCHEDOP_poll:
		return schedPoll(c, arg)

	case abi.SCHEDOP_remote_shutdown:
		var b [8]byte // struct sched_remote_shutdown: domain_id@0 (u16), reason@4
		if !c.readGuest(arg, b[:]) {
			return Errno(abi.EFAULT)
		}
		target, ok := d.lookup(abi.DomID(le.Uint16(b[0:])))
		if !ok {
			return Errno(abi.ESRCH)
		}
		if !c.Domain.Privileged() { // XSM_DM_PRIV: no exception for itself
			return Errno(abi.EPERM)
		}
		return Errno(Shutdown(target, le.Uint32(b[4:])))
	}
	// SCHEDOP_watchdog and SCHEDOP_pin_override are not implemented.
	return Errno(abi.ENOSYS)
}

// schedWait runs f on the calling vCPU's waiter, -ENOSYS without one.
func schedWait(c *Caller, f func(*sched.Waiter) abi.Errno) Result {
	w := c.VCPU.Waiter()
	if w == nil {
		return Errno(abi.ENOSYS)
	}
	return Errno(f(w))
}

// schedPoll decodes struct sched_poll and the port list (nr_ports above
// 128 is -EINVAL before the list is read, as in Xen) and polls. The list
// is read whole before any port is checked: Xen reads it a port at a time,
// so a list whose tail faults after a pending port returns 0 there and
// -EFAULT here.
func schedPoll(c *Caller, arg uint64) Result {
	w := c.VCPU.Waiter()
	if w == nil {
		return Errno(abi.ENOSYS)
	}
	b := c.arg[:schedPollSize]
	if !c.readGuest(arg, b) {
		return Errno(abi.EFAULT)
	}
	ports, nr, timeout := le.Uint64(b[0:]), le.Uint32(b[8:]), le.Uint64(b[16:])
	if nr > sched.MaxPollPorts {
		return Errno(abi.EINVAL)
	}
	raw := c.ports[:]
	if nr > 0 && !c.readGuest(ports, raw[:nr*4]) {
		return Errno(abi.EFAULT)
	}
	var list [sched.MaxPollPorts]uint32
	for i := range nr {
		list[i] = le.Uint32(raw[i*4:])
	}
	return Errno(w.Poll(list[:nr], int64(timeout)))
}

// doSchedOpCompat is the legacy sched_op_compat (6): (int cmd, unsigned
// long arg) with the shutdown reason in arg itself.
func doSchedOpCompat(d *Dispatcher, c *Caller, a *Args) Result {
	switch int32(a[0]) {
	case abi.SCHEDOP_yield:
		return schedWait(c, func(w *sched.Waiter) abi.Errno { return w.Yield() })
	case abi.SCHEDOP_block:
		return schedWait(c, func(w *sched.Waiter) abi.Errno { return w.Block() })
	case abi.SCHEDOP_shutdown:
		if a[1] > abi.SHUTDOWN_MAX {
			return Errno(abi.EINVAL)
		}
		return Errno(Shutdown(c.Domain, uint32(a[1])))
	}
	return Errno(abi.ENOSYS)
}

// doSetTimerOp is set_timer_op (15): (s64 timeout), absolute system time
// in ns; 0 cancels. Always 0 (sched.Waiter.SetTimerOp).
func doSetTimerOp(d *Dispatcher, c *Caller, a *Args) Result {
	return schedWait(c, func(w *sched.Waiter) abi.Errno { return w.SetTimerOp(int64(a[0])) })
}

// lookup finds domain id for an operation that names one; reserved ids
// (DOMID_SELF included, as Xen's rcu_lock_domain_by_id) are not domains.
func (d *Dispatcher) lookup(id abi.DomID) (Domain, bool) {
	if id.IsReserved() || d.domains == nil {
		return nil, false
	}
	return d.domains.Lookup(id)
}
