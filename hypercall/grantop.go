package hypercall

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/grant"
	"github.com/gohv/gohv/mm"
)

// grant_table_op (20): (unsigned int cmd, void *uop, unsigned int count),
// after Xen 4.17's common/grant_table.c do_grant_table_op. grant.CheckCall
// applies the call-level checks; setup_table and query_size take one
// struct; map, unmap, copy and swap loop over count elements (read,
// worker, write the whole element back), preempting between elements
// with a continuation for the elements left; set_version and get_version
// take one struct whatever count says; get_status_frames takes one (count
// 1) and writes its frame list as setup_table does.

// grantMaxElem is the largest element (gnttab_copy, 40 bytes).
const grantMaxElem = grant.SizeofCopyOp

func doGrantTableOp(d *Dispatcher, c *Caller, a *Args) Result {
	cmd, uop, count := uint32(a[0]), a[1], uint32(a[2])
	if d.grants == nil {
		return Errno(abi.ENOSYS)
	}
	caller := c.Domain.ID()
	op, e := d.grants.CheckCall(caller, cmd, count)
	if e != 0 {
		return Errno(e)
	}
	switch op {
	case abi.GNTTABOP_setup_table:
		return grantSetupTable(d, c, uop)

	case abi.GNTTABOP_query_size:
		var b [grant.SizeofQuerySizeOp]byte
		var q grant.QuerySizeOp
		if !c.readGuest(uop, b[:]) || !q.Decode(b[:]) {
			return Errno(abi.EFAULT)
		}
		q.NrFrames, q.MaxNrFrames, q.Status = d.grants.QuerySize(caller, q.Dom)
		q.EncodeOut(b[:])
		return copyOut(c, uop, b[:])

	case abi.GNTTABOP_set_version:
		var b [grant.SizeofSetVersionOp]byte
		var v grant.SetVersionOp
		if !c.readGuest(uop, b[:]) || !v.Decode(b[:]) {
			return Errno(abi.EFAULT)
		}
		var e abi.Errno
		v.Version, e = d.grants.SetVersion(caller, v.Version)
		v.Encode(b[:])
		if !c.writeGuest(uop, b[:]) { // written back in every case
			return Errno(abi.EFAULT)
		}
		return Errno(e)

	case abi.GNTTABOP_get_status_frames:
		return grantGetStatusFrames(d, c, uop)

	case abi.GNTTABOP_get_version:
		var b [grant.SizeofGetVersionOp]byte
		var v grant.GetVersionOp
		if !c.readGuest(uop, b[:]) || !v.Decode(b[:]) {
			return Errno(abi.EFAULT)
		}
		ver, e := d.grants.GetVersion(caller, v.Dom)
		if e != 0 {
			return Errno(e)
		}
		v.Version = ver
		v.EncodeOut(b[:])
		return copyOut(c, uop, b[:])
	}
	return grantLoop(d, c, op, uop, count)
}

// grantSetupTable is GNTTABOP_setup_table: the MFNs of the table's first
// nr_frames frames go to frame_list (an unwritable slot makes the status
// GNTST_bad_virt_addr, as in Xen); only the status field is written back.
func grantSetupTable(d *Dispatcher, c *Caller, uop uint64) Result {
	var b [grant.SizeofSetupTableOp]byte
	var s grant.SetupTableOp
	if !c.readGuest(uop, b[:]) || !s.Decode(b[:]) {
		return Errno(abi.EFAULT)
	}
	var frames []mm.MFN
	frames, s.Status = d.grants.SetupTable(c.Domain.ID(), s.Dom, s.NrFrames, frames)
	if s.Status == grant.GNTST_okay && !putFrameList(c, uint64(s.FrameList), frames) {
		s.Status = grant.GNTST_bad_virt_addr
	}
	s.EncodeOut(b[:])
	if !c.writeGuest(uop+8, b[8:10]) { // status@8
		return Errno(abi.EFAULT)
	}
	return Result{}
}

// putFrameList writes frames to the guest's uint64_t array at list, every
// slot it can: false if any could not be written (the op's status is then
// GNTST_bad_virt_addr, as in Xen).
func putFrameList(c *Caller, list uint64, frames []mm.MFN) bool {
	ok := true
	for i, m := range frames {
		va, in := elem(list, uint64(i), 8)
		if !in || !c.writeU64(va, uint64(m)) {
			ok = false
		}
	}
	return ok
}

// grantGetStatusFrames is GNTTABOP_get_status_frames: the MFNs of the
// table's first nr_frames status frames go to frame_list as uint64_t (an
// unwritable slot makes the status GNTST_bad_virt_addr, as in Xen); only
// the status field is written back.
func grantGetStatusFrames(d *Dispatcher, c *Caller, uop uint64) Result {
	var b [grant.SizeofGetStatusFramesOp]byte
	var s grant.GetStatusFramesOp
	if !c.readGuest(uop, b[:]) || !s.Decode(b[:]) {
		return Errno(abi.EFAULT)
	}
	var frames []mm.MFN
	frames, s.Status = d.grants.GetStatusFrames(c.Domain.ID(), s.Dom, s.NrFrames, frames)
	if s.Status == grant.GNTST_okay && !putFrameList(c, uint64(s.FrameList), frames) {
		s.Status = grant.GNTST_bad_virt_addr
	}
	s.EncodeOut(b[:])
	if !c.writeGuest(uop+6, b[6:8]) { // status@6
		return Errno(abi.EFAULT)
	}
	return Result{}
}

// grantLoop runs the batched ops (map, unmap, copy, swap) over count
// elements at uop.
func grantLoop(d *Dispatcher, c *Caller, op uint32, uop uint64, count uint32) Result {
	// Each element is read whole; what goes back is the whole element
	// for a map (Xen copies the op back) and only the status field for the
	// others (Xen's __copy_field_to_guest of status).
	var size, outOff, outLen int
	switch op {
	case abi.GNTTABOP_map_grant_ref:
		size, outOff, outLen = grant.SizeofMapOp, 0, grant.SizeofMapOp
	case abi.GNTTABOP_unmap_grant_ref:
		size, outOff, outLen = grant.SizeofUnmapOp, 20, 2
	case abi.GNTTABOP_copy:
		size, outOff, outLen = grant.SizeofCopyOp, 36, 2
	case abi.GNTTABOP_swap_grant_ref:
		size, outOff, outLen = grant.SizeofSwapOp, 8, 2
	default:
		return Errno(abi.ENOSYS) // CheckCall admits no other op
	}
	if _, ok := elem(uop, uint64(count), uint64(size)); !ok {
		return Errno(abi.EFAULT)
	}
	caller := c.Domain.ID()
	b := c.arg[:size]
	for i := range count {
		at := uop + uint64(i)*uint64(size)
		if i > 0 && c.VCPU.Preempt() {
			return Continuation(Args{uint64(op), at, uint64(count - i)})
		}
		if !c.readGuest(at, b) {
			return Errno(abi.EFAULT)
		}
		switch op {
		case abi.GNTTABOP_map_grant_ref:
			var m grant.MapOp
			m.Decode(b)
			d.grants.MapGrantRef(caller, &m)
			m.EncodeOut(b)
		case abi.GNTTABOP_unmap_grant_ref:
			var u grant.UnmapOp
			u.Decode(b)
			d.grants.UnmapGrantRef(caller, &u)
			u.EncodeOut(b)
		case abi.GNTTABOP_copy:
			var cp grant.CopyOp
			cp.Decode(b)
			d.grants.Copy(caller, &cp)
			cp.EncodeOut(b)
		case abi.GNTTABOP_swap_grant_ref:
			var s grant.SwapOp
			s.Decode(b)
			d.grants.SwapGrantRef(caller, &s)
			s.EncodeOut(b)
		}
		if !c.writeGuest(at+uint64(outOff), b[outOff:outOff+outLen]) {
			return Errno(abi.EFAULT)
		}
	}
	return Result{}
}
