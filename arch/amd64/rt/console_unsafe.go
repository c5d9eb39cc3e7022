package rt

import "github.com/gohv/gohv/arch/amd64"

// The console is a 16550 UART driven by polling, so every line is on the
// wire when write returns: gohv's console is always synchronous (Xen's
// sync_console). Writers are serialised by running with interrupts off.

const (
	uartTHR = 0 // transmit holding (DLAB=0)
	uartDLL = 0 // divisor low (DLAB=1)
	uartIER = 1
	uartDLM = 1
	uartFCR = 2
	uartLCR = 3
	uartMCR = 4
	uartLSR = 5

	lsrTHRE = 0x20
)

var (
	serialBase  uint16 = 0x3f8
	serialReady bool
	atLineStart = true
)

// serialInit programs the UART at base for baud and line control lcr
// (e.g. 0x03 = 8 data bits, no parity, 1 stop bit).
//
//go:nosplit
func serialInit(base uint16, baud uint32, lcr uint8) {
	if baud == 0 {
		baud = 115200
	}
	div := 115200 / baud
	if div == 0 {
		div = 1
	}
	serialBase = base
	amd64.Outb(base+uartIER, 0)
	amd64.Outb(base+uartLCR, 0x80)
	amd64.Outb(base+uartDLL, uint8(div))
	amd64.Outb(base+uartDLM, uint8(div>>8))
	amd64.Outb(base+uartLCR, lcr&0x7f)
	amd64.Outb(base+uartFCR, 0xC7)
	amd64.Outb(base+uartMCR, 0x0B)
	serialReady = true
}

//go:nosplit
func putRaw(c byte) {
	if !serialReady {
		return
	}
	for i := 0; i < 1<<20 && amd64.Inb(serialBase+uartLSR)&lsrTHRE == 0; i++ {
	}
	amd64.Outb(serialBase+uartTHR, c)
}

// putc writes c, turning LF into CR LF.
//
//go:nosplit
func putc(c byte) {
	if c == '\n' {
		putRaw('\r')
	}
	putRaw(c)
}

// putcXen writes c as part of a hypervisor console line: every line starts
// with "(XEN) ", as Xen's do.
//
//go:nosplit
func putcXen(c byte) {
	if atLineStart {
		puts0("(XEN) ")
		atLineStart = false
	}
	putc(c)
	if c == '\n' {
		atLineStart = true
	}
}

//go:nosplit
func puts0(s string) {
	for i := 0; i < len(s); i++ {
		putc(s[i])
	}
}

// xputs writes s as hypervisor console text.
//
//go:nosplit
func xputs(s string) {
	for i := 0; i < len(s); i++ {
		putcXen(s[i])
	}
}

// xhex writes v as 16 hex digits.
//
//go:nosplit
func xhex(v uint64) { xhexn(v, 16) }

//go:nosplit
func xhexn(v uint64, digits int) {
	for i := digits - 1; i >= 0; i-- {
		putcXen("0123456789abcdef"[(v>>(uint(i)*4))&15])
	}
}

// xdec writes v in decimal.
//
//go:nosplit
func xdec(v uint64) {
	d := uint64(1)
	for v/d >= 10 {
		d *= 10
	}
	for ; d > 0; d /= 10 {
		putcXen(byte('0' + v/d%10))
	}
}

// xline ends the current console line if one is open.
//
//go:nosplit
func xline() {
	if !atLineStart {
		putcXen('\n')
	}
}
