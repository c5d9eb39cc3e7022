package hypercall

import "github.com/gohv/gohv/abi"

// multicall (13): (multicall_entry_t *call_list, unsigned int nr_calls),
// after Xen 4.17's common/multicall.c and arch/x86/pv/hypercall.c
// pv_do_multicall_call.

// Layout of struct multicall_entry (xen.h, 64 bytes): op@0, result@8,
// args[6]@16.
const (
	mcEntrySize = 64
	mcResultOff = 8
	mcArgsOff   = 16
)

// doMulticall runs the entries through the same table as direct calls:
//  1. A multicall issued from inside a multicall is -EINVAL.
//  2. Before each entry but the first, a pending preemption ends the call
//     with a continuation for the entries left (list advanced, count
//     reduced): the progress count.
//  3. Each entry is read whole (-EFAULT if it cannot be) and its op run
//     with args[0..4]; only its result field is written back (-EFAULT if
//     that fails). An entry's error does not stop the batch.
//  4. An iret entry ends the batch (XSA-213): its result is stored best
//     effort and becomes the multicall's return value, since iret has
//     already switched the vCPU to the frame it restored.
//  5. An entry that itself preempts stores its continuation (op, result =
//     op, new args) into the entry and the multicall continues at that
//     entry.
//
// It returns 0 when every entry ran.
func doMulticall(d *Dispatcher, c *Caller, a *Args) Result {
	list, nr := a[0], uint32(a[1])
	if c.inMulticall {
		return Errno(abi.EINVAL)
	}
	if _, ok := elem(list, uint64(nr), mcEntrySize); !ok {
		return Errno(abi.EFAULT)
	}
	c.inMulticall = true
	defer func() { c.inMulticall = false }()

	b := c.mc[:]
	for i := range nr {
		entry := list + uint64(i)*mcEntrySize
		if i > 0 && c.VCPU.Preempt() {
			return Continuation(Args{entry, uint64(nr - i)})
		}
		if !c.readGuest(entry, b) {
			return Errno(abi.EFAULT)
		}
		op := le.Uint64(b[0:])
		args := &c.mcArgs
		for j := range args {
			args[j] = le.Uint64(b[mcArgsOff+8*j:])
		}
		res := d.Dispatch(c, op, args)

		if op == abi.HYPERVISOR_iret {
			c.writeU64(entry+mcResultOff, res.Ret) // best effort, as Xen
			return Value(res.Ret)
		}
		if res.Continue {
			le.PutUint64(b[mcResultOff:], op)
			for j, v := range res.Args {
				le.PutUint64(b[mcArgsOff+8*j:], v)
			}
			if !c.writeGuest(entry, b) {
				return Errno(abi.EFAULT)
			}
			return Continuation(Args{entry, uint64(nr - i)})
		}
		if !c.writeU64(entry+mcResultOff, res.Ret) {
			return Errno(abi.EFAULT)
		}
	}
	return Result{}
}
