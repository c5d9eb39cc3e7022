package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
)

// maxCPUs bounds the per-CPU tables. Only CPU 0 runs today.
const maxCPUs = 8

// cpuState is one CPU's private state, reached through GS_BASE. The first
// six fields are read by entry_amd64.s at fixed offsets (CPU_* there).
type cpuState struct {
	self    uintptr // 0: address of this struct
	ktop    uintptr // 8: kernel stack top of the thread running here
	scratch uintptr // 16: the caller's RSP during SYSCALL entry
	fxarea  uintptr // 24: FXSAVE area of the thread running here
	idling  uintptr // 32: 1 while halted in the idle loop
	ticks   uint64  // 40: timer interrupts taken
	cur     uintptr // index into threads of the running thread
	id      uintptr // CPU number
	inTrap  uintptr // 1 while trap() runs: a fault inside it is fatal at once
	inShim  uintptr // 1 while the syscall shim runs
}

var cpus [maxCPUs]cpuState

//go:nosplit
func thisCPU() *cpuState {
	// Single CPU today; with SMP this reads GS:0 (cpuState.self).
	return &cpus[0]
}

//go:nosplit
func cpuInit(id int) {
	c := &cpus[id]
	c.self = uintptr(unsafe.Pointer(c))
	c.id = uintptr(id)
	amd64.WriteGSBase(uint64(c.self))
}
