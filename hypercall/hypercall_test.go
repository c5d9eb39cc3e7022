package hypercall

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gohv/gohv/abi"
)

func TestDispatchEmptySlots(t *testing.T) {
	w := newWorld(t)
	for _, nr := range []uint64{
		11,                       // unused in xen.h
		abi.HYPERVISOR_tmem_op,   // no PV64 handler in 4.17
		abi.HYPERVISOR_iret,      // hv's, not registered here
		abi.HYPERVISOR_arch_7,    // last arch slot
		NrHypercalls - 1,         // last slot
		NrHypercalls,             // first number beyond the table
		1 << 63, ^uint64(0) >> 1, // huge numbers
		^uint64(0),                // -1
		abi.HYPERVISOR_hypfs_op,   // not implemented yet
		abi.HYPERVISOR_memory_op,  // not implemented yet
		abi.HYPERVISOR_vcpu_op,    // not implemented yet
		abi.HYPERVISOR_physdev_op, // not implemented yet
	} {
		checkRet(t, "hypercall "+retString(nr), w.call(0, nr, bufVA, bufVA), neg(abi.ENOSYS))
	}
}

func TestRegister(t *testing.T) {
	w := newWorld(t)
	var got Args
	h := func(d *Dispatcher, c *Caller, a *Args) Result { got = *a; return Value(7) }
	if err := w.d.Register(abi.HYPERVISOR_set_trap_table, h); err != nil {
		t.Fatal(err)
	}
	checkRet(t, "registered", w.call(1, abi.HYPERVISOR_set_trap_table, 1, 2, 3, 4, 5), 7)
	if got != (Args{1, 2, 3, 4, 5}) {
		t.Fatalf("handler got %v", got)
	}
	for _, tc := range []struct {
		nr   int
		h    Handler
		want error
	}{
		{abi.HYPERVISOR_set_trap_table, h, ErrTaken},
		{abi.HYPERVISOR_xen_version, h, ErrTaken},
		{-1, h, ErrBadNumber},
		{NrHypercalls, h, ErrBadNumber},
		{abi.HYPERVISOR_iret, nil, ErrBadNumber},
	} {
		if err := w.d.Register(tc.nr, tc.h); err != tc.want {
			t.Errorf("Register(%d) = %v, want %v", tc.nr, err, tc.want)
		}
	}
	// A second dispatcher does not see the first one's registration.
	if r := New(Config{}).Dispatch(w.callers[0], abi.HYPERVISOR_set_trap_table, &Args{}); r.Ret != neg(abi.ENOSYS) {
		t.Fatalf("fresh dispatcher: %#x", r.Ret)
	}
}

func TestRegsApply(t *testing.T) {
	r := Regs{RAX: abi.HYPERVISOR_multicall, RDI: 1, RSI: 2, RDX: 3, R10: 4, R8: 5, RIP: 0x1002}
	r.Apply(abi.HYPERVISOR_multicall, Errno(abi.EINVAL))
	if r.RAX != neg(abi.EINVAL) || r.RIP != 0x1002 || r.Args() != (Args{1, 2, 3, 4, 5}) {
		t.Fatalf("finished call: %+v", r)
	}
	r.Apply(abi.HYPERVISOR_multicall, Continuation(Args{10, 20, 30, 40, 50}))
	if r.RAX != abi.HYPERVISOR_multicall || r.RIP != 0x1000 || r.Args() != (Args{10, 20, 30, 40, 50}) {
		t.Fatalf("continuation: %+v", r)
	}
}

func TestXenVersion(t *testing.T) {
	w := newWorld(t)
	g0, g1 := w.guests[0], w.guests[1]
	cstr := func(g *mapGuest, va uint64, n int) string { return abi.CString(g.get(va, n)) }

	checkRet(t, "version", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_version, 0), 0x00040011)
	checkRet(t, "version, junk arg", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_version, badVA), 0x00040011)

	checkRet(t, "extraversion", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_extraversion, bufVA), 0)
	if s := cstr(g1, bufVA, 16); s != DefaultExtraversion {
		t.Errorf("extraversion %q", s)
	}
	checkRet(t, "capabilities", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_capabilities, bufVA), 0)
	if s := cstr(g1, bufVA, 1024); !strings.Contains(" "+s+" ", " xen-3.0-x86_64 ") {
		t.Errorf("capabilities %q", s)
	}
	checkRet(t, "compile_info", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_compile_info, bufVA), 0)
	if s := cstr(g1, bufVA, 64); !strings.HasPrefix(s, "go") {
		t.Errorf("compiler %q", s)
	}
	if s := cstr(g1, bufVA+64, 16); s != "gohv" {
		t.Errorf("compile_by %q", s)
	}
	checkRet(t, "changeset", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_changeset, bufVA), 0)
	if s := cstr(g1, bufVA, 64); s == "" {
		t.Errorf("changeset empty")
	}
	checkRet(t, "platform_parameters", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_platform_parameters, bufVA), 0)
	if v := g1.get64(bufVA); v != 0xFFFF800000000000 {
		t.Errorf("virt_start %#x", v)
	}
	checkRet(t, "pagesize", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_pagesize, 0), 4096)
	checkRet(t, "pagesize with arg", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_pagesize, bufVA), neg(abi.EINVAL))
	checkRet(t, "guest_handle", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_guest_handle, bufVA), 0)
	if h := g1.get(bufVA, 16); h[0] != 2 || h[15] != 0xee {
		t.Errorf("handle % x", h)
	}

	checkRet(t, "commandline dom0", w.call(0, abi.HYPERVISOR_xen_version, abi.XENVER_commandline, bufVA), 0)
	if s := cstr(g0, bufVA, 1024); s != "dom0_mem=512M console=com1" {
		t.Errorf("commandline %q", s)
	}
	g1.put(bufVA, bytes.Repeat([]byte{'x'}, 32))
	checkRet(t, "commandline domU", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_commandline, bufVA), 0)
	if s := cstr(g1, bufVA, 32); s != "<denied>" {
		t.Errorf("domU commandline %q", s)
	}

	checkRet(t, "build_id domU", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_build_id, bufVA), neg(abi.EPERM))
	g0.put32(bufVA, 0)
	checkRet(t, "build_id len 0", w.call(0, abi.HYPERVISOR_xen_version, abi.XENVER_build_id, bufVA), neg(abi.EINVAL))
	g0.put32(bufVA, 64)
	checkRet(t, "build_id", w.call(0, abi.HYPERVISOR_xen_version, abi.XENVER_build_id, bufVA), neg(abi.ENODATA))
	checkRet(t, "build_id size query", w.call(0, abi.HYPERVISOR_xen_version, abi.XENVER_build_id, 0), neg(abi.ENODATA))
	checkRet(t, "build_id bad ptr", w.call(0, abi.HYPERVISOR_xen_version, abi.XENVER_build_id, badVA), neg(abi.EFAULT))

	for _, cmd := range []uint64{11, 12, 0x7fffffff, 0xffffffff, 1 << 32} { // 1<<32 is cmd 0 as a C int
		want := neg(abi.ENOSYS)
		if uint32(cmd) == 0 {
			want = 0x00040011
		}
		checkRet(t, "xen_version cmd "+retString(cmd), w.call(1, abi.HYPERVISOR_xen_version, cmd, bufVA), want)
	}
	for _, cmd := range []uint64{abi.XENVER_extraversion, abi.XENVER_compile_info, abi.XENVER_capabilities,
		abi.XENVER_changeset, abi.XENVER_platform_parameters, abi.XENVER_get_features, abi.XENVER_guest_handle} {
		checkRet(t, "bad pointer", w.call(1, abi.HYPERVISOR_xen_version, cmd, badVA), neg(abi.EFAULT))
		checkRet(t, "read-only page", w.call(1, abi.HYPERVISOR_xen_version, cmd, roVA), neg(abi.EFAULT))
	}
	// A string that straddles the end of the mapped pages faults.
	checkRet(t, "straddle", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_capabilities, bufEnd-512), neg(abi.EFAULT))
}

func TestGetFeatures(t *testing.T) {
	w := newWorld(t)
	feat := func(dom int) uint32 {
		t.Helper()
		g := w.guests[dom]
		g.put32(bufVA, 0)
		g.put32(bufVA+4, 0xdeadbeef)
		checkRet(t, "get_features", w.call(dom, abi.HYPERVISOR_xen_version, abi.XENVER_get_features, bufVA), 0)
		if g.get32(bufVA) != 0 {
			t.Fatalf("submap_idx changed")
		}
		return g.get32(bufVA + 4)
	}
	if f := feat(1); f != 0x000220E0 {
		t.Errorf("domU before pae_extended_cr3: %#x", f)
	}
	if f := feat(0); f != 0x000228E0 {
		t.Errorf("dom0 before pae_extended_cr3: %#x", f)
	}
	for dom := range 2 {
		checkRet(t, "vm_assist", w.call(dom, abi.HYPERVISOR_vm_assist, abi.VMASST_CMD_enable, abi.VMASST_TYPE_pae_extended_cr3), 0)
	}
	if f := feat(1); f != 0x000220F0 {
		t.Errorf("domU: %#x", f)
	}
	if f := feat(0); f != 0x000228F0 {
		t.Errorf("dom0: %#x", f)
	}
	// Linux panics without these two.
	if f := feat(1); f&(1<<abi.XENFEAT_mmu_pt_update_preserve_ad) == 0 || f&(1<<abi.XENFEAT_gnttab_map_avail_bits) == 0 {
		t.Errorf("bits 5 and 7 missing: %#x", f)
	}
	for _, idx := range []uint32{1, 2, 0xffffffff} {
		w.guests[1].put32(bufVA, idx)
		checkRet(t, "submap", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_get_features, bufVA), neg(abi.EINVAL))
	}
	if Features(false, false) != 0x220E0 || Features(true, true) != 0x228F0 {
		t.Errorf("Features table wrong")
	}
}

func TestVMAssist(t *testing.T) {
	for _, tc := range []struct {
		cmd, typ uint64
		want     uint64
	}{
		{abi.VMASST_CMD_enable, abi.VMASST_TYPE_4gb_segments, 0},
		{abi.VMASST_CMD_enable, abi.VMASST_TYPE_4gb_segments_notify, 0},
		{abi.VMASST_CMD_enable, abi.VMASST_TYPE_writable_pagetables, 0},
		{abi.VMASST_CMD_enable, abi.VMASST_TYPE_pae_extended_cr3, 0},
		{abi.VMASST_CMD_enable, abi.VMASST_TYPE_architectural_iopl, 0},
		{abi.VMASST_CMD_enable, abi.VMASST_TYPE_runstate_update_flag, 0},
		{abi.VMASST_CMD_enable, abi.VMASST_TYPE_m2p_strict, 0},
		{abi.VMASST_CMD_disable, abi.VMASST_TYPE_m2p_strict, 0},
		{abi.VMASST_CMD_enable, 6, neg(abi.EINVAL)},
		{abi.VMASST_CMD_enable, 31, neg(abi.EINVAL)},
		{abi.VMASST_CMD_enable, 33, neg(abi.EINVAL)},
		{abi.VMASST_CMD_enable, 63, neg(abi.EINVAL)},
		{abi.VMASST_CMD_enable, 64, neg(abi.EINVAL)},
		{abi.VMASST_CMD_enable, 1<<32 | 2, 0}, // unsigned int type: upper bits dropped
		{2, abi.VMASST_TYPE_writable_pagetables, neg(abi.ENOSYS)},
		{2, 99, neg(abi.EINVAL)}, // type is checked before cmd
		{1<<32 | 0, 3, 0},
	} {
		w := newWorld(t)
		r := w.call(1, abi.HYPERVISOR_vm_assist, tc.cmd, tc.typ)
		checkRet(t, "vm_assist", r, tc.want)
		enabled := w.doms[1].state.VMAssist(uint(uint32(tc.typ)))
		if wantOn := tc.want == 0 && uint32(tc.cmd) == abi.VMASST_CMD_enable; enabled != wantOn {
			t.Errorf("vm_assist(%d, %d): enabled %v", tc.cmd, tc.typ, enabled)
		}
		if w.doms[0].state.VMAssistSet() != 0 {
			t.Errorf("dom0's set changed")
		}
	}
	// Disable really clears, and the builder's initial set is kept.
	s := NewDomainState(DomainConfig{VMAssist: 1<<2 | 1<<40})
	if s.VMAssistSet() != 1<<2 {
		t.Fatalf("initial set %#x", s.VMAssistSet())
	}
	if s.VMAssistOp(abi.VMASST_CMD_disable, 2) != 0 || s.VMAssistSet() != 0 {
		t.Fatalf("disable: %#x", s.VMAssistSet())
	}
}

func TestConsoleIO(t *testing.T) {
	w := newWorld(t)
	g0, g1 := w.guests[0], w.guests[1]
	msg := []byte("hello from PV\n\x1b[1mbold\x07\tend\n")

	g0.put(bufVA, msg)
	checkRet(t, "dom0 write", w.call(0, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, uint64(len(msg)), bufVA), 0)
	if w.con.raw.String() != string(msg) {
		t.Errorf("dom0 output %q", w.con.raw.String())
	}

	g1.put(bufVA, msg)
	checkRet(t, "domU write", w.call(1, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, uint64(len(msg)), bufVA), 0)
	if want := []string{"hello from PV", "[1mbold\tend"}; strings.Join(w.con.lines, "|") != strings.Join(want, "|") {
		t.Errorf("domU lines %q, want %q", w.con.lines, want)
	}
	// Without a newline the text waits in the line buffer.
	g1.put(bufVA, []byte("partial"))
	checkRet(t, "partial", w.call(1, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, 7, bufVA), 0)
	g1.put(bufVA, []byte(" line\n"))
	checkRet(t, "rest", w.call(1, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, 6, bufVA), 0)
	if last := w.con.lines[len(w.con.lines)-1]; last != "partial line" {
		t.Errorf("buffered line %q", last)
	}
	// A line longer than the buffer comes out in pieces.
	w.con.lines = nil
	long := bytes.Repeat([]byte("abcdefghij"), 50)
	g1.put(bufVA, long)
	checkRet(t, "long", w.call(1, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, uint64(len(long)), bufVA), 0)
	if len(w.con.lines) == 0 || strings.Join(w.con.lines, "")+string(w.doms[1].state.pbuf[:w.doms[1].state.pbufLen]) != string(long) {
		t.Errorf("long line pieces %q", w.con.lines)
	}
	for _, l := range w.con.lines {
		if len(l) >= pbufSize+consoleChunk {
			t.Errorf("piece of %d bytes", len(l))
		}
	}

	checkRet(t, "count 0", w.call(1, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, 0, badVA), 0)
	checkRet(t, "bad buffer", w.call(0, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, 10, badVA), neg(abi.EFAULT))
	checkRet(t, "straddling buffer", w.call(0, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, 10, bufEnd-5), neg(abi.EFAULT))
	checkRet(t, "dom0 cmd 7", w.call(0, abi.HYPERVISOR_console_io, 7, 4, bufVA), neg(abi.ENOSYS))
	checkRet(t, "domU cmd 7", w.call(1, abi.HYPERVISOR_console_io, 7, 4, bufVA), neg(abi.EPERM))
	checkRet(t, "domU read", w.call(1, abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 4, bufVA), neg(abi.EPERM))

	// Read: dom0 only, returns the count, consumes only what the guest got.
	w.con.input = []byte("typed")
	checkRet(t, "read 3", w.call(0, abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 3, bufVA), 3)
	if string(g0.get(bufVA, 3)) != "typ" || string(w.con.input) != "ed" {
		t.Errorf("read: %q, left %q", g0.get(bufVA, 3), w.con.input)
	}
	checkRet(t, "read fault", w.call(0, abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 10, roVA), neg(abi.EFAULT))
	if string(w.con.input) != "ed" {
		t.Errorf("faulted read consumed input: %q", w.con.input)
	}
	checkRet(t, "read rest", w.call(0, abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 100, bufVA), 2)
	checkRet(t, "read empty", w.call(0, abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 100, bufVA), 0)
	checkRet(t, "read > INT_MAX", w.call(0, abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 1<<31, bufVA), neg(abi.E2BIG))

	// A domain without the console flag may not write.
	w.doms[1].state = NewDomainState(DomainConfig{})
	checkRet(t, "gated domU", w.call(1, abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, 1, bufVA), neg(abi.EPERM))
	// No console at all.
	if r := New(Config{}).Dispatch(w.callers[0], abi.HYPERVISOR_console_io, &Args{0, 1, bufVA}); r.Ret != neg(abi.ENOSYS) {
		t.Errorf("no console: %#x", r.Ret)
	}
}

func TestConsoleWriteContinuation(t *testing.T) {
	w := newWorld(t)
	msg := bytes.Repeat([]byte("0123456789"), 40) // 400 bytes: 4 chunks
	w.guests[0].put(bufVA, msg)
	w.vcpus[0].preemptAt = map[int]bool{0: true} // preempt before the 2nd chunk
	regs := Regs{RAX: abi.HYPERVISOR_console_io, RDI: abi.CONSOLEIO_write, RSI: uint64(len(msg)), RDX: bufVA, RIP: 0x2002}
	a := regs.Args()
	r := w.d.Dispatch(w.callers[0], regs.RAX, &a)
	if !r.Continue || *r.Args != (Args{abi.CONSOLEIO_write, uint64(len(msg) - consoleChunk), bufVA + consoleChunk}) {
		t.Fatalf("continuation %+v", r)
	}
	regs.Apply(abi.HYPERVISOR_console_io, r)
	if regs.RIP != 0x2000 || regs.RAX != abi.HYPERVISOR_console_io {
		t.Fatalf("regs %+v", regs)
	}
	// The guest re-executes the SYSCALL.
	a = regs.Args()
	r = w.d.Dispatch(w.callers[0], regs.RAX, &a)
	checkRet(t, "resumed write", r, 0)
	if w.con.raw.String() != string(msg) {
		t.Fatalf("output after continuation: %d bytes", w.con.raw.Len())
	}
}

func TestSchedOpShutdown(t *testing.T) {
	w := newWorld(t)
	g1 := w.guests[1]
	sd := func(dom int, reason uint32) Result {
		w.guests[dom].put32(bufVA, reason)
		return w.call(dom, abi.HYPERVISOR_sched_op, abi.SCHEDOP_shutdown, bufVA)
	}
	checkRet(t, "shutdown {9}", sd(1, 9), neg(abi.EINVAL))
	checkRet(t, "shutdown {6}", sd(1, 6), neg(abi.EINVAL))
	checkRet(t, "shutdown {1<<8}", sd(1, 1<<8), neg(abi.EINVAL))
	checkRet(t, "shutdown bad ptr", w.call(1, abi.HYPERVISOR_sched_op, abi.SCHEDOP_shutdown, badVA), neg(abi.EFAULT))
	if w.doms[1].state.ShuttingDown() || len(w.doms[1].shutdowns) != 0 {
		t.Fatalf("refused shutdown took effect")
	}
	// shutdown_code records a code a later shutdown keeps.
	g1.put32(bufVA, abi.SHUTDOWN_crash)
	checkRet(t, "shutdown_code", w.call(1, abi.HYPERVISOR_sched_op, abi.SCHEDOP_shutdown_code, bufVA), 0)
	g1.put32(bufVA, 7)
	checkRet(t, "shutdown_code {7}", w.call(1, abi.HYPERVISOR_sched_op, abi.SCHEDOP_shutdown_code, bufVA), neg(abi.EINVAL))
	checkRet(t, "shutdown {0}", sd(1, abi.SHUTDOWN_poweroff), 0)
	if c, ok := w.doms[1].state.ShutdownCode(); !ok || c != abi.SHUTDOWN_crash || !w.doms[1].state.ShuttingDown() {
		t.Fatalf("code %d %v", c, ok)
	}
	if len(w.doms[1].shutdowns) != 1 || w.doms[1].shutdowns[0] != abi.SHUTDOWN_crash {
		t.Fatalf("hv told %v", w.doms[1].shutdowns)
	}
	checkRet(t, "second shutdown", sd(1, abi.SHUTDOWN_reboot), 0)
	if len(w.doms[1].shutdowns) != 1 {
		t.Fatalf("domU told twice: %v", w.doms[1].shutdowns)
	}
	// Suspend: recorded, returns 0; Resume clears.
	w.doms[1].state.Resume()
	checkRet(t, "suspend", sd(1, abi.SHUTDOWN_suspend), 0)
	if c, _ := w.doms[1].state.ShutdownCode(); c != abi.SHUTDOWN_suspend {
		t.Fatalf("suspend code %d", c)
	}
	// The hardware domain's hv hook runs on every request.
	checkRet(t, "dom0 poweroff", sd(0, abi.SHUTDOWN_poweroff), 0)
	checkRet(t, "dom0 reboot", sd(0, abi.SHUTDOWN_reboot), 0)
	if got := w.doms[0].shutdowns; len(got) != 2 || got[0] != 0 || got[1] != 0 {
		t.Fatalf("dom0 shutdowns %v", got)
	}
}

func TestSchedOpRemoteShutdown(t *testing.T) {
	w := newWorld(t)
	rs := func(from int, dom uint16, reason uint32) Result {
		g := w.guests[from]
		g.put(bufVA, []byte{byte(dom), byte(dom >> 8), 0xaa, 0xbb})
		g.put32(bufVA+4, reason)
		return w.call(from, abi.HYPERVISOR_sched_op, abi.SCHEDOP_remote_shutdown, bufVA)
	}
	checkRet(t, "domU -> dom0", rs(1, 0, 0), neg(abi.EPERM))
	checkRet(t, "domU -> itself", rs(1, 1, 0), neg(abi.EPERM))
	checkRet(t, "unknown domain", rs(0, 5, 0), neg(abi.ESRCH))
	checkRet(t, "DOMID_SELF", rs(0, abi.DOMID_SELF, 0), neg(abi.ESRCH))
	checkRet(t, "bad reason", rs(0, 1, 6), neg(abi.EINVAL))
	checkRet(t, "bad pointer", w.call(0, abi.HYPERVISOR_sched_op, abi.SCHEDOP_remote_shutdown, bufEnd-4), neg(abi.EFAULT))
	if w.doms[1].state.ShuttingDown() || w.doms[0].state.ShuttingDown() {
		t.Fatal("refused remote shutdown took effect")
	}
	checkRet(t, "dom0 -> domU reboot", rs(0, 1, abi.SHUTDOWN_reboot), 0)
	if c, ok := w.doms[1].state.ShutdownCode(); !ok || c != abi.SHUTDOWN_reboot || len(w.doms[1].shutdowns) != 1 {
		t.Fatalf("domU code %d %v %v", c, ok, w.doms[1].shutdowns)
	}
	if w.doms[0].state.ShuttingDown() {
		t.Fatal("caller affected")
	}
}

func TestSchedOpMisc(t *testing.T) {
	w := newWorld(t)
	checkRet(t, "yield", w.call(1, abi.HYPERVISOR_sched_op, abi.SCHEDOP_yield, 0), 0)
	for _, cmd := range []uint64{abi.SCHEDOP_watchdog, abi.SCHEDOP_pin_override, 8, 0xffffffff} {
		checkRet(t, "sched_op cmd", w.call(1, abi.HYPERVISOR_sched_op, cmd, bufVA), neg(abi.ENOSYS))
	}
	// compat: reason in the argument itself.
	checkRet(t, "compat yield", w.call(1, abi.HYPERVISOR_sched_op_compat, abi.SCHEDOP_yield, 0), 0)
	checkRet(t, "compat poll", w.call(1, abi.HYPERVISOR_sched_op_compat, abi.SCHEDOP_poll, 0), neg(abi.ENOSYS))
	checkRet(t, "compat shutdown 9", w.call(1, abi.HYPERVISOR_sched_op_compat, abi.SCHEDOP_shutdown, 9), neg(abi.EINVAL))
	checkRet(t, "compat shutdown 1<<32", w.call(1, abi.HYPERVISOR_sched_op_compat, abi.SCHEDOP_shutdown, 1<<32), neg(abi.EINVAL))
	checkRet(t, "compat shutdown", w.call(1, abi.HYPERVISOR_sched_op_compat, abi.SCHEDOP_shutdown, abi.SHUTDOWN_crash), 0)
	if c, _ := w.doms[1].state.ShutdownCode(); c != abi.SHUTDOWN_crash {
		t.Fatalf("compat code %d", c)
	}
	// No waiter: block, poll, yield and set_timer_op are -ENOSYS.
	w.vcpus[1].waiter = nil
	for _, cmd := range []uint64{abi.SCHEDOP_yield, abi.SCHEDOP_block, abi.SCHEDOP_poll} {
		checkRet(t, "no waiter", w.call(1, abi.HYPERVISOR_sched_op, cmd, bufVA), neg(abi.ENOSYS))
	}
	checkRet(t, "no waiter timer", w.call(1, abi.HYPERVISOR_set_timer_op, 5), neg(abi.ENOSYS))
}

func TestSchedOpBlockPoll(t *testing.T) {
	w := newWorld(t)
	g1 := w.guests[1]
	ev := w.doms[1].state.events
	port, e := ev.AllocUnbound(abi.DOMID_SELF, 0)
	if e != 0 {
		t.Fatal(e)
	}
	// Poll: too many ports, bad list, bad struct, bad port.
	poll := func(ports []uint32, nr uint32, timeout uint64) Result {
		for i, p := range ports {
			g1.put32(bufVA+0x100+uint64(i)*4, p)
		}
		g1.put64(bufVA, bufVA+0x100)
		g1.put32(bufVA+8, nr)
		g1.put64(bufVA+16, timeout)
		return w.call(1, abi.HYPERVISOR_sched_op, abi.SCHEDOP_poll, bufVA)
	}
	checkRet(t, "poll 129 ports", poll(nil, 129, 0), neg(abi.EINVAL))
	checkRet(t, "poll bad struct", w.call(1, abi.HYPERVISOR_sched_op, abi.SCHEDOP_poll, badVA), neg(abi.EFAULT))
	g1.put64(bufVA, badVA)
	g1.put32(bufVA+8, 1)
	checkRet(t, "poll bad list", w.call(1, abi.HYPERVISOR_sched_op, abi.SCHEDOP_poll, bufVA), neg(abi.EFAULT))
	checkRet(t, "poll bad port", poll([]uint32{999}, 1, 0), neg(abi.EINVAL))
	// A timeout already past ends the poll at once.
	checkRet(t, "poll past timeout", poll([]uint32{uint32(port)}, 1, 1), 0)
	// A pending port, masked or not, ends it at once.
	bindDom0 := w.doms[0].state.events
	p0, e := bindDom0.BindInterdomain(1, port)
	if e != 0 {
		t.Fatal(e)
	}
	if e := bindDom0.Send(p0); e != 0 {
		t.Fatal(e)
	}
	checkRet(t, "poll pending", poll([]uint32{uint32(port)}, 1, 0), 0)
	// Block returns at once when an event is deliverable (vcpu_info of
	// vCPU 0 in dom1's shared_info: upcall_pending set by the send).
	done := make(chan Result, 1)
	go func() { done <- w.call(1, abi.HYPERVISOR_sched_op, abi.SCHEDOP_block, 0) }()
	checkRet(t, "block", <-done, 0)
}

func TestSetTimerOp(t *testing.T) {
	w := newWorld(t)
	checkRet(t, "set_timer_op", w.call(1, abi.HYPERVISOR_set_timer_op, uint64(w.clock.Now()+5000)), 0)
	if n := w.clock.Pending(); n != 1 {
		t.Fatalf("timers pending %d", n)
	}
	checkRet(t, "cancel", w.call(1, abi.HYPERVISOR_set_timer_op, 0), 0)
	checkRet(t, "negative", w.call(1, abi.HYPERVISOR_set_timer_op, ^uint64(0)), 0)
}

func TestEventChannelOp(t *testing.T) {
	w := newWorld(t)
	g0, g1 := w.guests[0], w.guests[1]
	ev := func(dom int, cmd uint64, arg uint64) Result {
		return w.call(dom, abi.HYPERVISOR_event_channel_op, cmd, arg)
	}
	// dom1: alloc_unbound {dom SELF, remote 0} -> port@4.
	g1.put(bufVA, []byte{0xf0, 0x7f, 0, 0, 0, 0, 0, 0})
	checkRet(t, "alloc_unbound", ev(1, abi.EVTCHNOP_alloc_unbound, bufVA), 0)
	port := g1.get32(bufVA + 4)
	if port == 0 {
		t.Fatal("port 0 allocated")
	}
	// dom0: bind_interdomain {remote_dom 1, remote_port} -> local_port@8.
	g0.put(bufVA, []byte{1, 0, 0, 0})
	g0.put32(bufVA+4, port)
	g0.put32(bufVA+8, 0xffffffff)
	checkRet(t, "bind_interdomain", ev(0, abi.EVTCHNOP_bind_interdomain, bufVA), 0)
	local := g0.get32(bufVA + 8)
	if local == 0 || local == 0xffffffff {
		t.Fatalf("local port %d", local)
	}
	// status of dom1's port, from dom1.
	g1.put(bufVA, []byte{0xf0, 0x7f, 0, 0})
	g1.put32(bufVA+4, port)
	checkRet(t, "status", ev(1, abi.EVTCHNOP_status, bufVA), 0)
	if st := g1.get32(bufVA + 8); st != abi.EVTCHNSTAT_interdomain {
		t.Fatalf("status %d", st)
	}
	if g1.get(bufVA+16, 2)[0] != 0 || g1.get32(bufVA+20) != local {
		t.Fatalf("interdomain peer % x", g1.get(bufVA+16, 8))
	}
	// send from dom0.
	g0.put32(bufVA+0x40, local)
	checkRet(t, "send", ev(0, abi.EVTCHNOP_send, bufVA+0x40), 0)
	// Errors: worker errors come through; no copy-back on failure.
	g1.put32(bufVA+0x80, 4000)
	checkRet(t, "close bad port", ev(1, abi.EVTCHNOP_close, bufVA+0x80), neg(abi.EINVAL))
	g1.put32(bufVA+0x80, 99) // virq 99
	g1.put32(bufVA+0x84, 0)
	g1.put32(bufVA+0x88, 0x12345678)
	checkRet(t, "bind_virq bad", ev(1, abi.EVTCHNOP_bind_virq, bufVA+0x80), neg(abi.EINVAL))
	if g1.get32(bufVA+0x88) != 0x12345678 {
		t.Fatal("failed bind wrote its port")
	}
	checkRet(t, "unknown cmd", ev(1, 15, bufVA), neg(abi.ENOSYS))
	checkRet(t, "negative cmd", ev(1, 0xffffffff, bufVA), neg(abi.ENOSYS))
	checkRet(t, "bad pointer", ev(1, abi.EVTCHNOP_send, badVA), neg(abi.EFAULT))
	checkRet(t, "init_control", ev(1, abi.EVTCHNOP_init_control, bufVA), neg(abi.ENOSYS))
	g1.put(bufVA+0x200, []byte{0xf0, 0x7f})
	checkRet(t, "reset_cont", ev(1, 14, bufVA+0x200), neg(abi.EBUSY))
	// A successful bind whose copy-back faults is -EFAULT.
	g1.put32(roVA, abi.VIRQ_TIMER)
	checkRet(t, "read-only arg", ev(1, abi.EVTCHNOP_bind_virq, roVA), neg(abi.EFAULT))
	// No table: -ENOSYS.
	w.doms[1].state = NewDomainState(DomainConfig{})
	checkRet(t, "no table", ev(1, abi.EVTCHNOP_send, bufVA), neg(abi.ENOSYS))
}

// TestEventChannelOpRows runs every EVTCHNOP through the hypercall layer
// once, checking the return and the OUT field.
func TestEventChannelOpRows(t *testing.T) {
	w := newWorld(t)
	g := w.guests[1]
	ev := func(cmd uint64, words ...uint32) (Result, *mapGuest) {
		g.put(bufVA, make([]byte, 24))
		for i, v := range words {
			g.put32(bufVA+uint64(4*i), v)
		}
		return w.call(1, abi.HYPERVISOR_event_channel_op, cmd, bufVA), g
	}
	r, _ := ev(abi.EVTCHNOP_bind_ipi, 0, 0)
	checkRet(t, "bind_ipi", r, 0)
	ipi := g.get32(bufVA + 4)
	r, _ = ev(abi.EVTCHNOP_bind_virq, abi.VIRQ_TIMER, 0, 0)
	checkRet(t, "bind_virq", r, 0)
	virq := g.get32(bufVA + 8)
	if ipi == 0 || virq == 0 || ipi == virq {
		t.Fatalf("ports %d %d", ipi, virq)
	}
	r, _ = ev(abi.EVTCHNOP_bind_virq, abi.VIRQ_TIMER, 0, 0)
	checkRet(t, "bind_virq twice", r, neg(abi.EEXIST))
	r, _ = ev(abi.EVTCHNOP_bind_ipi, 5, 0)
	checkRet(t, "bind_ipi bad vcpu", r, neg(abi.ENOENT))
	r, _ = ev(abi.EVTCHNOP_bind_pirq, 3, 0, 0)
	if r.Ret == 0 {
		t.Fatal("domU bound a PIRQ")
	}
	r, _ = ev(abi.EVTCHNOP_send, ipi)
	checkRet(t, "send ipi", r, 0)
	r, _ = ev(abi.EVTCHNOP_unmask, ipi)
	checkRet(t, "unmask", r, 0)
	r, _ = ev(abi.EVTCHNOP_bind_vcpu, ipi, 0)
	checkRet(t, "bind_vcpu ipi", r, neg(abi.EINVAL))
	r, _ = ev(abi.EVTCHNOP_set_priority, ipi, 3)
	checkRet(t, "set_priority", r, neg(abi.ENOSYS))
	r, _ = ev(abi.EVTCHNOP_expand_array)
	checkRet(t, "expand_array", r, neg(abi.EOPNOTSUPP))
	r, _ = ev(abi.EVTCHNOP_close, ipi)
	checkRet(t, "close", r, 0)
	r, _ = ev(abi.EVTCHNOP_close, ipi)
	checkRet(t, "close again", r, neg(abi.EINVAL))
	r, _ = ev(abi.EVTCHNOP_reset, 0) // dom0, not ours
	checkRet(t, "reset dom0", r, neg(abi.EPERM))
	r, _ = ev(abi.EVTCHNOP_reset, abi.DOMID_SELF)
	checkRet(t, "reset self", r, 0)
	r, _ = ev(abi.EVTCHNOP_status, abi.DOMID_SELF, virq)
	checkRet(t, "status after reset", r, 0)
	if g.get32(bufVA+8) != abi.EVTCHNSTAT_closed {
		t.Fatalf("status %d", g.get32(bufVA+8))
	}
	r, _ = ev(abi.EVTCHNOP_status, 0, 1) // dom0's port, unprivileged
	checkRet(t, "status of dom0", r, neg(abi.EPERM))
}

func TestEventChannelOpCompat(t *testing.T) {
	w := newWorld(t)
	g := w.guests[1]
	// evtchn_op {cmd alloc_unbound; u.alloc_unbound {SELF, 0, port}}.
	g.put(bufVA, make([]byte, evtchnOpSize))
	g.put32(bufVA, abi.EVTCHNOP_alloc_unbound)
	g.put(bufVA+4, []byte{0xf0, 0x7f, 0, 0})
	checkRet(t, "compat alloc_unbound", w.call(1, abi.HYPERVISOR_event_channel_op_compat, bufVA), 0)
	if g.get32(bufVA+8) == 0 {
		t.Fatal("no port written at u+4")
	}
	for _, cmd := range []uint32{abi.EVTCHNOP_reset, abi.EVTCHNOP_init_control, 99} {
		g.put32(bufVA, cmd)
		checkRet(t, "compat cmd", w.call(1, abi.HYPERVISOR_event_channel_op_compat, bufVA), neg(abi.ENOSYS))
	}
	checkRet(t, "compat struct straddles", w.call(1, abi.HYPERVISOR_event_channel_op_compat, bufEnd-20), neg(abi.EFAULT))
}

// TestNegativeChecks pins the three negative checks of the hello test
// guest (dom0, tests/guests/hello.c).
func TestNegativeChecks(t *testing.T) {
	w := newWorld(t)
	checkRet(t, "hypercall 11", w.call(0, 11), neg(abi.ENOSYS))
	checkRet(t, "console_io(7)", w.call(0, abi.HYPERVISOR_console_io, 7, 1, bufVA), neg(abi.ENOSYS))
	w.guests[0].put32(bufVA, 9)
	checkRet(t, "sched_op(SHUTDOWN, {9})", w.call(0, abi.HYPERVISOR_sched_op, abi.SCHEDOP_shutdown, bufVA), neg(abi.EINVAL))
	if neg(abi.ENOSYS) != uint64(1<<64-38) || neg(abi.EINVAL) != uint64(1<<64-22) {
		t.Fatal("errno encoding")
	}
}

// TestHotPathsDoNotAllocate checks the calls Linux makes most often:
// xen_version(0, NULL) (its "cheap hypercall" to force event delivery),
// event_channel_op send and a multicall of them.
func TestHotPathsDoNotAllocate(t *testing.T) {
	w := newWorld(t)
	g := w.guests[1]
	g.put(bufVA, []byte{0xf0, 0x7f, 0, 0, 0, 0, 0, 0})
	checkRet(t, "alloc_unbound", w.call(1, abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_alloc_unbound, bufVA), 0)
	g.put32(bufVA+0x40, g.get32(bufVA+4))
	putEntries(g, listVA,
		[]uint64{abi.HYPERVISOR_xen_version, 0},
		[]uint64{abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_send, bufVA + 0x40})
	c := w.callers[1]
	for _, tc := range []struct {
		name string
		nr   uint64
		a    Args
	}{
		{"xen_version", abi.HYPERVISOR_xen_version, Args{0, 0}},
		{"send", abi.HYPERVISOR_event_channel_op, Args{abi.EVTCHNOP_send, bufVA + 0x40}},
		{"multicall", abi.HYPERVISOR_multicall, Args{listVA, 2}},
	} {
		var r Result
		n := testing.AllocsPerRun(100, func() { r = w.d.Dispatch(c, tc.nr, &tc.a) })
		if r.Continue || int64(r.Ret) < 0 {
			t.Fatalf("%s failed: %#x", tc.name, r.Ret)
		}
		if n != 0 {
			t.Errorf("%s: %v allocations per call", tc.name, n)
		}
	}
}
