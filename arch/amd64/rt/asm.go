package rt

// Routines in entry_amd64.s that Go code calls. The entry points the CPU
// jumps to (entry32, entry64, syscallEntry, threadStart, idleStart, irqTimer,
// irqSpurious, trapCommon, faultTrampoline, exc0-21) are not Go-callable;
// their addresses reach Go through asmAddrs and excStubs.

// switchStack saves the current kernel-stack resume point in *save and
// continues the thread whose saved stack pointer is to.
func switchStack(save *uintptr, to uintptr)

// reloadSegments loads CS, DS, ES and SS with the selectors of the GDT
// initDescriptors installed (0xe008, 0xe010). Context: kmain.
func reloadSegments()

// cpuSelf returns GS:0, the running CPU's cpuState.self (thisCPU).
func cpuSelf() uintptr

// sti enables interrupts.
func sti()
