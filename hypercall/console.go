package hypercall

import (
	"math"

	"github.com/gohv/gohv/abi"
)

// console_io (18): (unsigned int cmd, unsigned int count, char *buffer),
// after Xen 4.17's drivers/char/console.c do_console_io.

// Console constants.
const (
	// consoleChunk is how many bytes console_io moves per step (Xen's
	// kbuf is 128 bytes, one kept for the NUL); a preemption check comes
	// between steps.
	consoleChunk = 127
	// pbufSize is the per-domain line buffer (Xen's DOMAIN_PBUF_SIZE).
	pbufSize = 200
)

// consolePermitted applies the console_io permission check: the
// privileged domain may use every command (Xen's XSM_PRIV, dom0); another
// domain may only write, and only with DomainConfig.ConsoleWrite set (Xen
// release builds refuse domU writes; see doc.go). Everything else: -EPERM,
// which Xen checks before looking at cmd.
func consolePermitted(dom Domain, cmd uint32) bool {
	if dom.Privileged() {
		return true
	}
	return cmd == abi.CONSOLEIO_write && dom.State().consoleWrite
}

func doConsoleIO(d *Dispatcher, c *Caller, a *Args) Result {
	cmd, count, buf := uint32(a[0]), uint32(a[1]), a[2]
	if d.console == nil {
		return Errno(abi.ENOSYS)
	}
	if !consolePermitted(c.Domain, cmd) {
		return Errno(abi.EPERM)
	}
	switch cmd {
	case abi.CONSOLEIO_write:
		return consoleWrite(d, c, count, buf)
	case abi.CONSOLEIO_read:
		return consoleRead(d, c, count, buf)
	}
	return Errno(abi.ENOSYS)
}

// consoleWrite copies count bytes from buf in chunks and emits them: raw
// for the hardware domain, filtered and line-buffered for others. Between
// chunks it may preempt, continuing with the bytes left.
func consoleWrite(d *Dispatcher, c *Caller, count uint32, buf uint64) Result {
	var kbuf [consoleChunk]byte
	first := true
	for count > 0 {
		if !first && c.VCPU.Preempt() {
			return Continuation(Args{abi.CONSOLEIO_write, uint64(count), buf})
		}
		first = false
		n := min(count, consoleChunk)
		if !c.readGuest(buf, kbuf[:n]) {
			return Errno(abi.EFAULT)
		}
		used := n
		if c.Domain.HardwareDomain() {
			d.console.WriteRaw(c.Domain.ID(), kbuf[:n])
		} else {
			used = uint32(c.Domain.State().consumeLine(d.console, c.Domain.ID(), kbuf[:n]))
		}
		buf += uint64(used)
		count -= used
	}
	return Result{}
}

// printable reports whether b survives the filter for a domain that is
// not the hardware domain: Xen's isprint (Latin-1: 0x20-0x7e and
// 0xa0-0xff) or a tab.
func printable(b byte) bool {
	return b == '\t' || (b >= 0x20 && b <= 0x7e) || b >= 0xa0
}

// consumeLine takes bytes of a domain's console output from p up to and
// including the first newline, keeps the printable ones, and either
// appends them to the domain's line buffer or, at a newline or when the
// buffer would fill, emits the buffer and them as one line. It returns how
// many bytes of p it consumed (at least 1 for a non-empty p).
func (s *DomainState) consumeLine(con Console, dom abi.DomID, p []byte) int {
	var out [consoleChunk]byte
	nout, used, newline := 0, 0, false
	for used < len(p) {
		b := p[used]
		used++
		if b == '\n' {
			newline = true
			break
		}
		if printable(b) && nout < len(out) {
			out[nout] = b
			nout++
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !newline && s.pbufLen+nout < pbufSize-1 {
		s.pbufLen += copy(s.pbuf[s.pbufLen:], out[:nout])
		return used
	}
	var line [pbufSize + consoleChunk]byte
	n := copy(line[:], s.pbuf[:s.pbufLen])
	n += copy(line[n:], out[:nout])
	s.pbufLen = 0
	con.WriteLine(dom, line[:n])
	return used
}

// consoleRead copies up to count bytes of serial input to buf and returns
// how many (Xen: the privileged domain only; count above INT_MAX is -E2BIG
// so the count cannot look like an error). Bytes are consumed only once
// the guest has them; a fault returns -EFAULT after the earlier chunks were
// consumed, as in Xen.
func consoleRead(d *Dispatcher, c *Caller, count uint32, buf uint64) Result {
	if count > math.MaxInt32 {
		return Errno(abi.E2BIG)
	}
	var kbuf [consoleChunk]byte
	var done uint32
	for done < count {
		want := int(min(count-done, consoleChunk))
		n := min(d.console.PeekInput(kbuf[:want]), want)
		if n <= 0 {
			break
		}
		if !c.writeGuest(buf+uint64(done), kbuf[:n]) {
			return Errno(abi.EFAULT)
		}
		d.console.DiscardInput(n)
		done += uint32(n)
	}
	return Value(uint64(done))
}
