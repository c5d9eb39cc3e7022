package grant

import "github.com/gohv/gohv/abi"

// CmdMask selects the op in grant_table_op's cmd argument: the bits above
// carry continuation state, which only GNTTABOP_cache_flush uses
// (GNTTABOP_CONTINUATION_ARG_SHIFT = 12 in xen/common/grant_table.c, part
// of the ABI because a guest may migrate mid-continuation).
const CmdMask = 1<<12 - 1

// CheckCall applies do_grant_table_op's checks to a call from domain
// caller before any struct is read, and returns the op number to dispatch
// on:
//   - EINVAL if count is negative as a C int;
//   - ENOSYS if the caller has no grant table (a gohv choice: in Xen 4.17
//     every domain has one) or the op is not implemented here
//     (dump_table, transfer, unmap_and_replace, cache_flush: guests do
//     not need them, and XTF and Linux accept ENOSYS);
//   - EINVAL if continuation bits are set in cmd;
//   - EINVAL for setup_table, query_size or get_status_frames with
//     count != 1.
//
// Every other op loops over count elements: decode, worker, EncodeOut,
// preempting between elements with the number done.
func (ts *Tables) CheckCall(caller abi.DomID, cmd, count uint32) (op uint32, e abi.Errno) {
	if int32(count) < 0 {
		return 0, abi.EINVAL
	}
	if !ts.Has(caller) {
		return 0, abi.ENOSYS
	}
	op = cmd & CmdMask
	if op != abi.GNTTABOP_cache_flush && cmd&^CmdMask != 0 {
		return 0, abi.EINVAL
	}
	switch op {
	case abi.GNTTABOP_map_grant_ref, abi.GNTTABOP_unmap_grant_ref, abi.GNTTABOP_copy,
		abi.GNTTABOP_set_version, abi.GNTTABOP_get_version, abi.GNTTABOP_swap_grant_ref:
		return op, 0
	case abi.GNTTABOP_setup_table, abi.GNTTABOP_query_size, abi.GNTTABOP_get_status_frames:
		if count != 1 {
			return 0, abi.EINVAL
		}
		return op, 0
	}
	return 0, abi.ENOSYS
}
