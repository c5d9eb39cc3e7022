package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/internal/selftest"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
)

// ring3Check runs a few instructions in ring 3 on page tables of their
// own, through the same entry and exit PV guests take, and checks each exit:
// a SYSCALL, #UD, #BP, a write #PF on a read-only page, INT 0x80 (#GP),
// a read of the hypervisor's own memory (#PF: the reserved slot is
// supervisor-only), and timer interrupts while the guest spins, after an
// entry refused for a data selector that does not load and one a kick
// refused; then a quiet spin (quietSpin). Registers must come back intact.
func ring3Check(frames *mm.Allocator) (string, error) {
	const (
		codeVA  = 0x400000
		stackVA = 0x401000
		pteP    = 1
		pteW    = 2
		pteU    = 4
	)
	code := []byte{
		0xb8, 0x34, 0x12, 0x00, 0x00, // mov eax, 0x1234
		0x0f, 0x05, // syscall
		0x0f, 0x0b, // ud2
		0xcc,                                                             // int3
		0xc7, 0x04, 0x25, 0x00, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0x00, // mov dword [0x400000], 1
		0xcd, 0x80, // int 0x80 (no ring-3 gate: #GP)
		0x48, 0xa1, 0x00, 0x00, 0x20, 0x40, 0xd0, 0x82, 0xff, 0xff, // mov rax, [0xffff82d040200000] (the hypervisor's text)
		0x48, 0x89, 0xe0, // mov rax, rsp
		0xeb, 0xfe, // jmp .
	}
	var got [6]mm.MFN
	for i := range got {
		m, ok := frames.Alloc()
		if !ok {
			return "", fmt.Errorf("no frames")
		}
		defer frames.Free(m)
		got[i] = m
	}
	l4, l3, l2, l1, codeF, stackF := got[0], got[1], got[2], got[3], got[4], got[5]
	// Before the frames go back (defers run last first): no CPU may keep
	// the top level loaded, as mm's TopLevelReleased has it for a guest's.
	defer rt.ReleaseTables(uint64(l4.Addr()))
	page := func(m mm.MFN, entries map[int]uint64, data []byte) error {
		b := make([]byte, mm.PageSize)
		copy(b, data)
		for i, e := range entries {
			binary.LittleEndian.PutUint64(b[i*8:], e)
		}
		if !rt.WritePhys(uint64(m.Addr()), b) {
			return fmt.Errorf("cannot write frame %#x", m)
		}
		return nil
	}
	top := map[int]uint64{0: uint64(l3.Addr()) | pteP | pteW | pteU}
	for i, e := range rt.HypervisorL4Slots() {
		if e != 0 {
			top[256+i] = e
		}
	}
	for _, err := range []error{
		page(l4, top, nil),
		page(l3, map[int]uint64{0: uint64(l2.Addr()) | pteP | pteW | pteU}, nil),
		page(l2, map[int]uint64{2: uint64(l1.Addr()) | pteP | pteW | pteU}, nil),
		page(l1, map[int]uint64{0: uint64(codeF.Addr()) | pteP | pteU, 1: uint64(stackF.Addr()) | pteP | pteW | pteU}, nil),
		page(codeF, nil, code),
		page(stackF, nil, nil),
	} {
		if err != nil {
			return "", err
		}
	}

	type step struct {
		kind   arch.ExitKind
		vector uint8
		rip    uint64 // RIP at the exit
		next   uint64 // RIP to resume at (0: as is)
	}
	steps := []step{
		{arch.ExitSyscall, 0, codeVA + 7, 0},
		{arch.ExitException, arch.VecUD, codeVA + 7, codeVA + 9},
		{arch.ExitException, arch.VecBP, codeVA + 10, 0},
		{arch.ExitException, arch.VecPF, codeVA + 10, codeVA + 21},
		{arch.ExitException, arch.VecGP, codeVA + 21, codeVA + 23},
		{arch.ExitException, arch.VecPF, codeVA + 23, codeVA + 33},
	}
	done := make(chan error, 1)
	var irqs int
	var quiet string
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		// On one CPU throughout, as a vCPU's thread is bound to its
		// CPU: the guest copies after the first exit go through the
		// tables that CPU still has loaded (a thread moved to another
		// CPU would find other tables there, and the copy refused).
		setThreadCPU(0)
		defer setThreadCPU(-1)
		g := rt.NewGuestContext()
		regs := arch.Regs{RIP: codeVA, RSP: stackVA + mm.PageSize, RFLAGS: 0x202,
			CS: 0xe033, SS: 0xe02b, RBX: 0xdeadbeef, R15: 0x1515, R12: 0x1212}
		var exit arch.Exit
		// A data selector the entry cannot load (GDT entry 0x246 is not
		// present): nothing runs, the exit says so, the state stays.
		regs.DS = 0x1233
		if err := g.Run(&regs, uint64(l4.Addr()), false, &exit); err != nil || exit.Kind != arch.ExitBadSelector ||
			regs.RIP != codeVA || regs.DS != 0x1233 || regs.RBX != 0xdeadbeef {
			done <- fmt.Errorf("bad selector: %v, exit %v, regs %+v", err, exit.Kind, regs)
			return
		}
		regs.DS = 0
		// A kick before the entry (an event for a vCPU about to enter):
		// the entry is refused, a zero exit, nothing runs; the flag is
		// then spent and the next entry runs.
		if g.Kick() {
			done <- fmt.Errorf("kick of a context in no guest sent an IPI")
			return
		}
		if err := g.Run(&regs, uint64(l4.Addr()), false, &exit); err != nil || exit != (arch.Exit{}) ||
			regs.RIP != codeVA || regs.RBX != 0xdeadbeef {
			done <- fmt.Errorf("kicked entry: %v, exit %+v, regs %+v", err, exit, regs)
			return
		}
		for i, s := range steps {
			if err := g.Run(&regs, uint64(l4.Addr()), false, &exit); err != nil {
				done <- fmt.Errorf("step %d: %v (%+v)", i, err, regs)
				return
			}
			for exit.Kind == arch.ExitInterrupt {
				irqs++
				g.Run(&regs, uint64(l4.Addr()), false, &exit)
			}
			if exit.Kind != s.kind || exit.Vector != s.vector || regs.RIP != s.rip {
				done <- fmt.Errorf("step %d: exit %v vector %d at %#x, want %v vector %d at %#x",
					i, exit.Kind, exit.Vector, regs.RIP, s.kind, s.vector, s.rip)
				return
			}
			if regs.RBX != 0xdeadbeef || regs.R15 != 0x1515 || regs.R12 != 0x1212 || regs.CS != 0xe033 {
				done <- fmt.Errorf("step %d: registers changed: %+v", i, regs)
				return
			}
			switch i {
			case 0:
				if regs.RAX != 0x1234 || regs.RCX != codeVA+7 || regs.R11&0x200 == 0 {
					done <- fmt.Errorf("syscall exit: rax %#x rcx %#x r11 %#x", regs.RAX, regs.RCX, regs.R11)
					return
				}
				// The guest's tables are still loaded: copies through them.
				if err := guestCopyCheck(uint64(l4.Addr()), code, stackF); err != nil {
					done <- err
					return
				}
			case 3:
				if exit.CR2 != codeVA || exit.ErrorCode != arch.PFErrPresent|arch.PFErrWrite|arch.PFErrUser {
					done <- fmt.Errorf("#PF: cr2 %#x error %#x", exit.CR2, exit.ErrorCode)
					return
				}
			case 4:
				// The CPU says 0x80<<3|2 (IDT entry 0x80); QEMU 7.2's TCG
				// says 0x80<<4|2, which is why PV code decides INT n by
				// decoding the instruction, never by this error code.
				if exit.ErrorCode != 0x80<<3|2 && exit.ErrorCode != 0x80<<4|2 {
					done <- fmt.Errorf("INT 0x80: #GP error %#x, want %#x", exit.ErrorCode, 0x80<<3|2)
					return
				}
			case 5:
				if exit.CR2 != 0xffff82d040200000 || exit.ErrorCode != arch.PFErrPresent|arch.PFErrUser {
					done <- fmt.Errorf("hypervisor read: cr2 %#x error %#x", exit.CR2, exit.ErrorCode)
					return
				}
			}
			if s.next != 0 {
				regs.RIP = s.next
			}
		}
		// Spin in ring 3 until the timer has taken the CPU back ten times.
		for spins := 0; irqs < len(steps)+10 && spins < 100; spins++ {
			g.Run(&regs, uint64(l4.Addr()), false, &exit)
			if exit.Kind != arch.ExitInterrupt {
				done <- fmt.Errorf("spin: unexpected exit %v vector %d at %#x", exit.Kind, exit.Vector, regs.RIP)
				return
			}
			irqs++
		}
		if regs.RAX != stackVA+mm.PageSize || regs.RIP != codeVA+36 {
			done <- fmt.Errorf("spin: rax %#x rip %#x", regs.RAX, regs.RIP)
			return
		}
		q, err := quietSpin(g, &regs, uint64(l4.Addr()))
		if err != nil {
			done <- err
			return
		}
		dl, err := deadlineSpin(g, &regs, uint64(l4.Addr()))
		quiet = q + "; " + dl
		done <- err
	}()
	if err := <-done; err != nil {
		return "", err
	}
	return fmt.Sprintf("bad selector, kicked entry, then syscall, guest copies, #UD, #BP, #PF, #GP(int 0x80), #PF(hypervisor read) and %d interrupt exits from ring 3; %s", irqs, quiet), nil
}

// quietSpinTime is how long quietSpin keeps the guest spinning, and
// quietRunMax the most one Run may keep it through ticks: as long as a
// vCPU's (sched.MaxTimer). The runtime's preemption of the goroutine
// needs Run to return: the shim delivers the signal that asks for it only
// when a tick interrupts Go code, and the runtime sends no other until
// that one is taken, so the preemption comes when the goroutine is next
// in Go code (its preemption flag), at the end of the Run at the latest.
const (
	quietSpinTime = 200 * time.Millisecond
	quietRunMax   = sched.MaxTimer * time.Nanosecond
)

// quietSpin spins the guest (at its jmp .) on CPU 0 for quietSpinTime,
// letting each Run keep it through the CPU's ticks for up to quietRunMax
// (SetQuietFor), while a goroutine sleeps 30 ms and then arms a
// 20 ms timer: both must come on time (within selftest.BusySlack) though
// the spinning CPU's tick is held off (rt's quietTimer), and with
// another CPU online (which wakes for the runtime's sleepers instead)
// the spinning one must take under half the timer interrupts a periodic
// tick would have given it (one per millisecond): 37-66 in 200 ms in
// runs of two and four CPUs, 142-190 with quietTimer broken. On one CPU the
// count is only reported: that CPU wakes for every sleeper too (the
// runtime's sysmon among them). Context: ring3Check's goroutine, locked to
// its thread on CPU 0.
func quietSpin(g *rt.GuestContext, regs *arch.Regs, cr3 uint64) (string, error) {
	late := make(chan [2]time.Duration, 1)
	go func() {
		t0 := time.Now()
		time.Sleep(30 * time.Millisecond)
		sl := time.Since(t0) - 30*time.Millisecond
		t0 = time.Now()
		<-time.NewTimer(20 * time.Millisecond).C
		late <- [2]time.Duration{sl, time.Since(t0) - 20*time.Millisecond}
	}()
	before := rt.CPUStats()[0].Ticks
	t0 := time.Now()
	runs := 0
	var exit arch.Exit
	for left := quietSpinTime; left > 0; left = quietSpinTime - time.Since(t0) {
		g.SetQuietFor(int64(min(left, quietRunMax)))
		if err := g.Run(regs, cr3, false, &exit); err != nil || (exit.Kind != arch.ExitInterrupt && exit != arch.Exit{}) {
			return "", fmt.Errorf("quiet spin: %v, exit %v vector %d at %#x", err, exit.Kind, exit.Vector, regs.RIP)
		}
		runs++
	}
	g.SetQuietFor(0)
	took := time.Since(t0)
	ticks := rt.CPUStats()[0].Ticks - before
	l := <-late
	d := fmt.Sprintf("a quiet spin of %v: %d runs, %d timer interrupts on CPU0; a sleep and a timer beside it %v and %v late",
		took.Round(time.Millisecond), runs, ticks, l[0].Round(time.Microsecond), l[1].Round(time.Microsecond))
	if l[0] > selftest.BusySlack || l[1] > selftest.BusySlack {
		return "", fmt.Errorf("%s: over %v", d, selftest.BusySlack)
	}
	if rt.OnlineCPUs() > 1 && ticks >= uint64(took/(2*time.Millisecond)) {
		return "", fmt.Errorf("%s: half a periodic tick's count or more", d)
	}
	return d, nil
}

// deadlineTrials is how many deadlines deadlineSpin tries. Each sets the
// CPU's timer once (before the entry, or after the one periodic tick that
// comes first and stays); at least half must have (a tick that an
// emulator on a loaded host delivers past the deadline ends that run
// itself). deadlineMedianMax bounds the median lateness: a deadline
// ignored would leave the guest running for the whole quiet time (50 ms);
// one ended by the periodic tick alone would be half a tick period late
// in the median (the timer count catches that); one the timer is set for
// is a few microseconds plus the emulator's timer latency late.
const (
	deadlineTrials    = 21
	deadlineMedianMax = 2 * time.Millisecond
)

// deadlineSpin spins the guest through runs each given a deadline
// (SetDeadline) 150-850 us ahead and leave to stay through ticks for
// 50 ms (SetQuietFor), as hv gives a vCPU with its one-shot timer armed:
// the run must end at the deadline (a run that ends before it, for the
// runtime's preemption, is entered again), with the CPU's timer set for
// it (CPUStat.DeadlineTimers) and the median lateness under
// deadlineMedianMax. Context: ring3Check's
// goroutine, locked to its thread on CPU 0.
func deadlineSpin(g *rt.GuestContext, regs *arch.Regs, cr3 uint64) (string, error) {
	var late [deadlineTrials]time.Duration
	runs := 0
	sets := rt.CPUStats()[0].DeadlineTimers
	var exit arch.Exit
	for i := range late {
		at := int64(rt.Uptime()) + int64(150*time.Microsecond) + int64(i)*int64(700*time.Microsecond)/(deadlineTrials-1)
		g.SetDeadline(at)
		g.SetQuietFor(int64(50 * time.Millisecond))
		for int64(rt.Uptime()) < at {
			if err := g.Run(regs, cr3, false, &exit); err != nil || (exit.Kind != arch.ExitInterrupt && exit != arch.Exit{}) {
				return "", fmt.Errorf("deadline spin: %v, exit %v vector %d at %#x", err, exit.Kind, exit.Vector, regs.RIP)
			}
			runs++
		}
		late[i] = time.Duration(int64(rt.Uptime()) - at)
	}
	g.SetDeadline(0)
	g.SetQuietFor(0)
	sets = rt.CPUStats()[0].DeadlineTimers - sets
	sorted := late
	slices.Sort(sorted[:])
	med := sorted[deadlineTrials/2]
	d := fmt.Sprintf("%d run deadlines in %d runs, the CPU's timer set for %d: median %v late, most %v", deadlineTrials, runs, sets,
		med.Round(time.Microsecond), sorted[deadlineTrials-1].Round(time.Microsecond))
	switch {
	case sets < deadlineTrials/2:
		return "", fmt.Errorf("%s: the timer set for fewer than half of them", d)
	case med > deadlineMedianMax:
		return "", fmt.Errorf("%s: median over %v", d, deadlineMedianMax)
	}
	return d, nil
}

// guestCopyCheck tries rt's copies through the loaded guest tables (cr3,
// ring3Check's): reading the code page, writing the stack page (read
// back through the direct map), and four copies that must fail: a write
// to the read-only code page, a read of an unmapped page, of the
// hypervisor's range, and through tables that are not the loaded ones.
func guestCopyCheck(cr3 uint64, code []byte, stack mm.MFN) error {
	const codeVA, stackVA = 0x400000, 0x401000
	got := make([]byte, len(code))
	if !rt.CopyFromGuest(got, codeVA, cr3) || !bytes.Equal(got, code) {
		return fmt.Errorf("guest copy: code page read %x, want %x", got, code)
	}
	msg := []byte("written through the guest's tables")
	if !rt.CopyToGuest(stackVA+100, msg, cr3) {
		return fmt.Errorf("guest copy: stack page write refused")
	}
	back := make([]byte, len(msg))
	if !rt.ReadPhys(uint64(stack.Addr())+100, back) || !bytes.Equal(back, msg) {
		return fmt.Errorf("guest copy: stack page holds %q", back)
	}
	switch {
	case rt.CopyToGuest(codeVA, msg, cr3):
		return fmt.Errorf("guest copy: write to the read-only code page done")
	case rt.CopyFromGuest(got, 0x7ff000, cr3):
		return fmt.Errorf("guest copy: read of an unmapped page done")
	case rt.CopyFromGuest(got, 0xffff82d040200000, cr3):
		return fmt.Errorf("guest copy: read of the hypervisor's range done")
	case rt.CopyFromGuest(got, codeVA, cr3+mm.PageSize):
		return fmt.Errorf("guest copy: read through tables that are not loaded done")
	}
	return nil
}
