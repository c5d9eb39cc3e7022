package hv

import (
	"fmt"

	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/hv/build"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
)

// BuildDom0 gives domain d the initial memory image of a PV dom0 built
// from kernel k (hv/build: Xen's dom0 layout, start_info, P2M, hypercall
// page, bootstrap page tables), in the frames mfns (PFN i is mfns[i],
// every one already assigned to d; all are zeroed first, so no earlier
// contents leak). It pins the tables (validating them), makes the L4 vCPU
// 0's base and sets vCPU 0's registers for the first instruction. It
// returns the layout.
func (d *Domain) BuildDom0(k *kernel.Image, mfns []mm.MFN, cmdline string) (*build.Layout, error) {
	mem := d.m.cfg.Mem
	l, err := build.Plan(build.Input{Kind: build.Dom0, Image: build.ImageFromKernel(k), NrPages: uint64(len(mfns))})
	if err != nil {
		return nil, err
	}
	zero := make([]byte, mm.PageSize)
	for _, f := range mfns {
		if !mem.Write(f.Addr(), zero) {
			return nil, fmt.Errorf("frame %#x is not in machine memory", f)
		}
	}
	c := build.Contents{SharedInfo: d.sharedInfo.Addr(), CmdLine: cmdline}
	if d.m.cfg.M2P != nil {
		c.M2P = d.m.cfg.M2P
	}
	res, err := build.Build(l, mem, mfns, c)
	if err != nil {
		return nil, err
	}
	v := d.vcpus[0]
	if err := res.Pin(d.Space(), &v.tables); err != nil {
		return nil, fmt.Errorf("the bootstrap page tables do not validate: %w", err)
	}
	v.tables.Reload = false
	r := res.Regs
	v.Regs = arch.Regs{RIP: r.RIP, RSP: r.RSP, RSI: r.RSI, RFLAGS: r.RFLAGS, CS: r.CS, SS: r.SS}
	if r.KernelSS != 0 {
		v.pv.StackSwitch(uint64(r.KernelSS), r.KernelSP)
	}
	d.pages = uint64(len(mfns))
	return l, nil
}
