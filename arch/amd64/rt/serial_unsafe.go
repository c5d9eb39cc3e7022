package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// Serial input. Once cmd/gohv asks for it (ConsoleRead), the console
// UART's receive interrupt is on: deviceIRQ drains the UART into rxBuf and
// wakes the thread waiting in sysConsoleRead. Bytes that arrive while
// rxBuf is full are dropped and counted.

const rxSize = 4096

var (
	rxBuf     [rxSize]byte
	rxHead    uint64 // bytes ever received (write index)
	rxTail    uint64 // bytes ever consumed (read index)
	rxDropped uint64
	rxIRQ     uint8 // the ISA IRQ of the console UART, 0 = input off
	rxWaiting [maxThreads]bool
)

// deviceIRQ serves an ISA line other than the timer (vector vecPIC+irq,
// routed by routeISA), a device vector routed for guests (devIRQ), or
// the IPI (ipiIRQ, which needs no lock). Context: an IST stack or the
// shim (a guest exit), interrupts off; it takes the shim lock unless
// this CPU holds it.
//
//go:nosplit
func deviceIRQ(vector uint64) {
	if vector == vecIPI {
		ipiIRQ(false)
		return
	}
	took := shimLockNested()
	deviceIRQLocked(vector)
	if took {
		shimUnlock()
	}
}

// deviceIRQLocked is deviceIRQ under the shim lock.
//
//go:nosplit
func deviceIRQLocked(vector uint64) {
	if vector >= hw.DeviceVecBase && vector < hw.DeviceVecBase+hw.DeviceVecs {
		// One that interrupts a vCPU's thread that takes device
		// interrupts, in its Go code or the shim, is left to it, as
		// Xen's do_IRQ runs on the CPU the interrupt came to: it takes
		// the set at its next entry or park, and a waiter is woken if
		// it leaves the CPU first (schedule).
		c := thisCPU()
		devIRQ(vector, c.idling != 0 || c.cur >= noThread || !threads[c.cur].devTaker)
		return
	}
	line := uint8(vector - vecPIC)
	isaEOI(vector)
	if rxIRQ == 0 || line != rxIRQ {
		return // a stray 8259 IRQ 7/15, or a line gohv did not route
	}
	got := false
	for i := 0; i < 64 && amd64.Inb(serialBase+uartLSR)&1 != 0; i++ {
		b := amd64.Inb(serialBase + uartTHR)
		if rxHead-rxTail == rxSize {
			rxDropped++
			continue
		}
		rxBuf[rxHead%rxSize] = b
		rxHead++
		got = true
	}
	if got {
		for i := range rxWaiting {
			if rxWaiting[i] {
				rxWaiting[i] = false
				wake(&threads[i])
			}
		}
	}
}

// sysConsoleRead copies received bytes to buf, waiting for at least one.
// The first call turns the UART's receive interrupt on (irq = its line).
// Context: the shim.
//
//go:nosplit
func sysConsoleRead(buf, n, irq uintptr) uintptr {
	if n == 0 {
		return 0
	}
	if rxIRQ == 0 && irq != 0 && irq < 16 {
		if !routeISA(uint8(irq)) {
			return errno(enoent)
		}
		rxIRQ = uint8(irq)
		amd64.Outb(serialBase+uartIER, 1) // received data available
	}
	for rxHead == rxTail {
		i := thisCPU().cur
		rxWaiting[i] = true
		block(0)
	}
	touchRange(buf, n)
	var c uintptr
	for ; c < n && rxTail != rxHead; c++ {
		*(*byte)(unsafe.Pointer(buf + c)) = rxBuf[rxTail%rxSize]
		rxTail++
	}
	return c
}
