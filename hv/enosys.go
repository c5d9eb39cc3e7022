package hv

import (
	"sync"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/mm"
)

// enosysRet is RAX for -ENOSYS.
var enosysRet = abi.ENOSYS.Ret()

// enosysSeen is the set of hypercalls and sub-ops a domain has got
// -ENOSYS for, so each is reported once.
type enosysSeen struct {
	mu   sync.Mutex
	seen map[uint64]bool // key: number<<32 | sub-op (+1; 0: none)
}

// hypercallNames are Xen 4.17's hypercall names (public/xen.h), by number.
var hypercallNames = [hypercall.NrHypercalls]string{
	0: "set_trap_table", 1: "mmu_update", 2: "set_gdt", 3: "stack_switch", 4: "set_callbacks",
	5: "fpu_taskswitch", 6: "sched_op_compat", 7: "platform_op", 8: "set_debugreg", 9: "get_debugreg",
	10: "update_descriptor", 12: "memory_op", 13: "multicall", 14: "update_va_mapping",
	15: "set_timer_op", 16: "event_channel_op_compat", 17: "xen_version", 18: "console_io",
	19: "physdev_op_compat", 20: "grant_table_op", 21: "vm_assist", 22: "update_va_mapping_otherdomain",
	23: "iret", 24: "vcpu_op", 25: "set_segment_base", 26: "mmuext_op", 27: "xsm_op", 28: "nmi_op",
	29: "sched_op", 30: "callback_op", 31: "xenoprof_op", 32: "event_channel_op", 33: "physdev_op",
	34: "hvm_op", 35: "sysctl", 36: "domctl", 37: "kexec_op", 38: "tmem_op", 39: "argo_op",
	40: "xenpmu_op", 41: "dm_op", 42: "hypfs_op", 48: "mca", 49: "paging_domctl_cont",
}

// subOp returns the sub-op of hypercall nr with arguments a: the command
// in the first argument for the multiplexed calls (memory_op's low 6 bits),
// the cmd field at the start of the argument structure for platform_op,
// sysctl and domctl (read through the vCPU's tables). ok false for calls
// without sub-ops.
func (v *VCPU) subOp(nr uint64, a *hypercall.Args) (op uint32, ok bool) {
	switch nr {
	case abi.HYPERVISOR_memory_op:
		return uint32(a[0] & 0x3f), true
	case abi.HYPERVISOR_sched_op_compat, abi.HYPERVISOR_xen_version, abi.HYPERVISOR_console_io,
		abi.HYPERVISOR_grant_table_op, abi.HYPERVISOR_vm_assist, abi.HYPERVISOR_vcpu_op,
		abi.HYPERVISOR_sched_op, abi.HYPERVISOR_callback_op, abi.HYPERVISOR_event_channel_op,
		abi.HYPERVISOR_physdev_op, abi.HYPERVISOR_hvm_op, abi.HYPERVISOR_xenpmu_op,
		abi.HYPERVISOR_nmi_op, abi.HYPERVISOR_kexec_op:
		return uint32(a[0]), true
	case abi.HYPERVISOR_platform_op, abi.HYPERVISOR_sysctl, abi.HYPERVISOR_domctl:
		var b [4]byte
		if !v.guest.CopyFromGuest(b[:], mm.GuestVA(a[0])) {
			return 0, false
		}
		return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24, true
	}
	return 0, false
}

// noteENOSYS prints, at loglvl=all (debug), one line the first time the
// domain gets -ENOSYS for hypercall nr (and its sub-op), so the next
// missing piece names itself:
//
//	(XEN) d0v0 hypercall 33 (physdev_op) cmd 12: -ENOSYS
func (v *VCPU) noteENOSYS(nr uint64, a *hypercall.Args) {
	op, hasOp := v.subOp(nr, a)
	key := nr << 32
	if hasOp {
		key |= uint64(op) + 1
	}
	d := v.dom
	d.enosys.mu.Lock()
	if d.enosys.seen == nil {
		d.enosys.seen = map[uint64]bool{}
	}
	first := !d.enosys.seen[key]
	d.enosys.seen[key] = true
	d.enosys.mu.Unlock()
	if !first {
		return
	}
	name := "unknown"
	if nr < uint64(len(hypercallNames)) && hypercallNames[nr] != "" {
		name = hypercallNames[nr]
	}
	if hasOp {
		d.log().Printf(klog.Debug, "d%dv%d hypercall %d (%s) cmd %d: -ENOSYS", d.id, v.id, nr, name, op)
		return
	}
	d.log().Printf(klog.Debug, "d%dv%d hypercall %d (%s): -ENOSYS", d.id, v.id, nr, name)
}
