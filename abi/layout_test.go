// Copyright 2026 The gohv Authors. All rights reserved.

package abi

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// fieldOffset returns the byte offset of the (possibly dotted) field path
// in v's type, using reflect only.
func fieldOffset(t *testing.T, v any, path string) uintptr {
	t.Helper()
	typ := reflect.TypeOf(v)
	var off uintptr
	for _, name := range splitPath(path) {
		f, ok := typ.FieldByName(name)
		if !ok {
			t.Fatalf("%T has no field %s", v, path)
		}
		off += f.Offset
		typ = f.Type
	}
	return off
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}

// TestGeneratedLayout checks every structure and field of ztypes_amd64.go
// against the C compiler's sizeof and offsetof (zlayout_amd64_test.go), and
// that encoding/binary sees the same size as Go's own layout (all padding
// explicit).
func TestGeneratedLayout(t *testing.T) {
	if len(cLayout) < 100 {
		t.Fatalf("cLayout has only %d rows", len(cLayout))
	}
	structs := 0
	for _, r := range cLayout {
		if r.field == "" {
			structs++
			if got := reflect.TypeOf(r.v).Size(); got != r.val {
				t.Errorf("%T: Go size %d, C sizeof(%s) %d", r.v, got, r.c, r.val)
			}
			if got := binary.Size(r.v); got != int(r.val) {
				t.Errorf("%T: binary.Size %d, C sizeof(%s) %d", r.v, got, r.c, r.val)
			}
			continue
		}
		if got := fieldOffset(t, r.v, r.field); got != r.val {
			t.Errorf("%T.%s: Go offset %d, C offsetof(%s) %d", r.v, r.field, got, r.c, r.val)
		}
	}
	if structs < 100 {
		t.Errorf("only %d structures checked", structs)
	}
}

// TestABISizes checks structure sizes taken by hand from Xen 4.17's public
// headers (x86-64), a record of the ABI independent of the generator.
func TestABISizes(t *testing.T) {
	tests := []struct {
		v    any
		size int
	}{
		{StartInfo{}, 1168},
		{SharedInfo{}, 3136},
		{VcpuInfo{}, 64},
		{VcpuTimeInfo{}, 32},
		{ArchSharedInfo{}, 48},
		{ArchVcpuInfo{}, 16},
		{TrapInfo{}, 16},
		{IretContext{}, 72},
		{CpuUserRegs{}, 200},
		{VcpuGuestContext{}, 5168},
		{MmuUpdate{}, 16},
		{MmuextOp{}, 24},
		{MulticallEntry{}, 64},
		{CallbackRegister{}, 16},
		{EvtchnAllocUnbound{}, 8},
		{EvtchnBindInterdomain{}, 12},
		{EvtchnBindVirq{}, 12},
		{EvtchnBindIpi{}, 8},
		{EvtchnStatus{}, 24},
		{EvtchnInitControl{}, 24},
		{EvtchnFifoControlBlock{}, 72},
		{GrantEntryV1{}, 8},
		{GrantEntryV2{}, 16},
		{GnttabMapGrantRef{}, 32},
		{GnttabUnmapGrantRef{}, 24},
		{GnttabSetupTable{}, 24},
		{GnttabCopy{}, 40},
		{GnttabQuerySize{}, 16},
		{XenMemoryReservation{}, 32},
		{XenMemoryExchange{}, 72},
		{XenMemoryMap{}, 16},
		{XenForeignMemoryMap{}, 24},
		{XenMachphysMapping{}, 24},
		{XenAddToPhysmap{}, 24},
		{XenMemAcquireResource{}, 32},
		{SchedShutdown{}, 4},
		{SchedPoll{}, 24},
		{SchedRemoteShutdown{}, 8},
		{VcpuRunstateInfo{}, 48},
		{VcpuRegisterVcpuInfo{}, 16},
		{VcpuSetSingleshotTimer{}, 16},
		{PhysdevMapPirq{}, 40},
		{PhysdevSetupGsi{}, 8},
		{PhysdevApic{}, 16},
		{PhysdevSetIobitmap{}, 16},
		{PhysdevIrqStatusQuery{}, 8},
		{XenPlatformOp{}, 136},
		{XenpfSettime64{}, 24},
		{XenpfFirmwareInfo{}, 40},
		{XenpfPcpuinfo{}, 20},
		{Dom0VgaConsoleInfo{}, 40},
		{XenstoreDomainInterface{}, 2076},
		{XsdSockmsg{}, 16},
		{XenconsInterface{}, 3088},
	}
	for _, tt := range tests {
		if got := binary.Size(tt.v); got != tt.size {
			t.Errorf("binary.Size(%T) = %d, want %d", tt.v, got, tt.size)
		}
		if got := reflect.TypeOf(tt.v).Size(); got != uintptr(tt.size) {
			t.Errorf("Sizeof(%T) = %d, want %d", tt.v, got, tt.size)
		}
	}
}

// TestABIOffsets checks field offsets taken by hand from Xen 4.17's public
// headers (x86-64), independently of the generator.
func TestABIOffsets(t *testing.T) {
	tests := []struct {
		v     any
		field string
		off   uintptr
	}{
		{StartInfo{}, "Magic", 0},
		{StartInfo{}, "NrPages", 32},
		{StartInfo{}, "SharedInfo", 40},
		{StartInfo{}, "Flags", 48},
		{StartInfo{}, "StoreMfn", 56},
		{StartInfo{}, "StoreEvtchn", 64},
		{StartInfo{}, "Console", 72},
		{StartInfo{}, "PtBase", 88},
		{StartInfo{}, "NrPtFrames", 96},
		{StartInfo{}, "MfnList", 104},
		{StartInfo{}, "ModStart", 112},
		{StartInfo{}, "ModLen", 120},
		{StartInfo{}, "CmdLine", 128},
		{StartInfo{}, "FirstP2mPfn", 1152},
		{StartInfo{}, "NrP2mFrames", 1160},
		{SharedInfo{}, "VcpuInfo", 0},
		{SharedInfo{}, "EvtchnPending", 2048},
		{SharedInfo{}, "EvtchnMask", 2560},
		{SharedInfo{}, "WcVersion", 3072},
		{SharedInfo{}, "WcSec", 3076},
		{SharedInfo{}, "WcNsec", 3080},
		{SharedInfo{}, "WcSecHi", 3084},
		{SharedInfo{}, "Arch", 3088},
		{SharedInfo{}, "Arch.MaxPfn", 3088},
		{SharedInfo{}, "Arch.PfnToMfnFrameListList", 3096},
		{VcpuInfo{}, "EvtchnUpcallPending", 0},
		{VcpuInfo{}, "EvtchnUpcallMask", 1},
		{VcpuInfo{}, "EvtchnPendingSel", 8},
		{VcpuInfo{}, "Arch.Cr2", 16},
		{VcpuInfo{}, "Time", 32},
		{VcpuInfo{}, "Time.SystemTime", 48},
		{VcpuTimeInfo{}, "Version", 0},
		{VcpuTimeInfo{}, "TscTimestamp", 8},
		{VcpuTimeInfo{}, "SystemTime", 16},
		{VcpuTimeInfo{}, "TscToSystemMul", 24},
		{VcpuTimeInfo{}, "TscShift", 28},
		{VcpuTimeInfo{}, "Flags", 29},
		{ArchSharedInfo{}, "NmiReason", 16},
		{ArchSharedInfo{}, "P2mCr3", 24},
		{ArchSharedInfo{}, "P2mVaddr", 32},
		{ArchSharedInfo{}, "P2mGeneration", 40},
		{TrapInfo{}, "Vector", 0},
		{TrapInfo{}, "Flags", 1},
		{TrapInfo{}, "Cs", 2},
		{TrapInfo{}, "Address", 8},
		{IretContext{}, "Rax", 0},
		{IretContext{}, "R11", 8},
		{IretContext{}, "Rcx", 16},
		{IretContext{}, "Flags", 24},
		{IretContext{}, "Rip", 32},
		{IretContext{}, "Cs", 40},
		{IretContext{}, "Rflags", 48},
		{IretContext{}, "Rsp", 56},
		{IretContext{}, "Ss", 64},
		{CpuUserRegs{}, "Rax", 80},
		{CpuUserRegs{}, "Rsi", 104},
		{CpuUserRegs{}, "Rdi", 112},
		{CpuUserRegs{}, "ErrorCode", 120},
		{CpuUserRegs{}, "EntryVector", 124},
		{CpuUserRegs{}, "Rip", 128},
		{CpuUserRegs{}, "Cs", 136},
		{CpuUserRegs{}, "SavedUpcallMask", 140},
		{CpuUserRegs{}, "Rflags", 144},
		{CpuUserRegs{}, "Rsp", 152},
		{CpuUserRegs{}, "Ss", 160},
		{CpuUserRegs{}, "Es", 168},
		{CpuUserRegs{}, "Ds", 176},
		{CpuUserRegs{}, "Fs", 184},
		{CpuUserRegs{}, "Gs", 192},
		{VcpuGuestContext{}, "Flags", 512},
		{VcpuGuestContext{}, "UserRegs", 520},
		{VcpuGuestContext{}, "TrapCtxt", 720},
		{VcpuGuestContext{}, "LdtBase", 4816},
		{VcpuGuestContext{}, "GdtFrames", 4832},
		{VcpuGuestContext{}, "GdtEnts", 4960},
		{VcpuGuestContext{}, "KernelSs", 4968},
		{VcpuGuestContext{}, "KernelSp", 4976},
		{VcpuGuestContext{}, "Ctrlreg", 4984},
		{VcpuGuestContext{}, "Debugreg", 5048},
		{VcpuGuestContext{}, "EventCallbackEip", 5112},
		{VcpuGuestContext{}, "FailsafeCallbackEip", 5120},
		{VcpuGuestContext{}, "SyscallCallbackEip", 5128},
		{VcpuGuestContext{}, "VmAssist", 5136},
		{VcpuGuestContext{}, "FsBase", 5144},
		{VcpuGuestContext{}, "GsBaseKernel", 5152},
		{VcpuGuestContext{}, "GsBaseUser", 5160},
		{MmuUpdate{}, "Val", 8},
		{MmuextOp{}, "Cmd", 0},
		{MmuextOp{}, "Arg1", 8},
		{MmuextOp{}, "Arg2", 16},
		{MulticallEntry{}, "Result", 8},
		{MulticallEntry{}, "Args", 16},
		{CallbackRegister{}, "Type", 0},
		{CallbackRegister{}, "Flags", 2},
		{CallbackRegister{}, "Address", 8},
		{EvtchnFifoControlBlock{}, "Ready", 0},
		{EvtchnFifoControlBlock{}, "Head", 8},
		{GrantEntryV1{}, "Flags", 0},
		{GrantEntryV1{}, "Domid", 2},
		{GrantEntryV1{}, "Frame", 4},
		{GnttabSetupTable{}, "Dom", 0},
		{GnttabSetupTable{}, "NrFrames", 4},
		{GnttabSetupTable{}, "Status", 8},
		{GnttabSetupTable{}, "FrameList", 16},
		{GnttabQuerySize{}, "Dom", 0},
		{GnttabQuerySize{}, "NrFrames", 4},
		{GnttabQuerySize{}, "MaxNrFrames", 8},
		{GnttabQuerySize{}, "Status", 12},
		{GnttabMapGrantRef{}, "HostAddr", 0},
		{GnttabMapGrantRef{}, "Flags", 8},
		{GnttabMapGrantRef{}, "Ref", 12},
		{GnttabMapGrantRef{}, "Dom", 16},
		{GnttabMapGrantRef{}, "Status", 18},
		{GnttabMapGrantRef{}, "Handle", 20},
		{GnttabMapGrantRef{}, "DevBusAddr", 24},
		{GnttabUnmapGrantRef{}, "HostAddr", 0},
		{GnttabUnmapGrantRef{}, "DevBusAddr", 8},
		{GnttabUnmapGrantRef{}, "Handle", 16},
		{GnttabUnmapGrantRef{}, "Status", 20},
		{XenconsInterface{}, "In", 0},
		{XenconsInterface{}, "Out", 1024},
		{XenconsInterface{}, "InCons", 3072},
		{XenconsInterface{}, "InProd", 3076},
		{XenconsInterface{}, "OutCons", 3080},
		{XenconsInterface{}, "OutProd", 3084},
	}
	for _, tt := range tests {
		if got := fieldOffset(t, tt.v, tt.field); got != tt.off {
			t.Errorf("offset of %T.%s = %d, want %d", tt.v, tt.field, got, tt.off)
		}
	}
}

// TestBinaryRoundTrip writes a StartInfo with encoding/binary and checks
// the bytes land at the C offsets.
func TestBinaryRoundTrip(t *testing.T) {
	var si StartInfo
	copy(si.Magic[:], "xen-3.0-x86_64")
	si.NrPages = 0x1122334455667788
	si.Flags = SIF_INITDOMAIN | SIF_MOD_START_PFN
	si.SetConsoleDomU(0xabcdef, 7)
	if !PutCString(si.CmdLine[:], "console=hvc0") {
		t.Fatal("PutCString failed")
	}
	si.FirstP2mPfn = 0x42
	buf := make([]byte, 0, binary.Size(si))
	buf, err := binary.Append(buf, binary.LittleEndian, &si)
	if err != nil {
		t.Fatal(err)
	}
	if len(buf) != 1168 {
		t.Fatalf("encoded %d bytes, want 1168", len(buf))
	}
	le := binary.LittleEndian
	if got := le.Uint64(buf[32:]); got != si.NrPages {
		t.Errorf("nr_pages @32 = %#x", got)
	}
	if got := le.Uint32(buf[48:]); got != SIF_INITDOMAIN|SIF_MOD_START_PFN {
		t.Errorf("flags @48 = %#x", got)
	}
	if got := le.Uint64(buf[72:]); got != 0xabcdef {
		t.Errorf("console.domU.mfn @72 = %#x", got)
	}
	if got := le.Uint32(buf[80:]); got != 7 {
		t.Errorf("console.domU.evtchn @80 = %d", got)
	}
	if got := CString(buf[128 : 128+1024]); got != "console=hvc0" {
		t.Errorf("cmd_line @128 = %q", got)
	}
	if got := le.Uint64(buf[1152:]); got != 0x42 {
		t.Errorf("first_p2m_pfn @1152 = %#x", got)
	}
	var back StartInfo
	if _, err := binary.Decode(buf, binary.LittleEndian, &back); err != nil {
		t.Fatal(err)
	}
	if back != si {
		t.Errorf("round trip changed the structure")
	}
}
