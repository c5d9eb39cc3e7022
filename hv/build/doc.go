// Package build owns PV domain construction: the layout of a 64-bit PV
// domain's initial memory (Plan) and the writing of that memory image
// (Build): kernel segments, initrd, P2M list, start_info, xenstore and
// console pages (domU), the bootstrap page tables, the boot stack, the
// hypercall page, and the M2P entries for every page, as Xen 4.17's
// toolstack (tools/libs/guest/xg_dom_x86.c) and dom0 builder
// (xen/arch/x86/pv/dom0_build.c) do.
//
// Imports: abi, arch, mm, kernel and the standard library. Pure: no unsafe, no
// assembly, no hardware; guest memory is reached only through
// mm.MachineMemory, the M2P through the M2PSetter interface (*mm.M2P
// satisfies it), the hypervisor's L4 slots through a callback.
//
// Contracts:
//   - Plan is a pure function of its Input. It never panics; for any input
//     it either returns an error or a Layout whose elements are page
//     aligned, pairwise disjoint, and lie inside [0, NrPages) in PFN space.
//     Two orders are modelled: the toolstack's (libxenguest, Kind DomU) and
//     Xen's dom0 builder's (Kind Dom0); they differ in the padding rule,
//     the page-table order, the magic pages and the start_info fields.
//   - Build writes a Layout into the machine frames mfns (PFN i is mfns[i]),
//     which the caller has already assigned to the domain; l must come from
//     Plan unchanged. It writes only those frames (and the M2P through the
//     setter), leaving an in-place initrd's frames untouched. It does not type or pin
//     frames: Result lists the page-table frames by level and the L4 to pin,
//     and Result.Pin does it through an mm.Space (validation types every
//     table). A Build error leaves the frames in an unspecified state; the
//     caller discards the domain.
//   - Kernel images are untrusted input: every address computation is
//     checked for overflow, and bounds (MaxNrPages, MaxKernelSpan,
//     MaxInitrdLen) keep Plan's work and allocation proportional to the
//     page-table count, never to the memory size.
//   - Safe for concurrent use: no package state.
package build
