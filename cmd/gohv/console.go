package main

import (
	"fmt"
	"strings"

	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/hv"
	"github.com/gohv/gohv/internal/klog"
)

// Serial input goes to the hardware domain or to gohv; three Ctrl-A in a
// row switch between them, as on Xen. Input for gohv is debug keys.

const ctrlA = 0x01

// consoleInput owns the serial input: it runs for the life of the
// hypervisor on its own goroutine, blocked in rt.ConsoleRead between bytes.
type consoleInput struct {
	irq     int
	machine *hv.Machine // nil before domains exist
	toDom0  bool
	ctrlAs  int
}

func (c *consoleInput) announce() {
	to := "Xen"
	if c.toDom0 {
		to = "DOM0"
	}
	log.Lines([]string{fmt.Sprintf("*** Serial input to %s (type 'CTRL-a' three times to switch input)", to)})
}

func (c *consoleInput) run() {
	buf := make([]byte, 256)
	for {
		n, err := rt.ConsoleRead(buf, c.irq)
		if err != nil {
			log.Printf(klog.Warning, "console: no interrupt for serial input on IRQ %d: %v", c.irq, err)
			return
		}
		c.handle(buf[:n])
	}
}

func (c *consoleInput) handle(p []byte) {
	var dom0 []byte
	for _, b := range p {
		if b == ctrlA {
			c.ctrlAs++
			if c.ctrlAs == 3 {
				c.ctrlAs = 0
				c.toDom0 = !c.toDom0 && c.machine != nil
				c.announce()
			}
			continue
		}
		for ; c.ctrlAs > 0; c.ctrlAs-- {
			c.deliver(ctrlA, &dom0)
		}
		c.deliver(b, &dom0)
	}
	if len(dom0) > 0 {
		c.machine.ConsoleInput(dom0)
	}
}

func (c *consoleInput) deliver(b byte, dom0 *[]byte) {
	if c.toDom0 {
		*dom0 = append(*dom0, b)
		return
	}
	debugKey(b)
}

// msiDump lists the MSI sources for debug key 'M' (nil until the
// interrupt controller exists).
var msiDump func() []string

// exitDump lists the domains' exit counts for debug key 'p' (nil until
// the machine exists).
var exitDump func() []string

// countingExits and countExits ask and turn on the vCPUs' exit counting
// (hv.Machine.CountExits) for debug key 'p' (set with exitDump).
var (
	countingExits func() bool
	countExits    func()
)

// keyLine is where the console selftest collects a typed line.
var keyLine = make(chan string, 1)
var keyBuf strings.Builder

// debugKey handles one key typed to gohv.
func debugKey(b byte) {
	switch b {
	case 'h':
		log.Lines([]string{
			"'h' pressed -> showing installed handlers",
			" key 'h' (ascii '68') => show this message",
			" key 'm' (ascii '6d') => memory info",
			" key 'M' (ascii '4d') => dump MSI state",
			" key 'p' (ascii '70') => print exit counts",
			" key 'R' (ascii '52') => reboot machine",
		})
		return
	case 'm':
		st := rt.Stats()
		log.Printf(klog.Err, "gohv heap %d KiB in use (peak %d KiB)", st.HeapFrames*4, st.HeapPeakFrames*4)
		log.Lines(heapUseLines())
		return
	case 'M':
		if msiDump != nil {
			log.Lines(append([]string{"MSI information:"}, msiDump()...))
		}
		return
	case 'p':
		if exitDump != nil {
			if !countingExits() {
				// The first press starts the count (loglvl=all has it
				// on from boot); the next ones print it.
				countExits()
				log.Lines([]string{"'p' pressed -> exits to Go counted from now on; press 'p' again for the counts"})
				return
			}
			log.Lines(append([]string{"'p' pressed -> exits to Go by vector and hypercall"}, exitDump()...))
		}
		return
	case 'R':
		log.Lines([]string{"'R' pressed -> rebooting machine"})
		rt.Reboot()
	}
	if b == '\r' || b == '\n' {
		select {
		case keyLine <- keyBuf.String():
		default:
		}
		keyBuf.Reset()
		return
	}
	if b >= ' ' && b < 0x7f {
		keyBuf.WriteByte(b)
	}
}
