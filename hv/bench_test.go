package hv

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// The Go half of the bench guest's three figures (tests/guests/bench.c):
// the same hypercalls, through the same run loop, on a scripted backend
// that costs nothing. What the metal adds (the exit and entry themselves)
// is not in these figures; `make bench` has the whole round trip.

// benchMetal is a Backend that replays setup once, then hot n times,
// then a shutdown: no per-exit bookkeeping of its own.
type benchMetal struct {
	b     *testing.B
	setup []func(*arch.Regs) arch.Exit
	hot   func(*arch.Regs) arch.Exit
	n     int
	last  arch.Regs // the registers the final entry found
}

func (m *benchMetal) Run(v *VCPU, regs *arch.Regs, cr3 mm.MFN) (arch.Exit, error) {
	if len(m.setup) > 0 {
		s := m.setup[0]
		m.setup = m.setup[1:]
		if len(m.setup) == 0 {
			defer m.b.ResetTimer()
		}
		return s(regs), nil
	}
	if m.n > 0 {
		m.n--
		return m.hot(regs), nil
	}
	m.b.StopTimer()
	m.last = *regs
	return hypercallExit(abi.HYPERVISOR_sched_op, abi.SCHEDOP_shutdown, dataVA+0xff0)(regs), nil
}
func (m *benchMetal) FlushTLB()                 {}
func (m *benchMetal) FlushLocalTLB(*VCPU)       {}
func (m *benchMetal) Kick(*VCPU) bool           { return false }
func (m *benchMetal) SetGDT(*VCPU, []mm.MFN)    {}
func (m *benchMetal) InvalidatePage(mm.GuestVA) {}
func (m *benchMetal) FlushCache(bool)           {}

// benchLoop runs d's vCPU 0 through setup (which must not be empty: its
// last step is untimed), then hot b.N times, then a shutdown, and returns
// the registers the shutdown found (the last hot call's results).
func benchLoop(b *testing.B, m *Machine, d *Domain, data mm.MFN, setup []func(*arch.Regs) arch.Exit, hot func(*arch.Regs) arch.Exit) arch.Regs {
	b.Helper()
	var reason [4]byte // SHUTDOWN_poweroff
	m.cfg.Mem.Write(data.Addr()+0xff0, reason[:])
	bm := &benchMetal{b: b, setup: setup, hot: hot, n: b.N}
	m.cfg.Backend = bm
	m.cfg.Time = &fakeTime{} // as on the metal: vcpu_time_info is kept
	b.ReportAllocs()
	d.VCPU(0).Run()
	if bm.n != 0 || !d.Stopped() {
		b.Fatalf("loop ended with %d hot calls left (stopped %v)", bm.n, d.Stopped())
	}
	return bm.last
}

// Offsets in shared_info, read from the generated layout (reflect: a pure
// package's tests use no unsafe either).
var (
	evtchnPendingOff = sharedInfoOffset("EvtchnPending")
	evtchnMaskOff    = sharedInfoOffset("EvtchnMask")
)

func sharedInfoOffset(field string) uintptr {
	f, ok := reflect.TypeFor[abi.SharedInfo]().FieldByName(field)
	if !ok {
		panic("abi.SharedInfo has no field " + field)
	}
	return f.Offset
}

func BenchmarkHypercallLoop(b *testing.B) {
	b.Run("null", func(b *testing.B) {
		m, d, _, _, data := testGuest(b, true)
		version := hypercallExit(abi.HYPERVISOR_xen_version, abi.XENVER_version, 0)
		last := benchLoop(b, m, d, data, []func(*arch.Regs) arch.Exit{version}, version)
		if got := last.RAX; got != 0x40011 {
			b.Fatalf("xen_version = %#x", got)
		}
	})

	b.Run("evtchn_send", func(b *testing.B) {
		m, d, _, _, data := testGuest(b, true)
		le := binary.LittleEndian
		// alloc_unbound(self, self) at dataVA, bind_interdomain at +16,
		// send's port at +32; both ports masked, as in the guest.
		var au [8]byte
		le.PutUint16(au[0:], abi.DOMID_SELF)
		le.PutUint16(au[2:], abi.DOMID_SELF)
		m.cfg.Mem.Write(data.Addr(), au[:])
		si := d.SharedInfo().Addr()
		setup := []func(*arch.Regs) arch.Exit{
			hypercallExit(abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_alloc_unbound, dataVA),
			func(r *arch.Regs) arch.Exit {
				var bi [12]byte
				m.cfg.Mem.Read(data.Addr(), au[:])
				le.PutUint16(bi[0:], abi.DOMID_SELF)
				le.PutUint32(bi[4:], le.Uint32(au[4:]))
				m.cfg.Mem.Write(data.Addr()+16, bi[:])
				return hypercallExit(abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_bind_interdomain, dataVA+16)(r)
			},
			func(r *arch.Regs) arch.Exit {
				var bi [12]byte
				m.cfg.Mem.Read(data.Addr()+16, bi[:])
				m.cfg.Mem.Write(data.Addr()+32, bi[8:12])
				m.cfg.Mem.Or64(si+mm.Maddr(evtchnMaskOff), 1<<le.Uint32(au[4:])|1<<le.Uint32(bi[8:]))
				return hypercallExit(abi.HYPERVISOR_xen_version, abi.XENVER_version, 0)(r)
			},
		}
		var port uint32
		hot := func(r *arch.Regs) arch.Exit {
			if port == 0 {
				port = le.Uint32(au[4:])
			}
			m.cfg.Mem.And64(si+mm.Maddr(evtchnPendingOff), ^uint64(1<<port))
			return hypercallExit(abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_send, dataVA+32)(r)
		}
		last := benchLoop(b, m, d, data, setup, hot)
		if got := last.RAX; got != 0 {
			b.Fatalf("send = %d", int64(got))
		}
		if w, _ := m.cfg.Mem.Load64(si + mm.Maddr(evtchnPendingOff)); w&(1<<port) == 0 {
			b.Fatal("receiving port not pending after the sends")
		}
	})

	b.Run("grant_copy_4k", func(b *testing.B) {
		m, d, _, _, data := testGuest(b, true)
		le := binary.LittleEndian
		dst, _ := m.cfg.Alloc.Alloc()
		src, _ := m.cfg.Alloc.Alloc()
		for _, f := range []mm.MFN{dst, src} {
			if err := m.cfg.Frames.Assign(f, 0); err != nil {
				b.Fatal(err)
			}
		}
		// setup_table(self, 1 frame) at dataVA, its frame list at +64; the
		// copy's gnttab_copy at +128.
		var su [24]byte
		le.PutUint16(su[0:], abi.DOMID_SELF)
		le.PutUint32(su[4:], 1)
		le.PutUint64(su[16:], dataVA+64)
		m.cfg.Mem.Write(data.Addr(), su[:])
		const ref = 8
		var op [40]byte
		le.PutUint32(op[0:], ref)             // source.u.ref
		le.PutUint16(op[8:], abi.DOMID_SELF)  // source.domid
		le.PutUint64(op[16:], uint64(dst))    // dest.u.gmfn
		le.PutUint16(op[24:], abi.DOMID_SELF) // dest.domid
		le.PutUint16(op[32:], mm.PageSize)    // len
		le.PutUint16(op[34:], abi.GNTCOPY_source_gref)
		m.cfg.Mem.Write(data.Addr()+128, op[:])
		setup := []func(*arch.Regs) arch.Exit{
			hypercallExit(abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_setup_table, dataVA, 1),
			func(r *arch.Regs) arch.Exit {
				frame, _ := m.cfg.Mem.Load64(data.Addr() + 64)
				var e [8]byte // grant_entry_v1: flags, domid, frame
				le.PutUint16(e[0:], abi.GTF_permit_access|abi.GTF_readonly)
				le.PutUint32(e[4:], uint32(src))
				m.cfg.Mem.Write(mm.MFN(frame).Addr()+ref*8, e[:])
				return hypercallExit(abi.HYPERVISOR_xen_version, abi.XENVER_version, 0)(r)
			},
		}
		hot := hypercallExit(abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_copy, dataVA+128, 1)
		b.SetBytes(mm.PageSize)
		last := benchLoop(b, m, d, data, setup, hot)
		m.cfg.Mem.Read(data.Addr()+128, op[:])
		if got, status := last.RAX, int16(le.Uint16(op[36:])); got != 0 || status != abi.GNTST_okay {
			b.Fatalf("copy = %d, status %d", int64(got), status)
		}
	})

	b.Run("mmu_update", func(b *testing.B) {
		// One MMU_NORMAL_PT_UPDATE per call, as Linux's set_pte outside
		// lazy mode makes them: slot 1 of the guest's L1 maps the data
		// frame read-write, then read-only, in turn (requests at dataVA
		// and dataVA+16).
		m, d, _, _, data := testGuest(b, true)
		le := binary.LittleEndian
		l1 := mm.MFN(d.VCPU(0).Tables().Kernel)
		for _, idx := range []int{0, 0, 2} { // L4[0] -> L3[0] -> L2[2] -> L1
			e, _ := m.cfg.Mem.Load64(l1.Addr() + mm.Maddr(idx*8))
			l1 = mm.MFN(e >> 12 & (1<<40 - 1))
		}
		var reqs [32]byte
		ptr := uint64(l1.Addr()) + 8 | abi.MMU_NORMAL_PT_UPDATE
		le.PutUint64(reqs[0:], ptr)
		le.PutUint64(reqs[8:], uint64(data.Addr())|7)
		le.PutUint64(reqs[16:], ptr)
		le.PutUint64(reqs[24:], uint64(data.Addr())|5)
		m.cfg.Mem.Write(data.Addr(), reqs[:])
		version := hypercallExit(abi.HYPERVISOR_xen_version, abi.XENVER_version, 0)
		i := 0
		hot := func(r *arch.Regs) arch.Exit {
			i++
			return hypercallExit(abi.HYPERVISOR_mmu_update, dataVA+uint64(i&1)*16, 1, 0, abi.DOMID_SELF)(r)
		}
		last := benchLoop(b, m, d, data, []func(*arch.Regs) arch.Exit{version}, hot)
		if got := last.RAX; got != 0 {
			b.Fatalf("mmu_update = %d", int64(got))
		}
		// A and D as the CPU may set them, G as the PV fix-up adds it.
		if e, _ := m.cfg.Mem.Load64(l1.Addr() + 8); e&^0x160 != uint64(data.Addr())|5|uint64(1-i&1)*2 {
			b.Fatalf("L1 slot 1 = %#x after %d updates", e, i)
		}
	})
}
