package hypercall

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
)

// opsDomain is a fakeDomain with vCPUs and memory for vcpu_op and
// memory_op: two vCPUs (vCPU 1 down, no waiter), a page model of a
// domain's frames and a machine-wide M2P over maps.
type opsDomain struct {
	*fakeDomain
	waiter *sched.Waiter

	// vcpu_op records.
	infoCalls  []infoCall
	infoErr    abi.Errno
	runstateVA map[int]mm.GuestVA
	timeVA     map[int]mm.GuestVA
	runstate   abi.VcpuRunstateInfo
	physOK     bool
	// VCPUOP_initialise/up/down records: the contexts given, the answer
	// to give, the vCPUs brought up and down.
	contexts []abi.VcpuGuestContext
	initErr  abi.Errno
	ups      []int
	downs    []int

	// memory_op model: frames the domain owns (true: held by the
	// allocation reference only, stealable), the next free frame, the
	// frames above which allocation fails, the M2P.
	owned    map[mm.MFN]bool
	tot, max uint64
	next     mm.MFN
	limit    mm.MFN
	m2p      map[mm.MFN]uint64
	host     []E820Entry
}

type infoCall struct {
	vcpu   int
	mfn    mm.MFN
	offset uint32
}

func newOpsDomain(f *fakeDomain, w *sched.Waiter) *opsDomain {
	return &opsDomain{fakeDomain: f, waiter: w, runstateVA: map[int]mm.GuestVA{}, timeVA: map[int]mm.GuestVA{},
		owned: map[mm.MFN]bool{}, max: 64, next: 0x1000, limit: 0x1100, m2p: map[mm.MFN]uint64{}}
}

func (d *opsDomain) NrVCPUs() int { return 2 }
func (d *opsDomain) VCPUWaiter(v int) *sched.Waiter {
	if v == 0 {
		return d.waiter
	}
	return nil
}
func (d *opsDomain) IsUp(v int) bool { return v == 0 }
func (d *opsDomain) RegisterVCPUInfo(_, v int, mfn mm.MFN, off uint32) abi.Errno {
	d.infoCalls = append(d.infoCalls, infoCall{v, mfn, off})
	return d.infoErr
}
func (d *opsDomain) RegisterRunstateArea(v int, va mm.GuestVA) { d.runstateVA[v] = va }
func (d *opsDomain) Runstate(v int) abi.VcpuRunstateInfo       { return d.runstate }
func (d *opsDomain) RegisterTimeArea(v int, va mm.GuestVA)     { d.timeVA[v] = va }
func (d *opsDomain) PhysID(v int) (uint64, bool)               { return 0x0000_0002_0000_0003, d.physOK }
func (d *opsDomain) InitialiseVCPU(_, v int, c *abi.VcpuGuestContext) abi.Errno {
	d.contexts = append(d.contexts, *c)
	return d.initErr
}
func (d *opsDomain) UpVCPU(v int) abi.Errno {
	d.ups = append(d.ups, v)
	if len(d.contexts) == 0 {
		return abi.EINVAL
	}
	return 0
}
func (d *opsDomain) DownVCPU(v int) { d.downs = append(d.downs, v) }

func (d *opsDomain) TotPages() uint64 { return d.tot }
func (d *opsDomain) MaxPages() uint64 { return d.max }

// take hands out n naturally aligned frames below 2^addrBits.
func (d *opsDomain) take(n uint64, addrBits uint) (mm.MFN, bool) {
	first := (d.next + mm.MFN(n) - 1) &^ (mm.MFN(n) - 1)
	if first+mm.MFN(n) > d.limit || (addrBits != 0 && uint64(first+mm.MFN(n))<<mm.PageShift > 1<<addrBits) {
		return 0, false
	}
	d.next = first + mm.MFN(n)
	return first, true
}

func (d *opsDomain) AllocExtent(order uint, addrBits uint) (mm.MFN, bool) {
	n := uint64(1) << order
	if d.tot+n > d.max {
		return 0, false
	}
	m, ok := d.take(n, addrBits)
	if !ok {
		return 0, false
	}
	for j := range n {
		d.owned[m+mm.MFN(j)] = true
	}
	d.tot += n
	return m, true
}
func (d *opsDomain) SetM2P(m mm.MFN, pfn uint64) { d.m2p[m] = pfn }
func (d *opsDomain) RemovePage(m mm.MFN) abi.Errno {
	if m >= 0x10000 {
		return abi.EINVAL
	}
	if _, ok := d.owned[m]; !ok {
		return abi.ENXIO
	}
	delete(d.owned, m)
	delete(d.m2p, m)
	d.tot--
	return 0
}
func (d *opsDomain) ExchangeChunk(in []mm.MFN, inOrder uint, outCount int, outOrder uint, addrBits uint) ([]mm.MFN, abi.Errno) {
	for _, m := range in {
		for k := range mm.MFN(1) << inOrder {
			if !d.owned[m+k] {
				return nil, abi.EINVAL
			}
		}
	}
	next := d.next
	var out []mm.MFN
	for range outCount {
		m, ok := d.take(1<<outOrder, addrBits)
		if !ok {
			d.next = next
			return nil, abi.ENOMEM
		}
		out = append(out, m)
	}
	for _, m := range in {
		for k := range mm.MFN(1) << inOrder {
			delete(d.owned, m+k)
			delete(d.m2p, m+k)
		}
	}
	for _, m := range out {
		for k := range mm.MFN(1) << outOrder {
			d.owned[m+k] = true
		}
	}
	return out, 0
}
func (d *opsDomain) M2PFrames(max int) []mm.MFN {
	all := []mm.MFN{0x200, 0x400, 0x600}
	return all[:min(max, len(all))]
}
func (d *opsDomain) MaxRAMPage() uint64            { return 0x40000 }
func (d *opsDomain) MachineMemoryMap() []E820Entry { return d.host }

// opsWorld is a world whose two domains are opsDomains.
type opsWorld struct {
	*world
	ops [2]*opsDomain
}

func newOpsWorld(t testing.TB) *opsWorld {
	w := &opsWorld{world: newWorld(t)}
	for i := range 2 {
		w.ops[i] = newOpsDomain(w.doms[i], w.vcpus[i].waiter)
		w.callers[i].Domain = w.ops[i]
	}
	// The directory resolves to the opsDomains too.
	w.d = New(Config{Console: w.con, Domains: opsDirectory{w}, Version: VersionInfo{Commandline: "x"}})
	return w
}

type opsDirectory struct{ w *opsWorld }

func (d opsDirectory) Lookup(id abi.DomID) (Domain, bool) {
	if int(id) < 2 {
		return d.w.ops[id], true
	}
	return nil, false
}
