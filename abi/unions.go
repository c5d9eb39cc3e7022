// Copyright 2026 The gohv Authors. All rights reserved.

package abi

import "encoding/binary"

// Accessors for the C unions that cgo gives as byte arrays. All values are
// little-endian, as on x86-64. Each accessor names the union member it
// reads or writes; the caller picks the member from the operation, as the
// C code does.

var le = binary.LittleEndian

// Mfn returns arg1.mfn (PIN/UNPIN_TABLE, NEW_BASEPTR, NEW_USER_BASEPTR,
// CLEAR_PAGE, COPY_PAGE, MARK/UNMARK_SUPER).
func (op *MmuextOp) Mfn() uint64 { return le.Uint64(op.Arg1[:]) }

// LinearAddr returns arg1.linear_addr (INVLPG_LOCAL, INVLPG_MULTI,
// INVLPG_ALL, SET_LDT).
func (op *MmuextOp) LinearAddr() uint64 { return le.Uint64(op.Arg1[:]) }

// SetArg1 stores v in arg1 (either member; both are 8 bytes).
func (op *MmuextOp) SetArg1(v uint64) { le.PutUint64(op.Arg1[:], v) }

// NrEnts returns arg2.nr_ents (SET_LDT), a 32-bit member.
func (op *MmuextOp) NrEnts() uint32 { return le.Uint32(op.Arg2[:4]) }

// Vcpumask returns arg2.vcpumask (TLB_FLUSH_MULTI, INVLPG_MULTI).
func (op *MmuextOp) Vcpumask() GuestHandle { return GuestHandle(le.Uint64(op.Arg2[:])) }

// SrcMfn returns arg2.src_mfn (COPY_PAGE).
func (op *MmuextOp) SrcMfn() uint64 { return le.Uint64(op.Arg2[:]) }

// SetArg2 stores v in all 8 bytes of arg2.
func (op *MmuextOp) SetArg2(v uint64) { le.PutUint64(op.Arg2[:], v) }

// ConsoleDomU returns console.domU: the console ring's MFN and event
// channel port, as given to an unprivileged domain.
func (si *StartInfo) ConsoleDomU() (mfn uint64, evtchn uint32) {
	return le.Uint64(si.Console[0:8]), le.Uint32(si.Console[8:12])
}

// SetConsoleDomU stores console.domU and zeroes the rest of the union.
func (si *StartInfo) SetConsoleDomU(mfn uint64, evtchn uint32) {
	si.Console = [16]byte{}
	le.PutUint64(si.Console[0:8], mfn)
	le.PutUint32(si.Console[8:12], evtchn)
}

// ConsoleDom0 returns console.dom0: the offset and size, within the
// start_info page, of a Dom0VgaConsoleInfo (both 0 when there is none).
func (si *StartInfo) ConsoleDom0() (infoOff, infoSize uint32) {
	return le.Uint32(si.Console[0:4]), le.Uint32(si.Console[4:8])
}

// SetConsoleDom0 stores console.dom0 and zeroes the rest of the union.
func (si *StartInfo) SetConsoleDom0(infoOff, infoSize uint32) {
	si.Console = [16]byte{}
	le.PutUint32(si.Console[0:4], infoOff)
	le.PutUint32(si.Console[4:8], infoSize)
}

// UnboundDom returns u.unbound.dom (EVTCHNSTAT_unbound).
func (st *EvtchnStatus) UnboundDom() uint16 { return le.Uint16(st.U[0:2]) }

// Interdomain returns u.interdomain (EVTCHNSTAT_interdomain).
func (st *EvtchnStatus) Interdomain() (dom uint16, port uint32) {
	return le.Uint16(st.U[0:2]), le.Uint32(st.U[4:8])
}

// Pirq returns u.pirq (EVTCHNSTAT_pirq).
func (st *EvtchnStatus) Pirq() uint32 { return le.Uint32(st.U[0:4]) }

// Virq returns u.virq (EVTCHNSTAT_virq).
func (st *EvtchnStatus) Virq() uint32 { return le.Uint32(st.U[0:4]) }

// SetUnbound stores u.unbound.dom and zeroes the rest of the union.
func (st *EvtchnStatus) SetUnbound(dom uint16) {
	st.U = [8]byte{}
	le.PutUint16(st.U[0:2], dom)
}

// SetInterdomain stores u.interdomain and zeroes the rest of the union.
func (st *EvtchnStatus) SetInterdomain(dom uint16, port uint32) {
	st.U = [8]byte{}
	le.PutUint16(st.U[0:2], dom)
	le.PutUint32(st.U[4:8], port)
}

// SetPirq stores u.pirq and zeroes the rest of the union.
func (st *EvtchnStatus) SetPirq(pirq uint32) {
	st.U = [8]byte{}
	le.PutUint32(st.U[0:4], pirq)
}

// SetVirq stores u.virq and zeroes the rest of the union.
func (st *EvtchnStatus) SetVirq(virq uint32) {
	st.U = [8]byte{}
	le.PutUint32(st.U[0:4], virq)
}

// Ref returns u.ref, the grant reference (flag GNTCOPY_source_gref or
// GNTCOPY_dest_gref set for this side).
func (p *GnttabCopyPtr) Ref() uint32 { return le.Uint32(p.U[0:4]) }

// Gmfn returns u.gmfn, the frame (flag for this side clear).
func (p *GnttabCopyPtr) Gmfn() uint64 { return le.Uint64(p.U[0:8]) }

// SetRef stores u.ref and zeroes the rest of the union.
func (p *GnttabCopyPtr) SetRef(ref uint32) {
	p.U = [8]byte{}
	le.PutUint32(p.U[0:4], ref)
}

// SetGmfn stores u.gmfn.
func (p *GnttabCopyPtr) SetGmfn(gmfn uint64) { le.PutUint64(p.U[0:8], gmfn) }

// GuestAddr returns addr (all members: the handle h, the pointer v and the
// integer p are one 64-bit guest virtual address).
func (a *VcpuRegisterRunstateMemoryArea) GuestAddr() uint64 { return le.Uint64(a.Addr[:]) }

// SetGuestAddr stores addr.
func (a *VcpuRegisterRunstateMemoryArea) SetGuestAddr(va uint64) { le.PutUint64(a.Addr[:], va) }

// GuestAddr returns addr (the guest virtual address of a VcpuTimeInfo).
func (a *VcpuRegisterTimeMemoryArea) GuestAddr() uint64 { return le.Uint64(a.Addr[:]) }

// SetGuestAddr stores addr.
func (a *VcpuRegisterTimeMemoryArea) SetGuestAddr(va uint64) { le.PutUint64(a.Addr[:], va) }
