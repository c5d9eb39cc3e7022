package main

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/hv"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
)

// dom0Image reads boot module 0 (the dom0 kernel) and parses it. The
// module's bytes are copied into the Go heap; its frames stay reserved.
func dom0Image(info *boot.Info) (*kernel.Image, error) {
	m := info.Modules[0]
	img := make([]byte, m.End-m.Start)
	if !rt.ReadPhys(m.Start, img) {
		return nil, fmt.Errorf("module 0 at %#x-%#x is not readable", m.Start, m.End)
	}
	k, err := kernel.Parse(img)
	if err != nil {
		return nil, err
	}
	if err := k.CheckDom0(); err != nil {
		return nil, err
	}
	return k, nil
}

// dom0Frames gives dom0 its memory: dom0_mem of the free frames (Xen's
// default: all but min(1/16, 128 MiB)), each assigned to domain 0 in the
// frame table, lowest first.
func dom0Frames(frames *mm.Allocator, machine *hv.Machine, d *hv.Domain, opts *boot.Options) ([]mm.MFN, uint64, error) {
	avail := frames.FreeFrames() * mm.PageSize
	amount, maxRes := opts.Dom0Mem.Compute(avail)
	n := amount / mm.PageSize
	if n < 256 {
		return nil, 0, fmt.Errorf("dom0_mem leaves dom0 %d KiB", amount>>10)
	}
	mfns := make([]mm.MFN, 0, n)
	for uint64(len(mfns)) < n {
		m, ok := frames.Alloc()
		if !ok {
			break
		}
		if err := machine.Frames().Assign(m, d.ID()); err != nil {
			return nil, 0, err
		}
		mfns = append(mfns, m)
	}
	return mfns, maxRes, nil
}

// startDom0 builds domain 0 from module 0 (the kernel; its command line,
// less the file name, plus the " -- " extras of gohv's own line). The
// caller starts its vCPU (runVCPU).
func startDom0(machine *hv.Machine, frames *mm.Allocator, info *boot.Info, opts *boot.Options, extra string) (*hv.Domain, error) {
	k, err := dom0Image(info)
	if err != nil {
		return nil, err
	}
	var assist uint64
	if k.Parms.PAE == kernel.XEN_PAE_EXTCR3 || k.Parms.PAE == kernel.XEN_PAE_BIMODAL {
		assist |= 1 << abi.VMASST_TYPE_pae_extended_cr3
	}
	d, err := machine.CreateDomain(hv.DomainConfig{ID: 0, VCPUs: 1, Hardware: true, VMAssist: assist, IO: dom0IO{}})
	if err != nil {
		return nil, err
	}
	mfns, _, err := dom0Frames(frames, machine, d, opts)
	if err != nil {
		return nil, err
	}
	cmdline := boot.StripImageName(info.Modules[0].Cmdline)
	if extra != "" {
		cmdline = strings.TrimSpace(cmdline + " " + extra)
	}
	log.Lines([]string{
		fmt.Sprintf(" Dom0 kernel: 64-bit, lsb, paddr %#x -> %#x", k.PStart, k.PEnd),
		"PHYSICAL MEMORY ARRANGEMENT:",
		fmt.Sprintf(" Dom0 alloc.:   %016x->%016x (%d pages to be allocated)",
			uint64(mfns[0].Addr()), uint64(mfns[len(mfns)-1].Addr())+mm.PageSize, len(mfns)),
	})
	l, err := d.BuildDom0(k, mfns, cmdline)
	if err != nil {
		return nil, err
	}
	log.Lines(l.Lines())
	log.Lines([]string{"Dom0 has maximum 1 VCPUs"})
	return d, nil
}

// runVCPU runs vCPU v of d on its own goroutine, which keeps its kernel
// thread for the vCPU's lifetime (the thread is the vCPU).
//
// While the guest runs, the runtime sees that goroutine running (the
// guest is entered by a call, not a system call): it holds its P. One P
// more than the vCPUs keeps gohv's own goroutines (timers behind the
// guests' VIRQ_TIMER, the console) running beside it, as soon as the
// shim's next tick gives their thread the CPU, instead of when the
// runtime preempts the vCPU goroutine (10 ms).
func runVCPU(d *hv.Domain, v int) {
	vcpus.Add(1)
	if n := int(vcpus.Load()) + 1; runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
	go func() {
		runtime.LockOSThread()
		d.VCPU(v).Run()
	}()
}

// vcpus counts the vCPUs running (runVCPU).
var vcpus atomic.Int32
