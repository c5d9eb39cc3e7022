package boot

import (
	"fmt"
	"math"
	"strings"
)

// Errno values used in the "rc=%d" of Xen's invalid-value warning. They are
// Xen's public/errno.h numbers; boot keeps its own copy because it may not
// import abi yet.
const (
	rcEINVAL = -22 // EINVAL
	rcERANGE = -34 // ERANGE
)

// maxOptLen mirrors Xen's `char opt[128]` in parse_params: a word longer than
// 127 bytes is cut to its first 127 bytes before it is matched.
const maxOptLen = 127

// pageSize is the x86 base page size; dom0_mem amounts count whole pages.
const pageSize = 4096

// MemSize is one dom0_mem amount: `[-]<size>`, `[-]<frac>%` or
// `[-]<size>+<frac>%` (Xen 4.17 dom0_build.c struct memsize).
type MemSize struct {
	Set     bool   // the option named this amount
	Minus   bool   // "all available memory but this much"
	Bytes   uint64 // absolute part, rounded down to whole 4 KiB pages as Xen does
	Percent uint8  // fraction of available memory, 0..99
}

// Resolve returns the amount in bytes given avail bytes of available memory,
// as Xen's get_memsize does: Bytes + Percent% of avail, subtracted from avail
// when Minus (floored at 0).
func (m MemSize) Resolve(avail uint64) uint64 {
	pct := avail/100*uint64(m.Percent) + avail%100*uint64(m.Percent)/100
	v := m.Bytes + pct
	if v < m.Bytes { // overflow: saturate
		v = math.MaxUint64
	}
	if m.Minus {
		if v >= avail {
			return 0
		}
		return avail - v
	}
	return v
}

func (m MemSize) String() string {
	if !m.Set {
		return "unset"
	}
	var b strings.Builder
	if m.Minus {
		b.WriteByte('-')
	}
	if m.Bytes != 0 || m.Percent == 0 {
		fmt.Fprintf(&b, "%dK", m.Bytes>>10)
	}
	if m.Percent != 0 {
		if m.Bytes != 0 {
			b.WriteByte('+')
		}
		fmt.Fprintf(&b, "%d%%", m.Percent)
	}
	return b.String()
}

// Dom0Mem is `dom0_mem=[min:<sz>,][max:<sz>,][<sz>]` (x86 form).
type Dom0Mem struct {
	Min, Max, Amount MemSize
}

// Dom0MemReserveCap is the cap on the memory kept back from dom0 when no
// amount is given: 1/16th of available memory, at most 128 MiB.
const Dom0MemReserveCap = 128 << 20

// Compute returns dom0's initial allocation and its maximum reservation (both
// bytes) given avail bytes of memory available for dom0, following Xen 4.17
// dom0_compute_nr_pages: an unset or zero amount means all but min(avail/16,
// 128 MiB); the amount is raised to Min, then lowered to Max and to avail.
// maxRes is math.MaxUint64 when no max: was given.
func (d Dom0Mem) Compute(avail uint64) (amount, maxRes uint64) {
	amount, maxRes, _ = d.compute(avail)
	return amount, maxRes
}

// dom0Limit is the last of Compute's limits that moved the amount.
type dom0Limit int

const (
	limitNone  dom0Limit = iota
	limitMin             // raised to min:
	limitMax             // lowered to max:
	limitAvail           // lowered to the available memory
)

func (d Dom0Mem) compute(avail uint64) (amount, maxRes uint64, by dom0Limit) {
	amount = d.Amount.Resolve(avail)
	if !d.Amount.Set || amount == 0 {
		reserve := avail / 16
		if reserve > Dom0MemReserveCap {
			reserve = Dom0MemReserveCap
		}
		amount = avail - reserve
	}
	var minB uint64
	if d.Min.Set {
		minB = d.Min.Resolve(avail)
	}
	maxRes = math.MaxUint64
	if d.Max.Set {
		maxRes = d.Max.Resolve(avail)
	}
	if amount < minB {
		amount, by = minB, limitMin
	}
	if amount > maxRes {
		amount, by = maxRes, limitMax
	}
	if amount > avail {
		amount, by = avail, limitAvail
	}
	amount &^= pageSize - 1
	return amount, maxRes, by
}

// ClipLine returns the console line (without "(XEN) ") saying that dom0
// gets another amount than the one dom0_mem asks for, given avail bytes
// available for dom0, or "" when no amount was asked (or zero, the
// default) or Compute gives exactly that. Xen 4.17 clamps such an amount
// silently and says "Dom0 memory clipped to <n> pages" only where it cuts
// the allocation of a kernel without XEN_ELFNOTE_INIT_P2M; gohv gives the
// line in that form for every clamp, with the asked amount and the limit
// that moved it:
//
//	Dom0 memory clipped to 112302 pages (dom0_mem asks 4096 MiB; 438 MiB free for domains)
func (d Dom0Mem) ClipLine(avail uint64) string {
	if !d.Amount.Set {
		return ""
	}
	asked := d.Amount.Resolve(avail) &^ (pageSize - 1)
	amount, maxRes, by := d.compute(avail)
	if asked == 0 || amount == asked {
		return ""
	}
	var limit string
	switch by {
	case limitMin:
		limit = fmt.Sprintf("min: %d MiB", d.Min.Resolve(avail)>>20)
	case limitMax:
		limit = fmt.Sprintf("max: %d MiB", maxRes>>20)
	default:
		limit = fmt.Sprintf("%d MiB free for domains", avail>>20)
	}
	return fmt.Sprintf("Dom0 memory clipped to %d pages (dom0_mem asks %d MiB; %s)", amount/pageSize, asked>>20, limit)
}

// VCPURange is `dom0_max_vcpus=<n>`, `<min>-<max>`, `<min>-` or `-<max>`.
type VCPURange struct {
	Min uint32 // at least 1
	Max uint32 // math.MaxUint32 means unlimited
}

// Clamp returns how many vCPUs dom0 gets on a host with pcpus CPUs, as Xen's
// dom0_max_vcpus(): the number of pCPUs, raised to Min and lowered to Max.
func (r VCPURange) Clamp(pcpus uint32) uint32 {
	n := pcpus
	if n < r.Min {
		n = r.Min
	}
	if n > r.Max {
		n = r.Max
	}
	return n
}

// BaudAuto is SerialConfig.Baud for `auto`: keep what firmware programmed.
const BaudAuto = 0

// SerialConfig is `com1=` / `com2=`:
// `<baud>[/<base-baud>][,DPS[,<io-base>[,<irq>]]]` plus the name=value forms
// baud=, clock-hz=, data-bits=, parity=, stop-bits=, io-base=, irq=.
type SerialConfig struct {
	Baud     uint32 // bits per second; BaudAuto keeps the firmware setting
	BaseBaud uint32 // UART input clock / 16 (Xen stores clock_hz = base << 4)
	DataBits uint8  // 5..8
	Parity   byte   // 'n', 'o', 'e', 'm' or 's'
	StopBits uint8  // 1 or 2
	IOBase   uint16 // I/O port base; gohv drives port-I/O UARTs only
	IRQ      uint8  // 0 = poll mode
}

// Default UART settings. Xen leaves the baud rate at "auto" (whatever the
// firmware set) unless told; gohv defaults to 115200 because under QEMU and
// most BIOSes nothing sane is programmed before us, and 115200 8n1 is what
// every serial console user expects.
const (
	DefaultBaud     = 115200
	DefaultBaseBaud = 115200 // 1.8432 MHz UART clock
)

// DefaultCom1 and DefaultCom2 are the settings used when com1=/com2= are
// absent (Xen's __start_xen: 0x3f8 IRQ 4 and 0x2f8 IRQ 3, 8n1).
var (
	DefaultCom1 = SerialConfig{Baud: DefaultBaud, BaseBaud: DefaultBaseBaud, DataBits: 8, Parity: 'n', StopBits: 1, IOBase: 0x3f8, IRQ: 4}
	DefaultCom2 = SerialConfig{Baud: DefaultBaud, BaseBaud: DefaultBaseBaud, DataBits: 8, Parity: 'n', StopBits: 1, IOBase: 0x2f8, IRQ: 3}
)

// LogLevel is a pair of Xen printk thresholds (console.c): a message of level
// L (XENLOG_ERR=0, WARNING=1, INFO=2, DEBUG=3) is always printed when
// L < Lower, rate-limited when Lower <= L < Upper, dropped when L >= Upper.
// Written `loglvl=<lower>[/<upper>]` with names none=0, error=1, warning=2,
// info=3, debug=4, all=4.
type LogLevel struct {
	Lower, Upper int
}

// Xen 4.17 release-build (NDEBUG) defaults: loglvl=warning,
// guest_loglvl=none/warning.
var (
	DefaultLogLevel      = LogLevel{Lower: 2, Upper: 2}
	DefaultGuestLogLevel = LogLevel{Lower: 0, Upper: 2}
)

// loglvlStr is Xen's loglvl_str.
func loglvlStr(l int) string {
	switch l {
	case 0:
		return "Nothing"
	case 1:
		return "Errors"
	case 2:
		return "Errors and warnings"
	case 3:
		return "Errors, warnings and info"
	case 4:
		return "All"
	}
	return "???"
}

// Options is what gohv takes from its command line. Zero values are not
// meaningful; start from DefaultOptions (ParseCmdline does).
type Options struct {
	Dom0Mem       Dom0Mem
	Dom0MaxVCPUs  VCPURange
	Dom0VCPUsPin  bool
	Console       []string // validated console= items in order, e.g. "com1", "vga", "com2H"
	Com1, Com2    SerialConfig
	LogLevel      LogLevel
	GuestLogLevel LogLevel
	NoReboot      bool
	SyncConsole   bool
	// NoSMP (Xen's nosmp) starts no CPU but the boot CPU; MaxCPUs
	// (maxcpus=N) brings up at most N CPUs, the boot CPU included (0:
	// every CPU the MADT lists).
	NoSMP   bool
	MaxCPUs uint32
	// SelfTest is gohv's own option: "" when absent, "all" for a bare
	// `selftest`, else the name given (`selftest=fault`, `selftest=panic`).
	SelfTest string
}

// DefaultOptions returns the settings used when the command line is empty.
func DefaultOptions() Options {
	return Options{
		Dom0MaxVCPUs: VCPURange{Min: 1, Max: math.MaxUint32},
		// The documented default (xen-command-line.pandoc); Xen 4.17's x86
		// build actually defaults to "vga" alone (OPT_CONSOLE_STR).
		Console:       []string{"com1", "vga"},
		Com1:          DefaultCom1,
		Com2:          DefaultCom2,
		LogLevel:      DefaultLogLevel,
		GuestLogLevel: DefaultGuestLogLevel,
	}
}

// LogLevelLines returns what Xen's console_init_postirq prints about log
// levels, e.g. "Std. Loglevel: Errors and warnings" and
// "Guest Loglevel: Nothing (Rate-limited: Errors and warnings)".
func (o *Options) LogLevelLines() []string {
	f := func(prefix string, l LogLevel) string {
		s := prefix + loglvlStr(l.Lower)
		if l.Upper != l.Lower {
			s += " (Rate-limited: " + loglvlStr(l.Upper) + ")"
		}
		return s
	}
	return []string{f("Std. Loglevel: ", o.LogLevel), f("Guest Loglevel: ", o.GuestLogLevel)}
}

// StripImageName drops leading spaces, the first word (the image path a
// loader put there) and the spaces after it, as the tail of Xen's
// cmdline_cook does.
func StripImageName(cmdline string) string {
	p := strings.TrimLeft(cmdline, " ")
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return strings.TrimLeft(p[i:], " ")
	}
	return ""
}

// loaderIsGRUB2 is Xen's loader_is_grub2: GRUB 1 calls itself "GNU GRUB
// 0.xx", GRUB 2 "GRUB 2.xx".
func loaderIsGRUB2(loader string) bool {
	i := strings.Index(loader, "GRUB ")
	return i >= 0 && (i+5 >= len(loader) || loader[i+5] != '0')
}

// CookCmdline turns the command line a loader passed into the hypervisor's
// own options and the extra options for dom0, as Xen 4.17's cmdline_cook and
// the " -- " split in __start_xen do: leading spaces go; the first word (the
// image name) goes unless the loader is GRUB 2 or the boot was PVH, neither
// of which passes it; everything after the first " -- " is dom0's, returned
// without leading spaces.
func CookCmdline(raw, loader string, pvh bool) (xen, dom0Extra string) {
	p := cook(raw, loader, pvh)
	if i := strings.Index(p, " -- "); i >= 0 {
		return p[:i], strings.TrimLeft(p[i+3:], " ")
	}
	return p, ""
}

// CookDom0Cmdline returns dom0's command line from the one the loader
// passed with module 0 (the kernel), as Xen 4.17's create_dom0 cooks it
// with cmdline_cook: leading spaces go, and the first word (the module's
// file name) goes unless the loader is GRUB 2 or the boot was PVH, which do
// not pass it (GRUB 2's module2 line "module2 /boot/vmlinuz console=hvc0"
// gives "console=hvc0"; QEMU's -initrd "vmlinuz console=hvc0" gives
// "vmlinuz console=hvc0"). The caller appends the " -- " extras of the
// hypervisor's line.
func CookDom0Cmdline(raw, loader string, pvh bool) string {
	return cook(raw, loader, pvh)
}

// cook is the part of Xen's cmdline_cook both lines share.
func cook(raw, loader string, pvh bool) string {
	p := strings.TrimLeft(raw, " ")
	if !pvh && !loaderIsGRUB2(loader) {
		p = StripImageName(p)
	}
	return p
}

// isSpace is the word separator. Xen splits on ' ' only; gohv also takes
// tabs, which some boot.cfg editors leave behind.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// ParseCmdline parses the hypervisor's part of the command line (already
// cooked by CookCmdline) into Options, starting from DefaultOptions. It
// returns one warning line per problem, worded as Xen 4.17 words it and
// without the "(XEN) " prefix:
//
//	parameter "foo" unknown!
//	parameter "dom0_mem" has invalid value "12Q", rc=-22!
//	Bad console= option 'com9'
//
// An option with a bad value keeps its previous (default) value.
func ParseCmdline(s string) (Options, []string) {
	o := DefaultOptions()
	var warn []string
	for i := 0; i < len(s); {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		word := s[i:j]
		i = j
		if len(word) > maxOptLen {
			word = word[:maxOptLen]
		}
		warn = o.apply(word, warn)
	}
	return o, warn
}

// apply handles one `[no-]name[=value]` word.
func (o *Options) apply(word string, warn []string) []string {
	key, val, hasVal := strings.Cut(word, "=")
	name := key
	assert := true
	if strings.HasPrefix(name, "no-") {
		assert = false
		name = name[3:]
	}
	invalid := func(rc int) []string {
		return append(warn, fmt.Sprintf(`parameter "%s" has invalid value "%s", rc=%d!`, Printable(key), Printable(val), rc))
	}
	boolean := func(dst *bool) []string {
		v := true // bare name, or "name=" (Xen treats an empty value as bare)
		if val != "" {
			b, ok := parseBool(val)
			if !ok {
				return invalid(rcEINVAL)
			}
			v = b
		}
		*dst = v == assert
		return warn
	}

	// Non-boolean ("custom") options given with "no-": Xen passes "no" to
	// the handler when there is no value, and rejects a value outright.
	custom := func(f func(string) int) []string {
		if !assert {
			if hasVal {
				return invalid(rcEINVAL)
			}
			val = "no"
		}
		if rc := f(val); rc != 0 {
			return invalid(rc)
		}
		return warn
	}

	switch name {
	case "noreboot":
		return boolean(&o.NoReboot)
	case "sync_console":
		return boolean(&o.SyncConsole)
	case "dom0_vcpus_pin":
		return boolean(&o.Dom0VCPUsPin)
	case "nosmp":
		return boolean(&o.NoSMP)
	case "maxcpus":
		return custom(func(v string) int {
			n, rest, ok := parseUint(v, 0)
			if !ok || rest != "" || n > math.MaxUint32 {
				return rcEINVAL
			}
			o.MaxCPUs = uint32(n)
			return 0
		})
	case "placeholder":
		// Xen's ignore_param("placeholder"): some grub.cfg generators add
		// it to work around a GRUB bug that ate the first option.
		return warn
	case "dom0_mem":
		return custom(o.parseDom0Mem)
	case "dom0_max_vcpus":
		return custom(o.parseDom0MaxVCPUs)
	case "com1":
		return custom(func(v string) int { return parseSerial(v, &o.Com1) })
	case "com2":
		return custom(func(v string) int { return parseSerial(v, &o.Com2) })
	case "loglvl":
		return custom(func(v string) int { return parseLoglvl(v, &o.LogLevel) })
	case "guest_loglvl":
		return custom(func(v string) int { return parseLoglvl(v, &o.GuestLogLevel) })
	case "console":
		// A string parameter in Xen; items are checked when the console
		// starts. "no-console" has no meaning.
		if !assert {
			if !hasVal {
				val = "no"
			}
			return invalid(rcEINVAL)
		}
		items, bad := parseConsole(val)
		o.Console = items
		for _, b := range bad {
			warn = append(warn, fmt.Sprintf("Bad console= option '%s'", Printable(b)))
		}
		return warn
	case "selftest":
		if !assert {
			if hasVal {
				return invalid(rcEINVAL)
			}
			o.SelfTest = ""
			return warn
		}
		if !hasVal || val == "" {
			o.SelfTest = "all"
			return warn
		}
		if !isSelftestName(val) {
			return invalid(rcEINVAL)
		}
		o.SelfTest = val
		return warn
	}
	return append(warn, fmt.Sprintf(`parameter "%s" unknown!`, Printable(key)))
}

// Printable returns s with every byte outside printable ASCII (0x20..0x7e)
// written as \xNN, so that text from the boot loader can never break a
// console line or send terminal control sequences. Xen prints such bytes
// raw; for printable ASCII the result is identical.
func Printable(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			var b strings.Builder
			for j := 0; j < len(s); j++ {
				if c := s[j]; c < 0x20 || c > 0x7e {
					fmt.Fprintf(&b, "\\x%02x", c)
				} else {
					b.WriteByte(c)
				}
			}
			return b.String()
		}
	}
	return s
}

// parseBool is Xen's parse_bool.
func parseBool(s string) (value, ok bool) {
	switch s {
	case "1", "on", "yes", "true", "enable":
		return true, true
	case "0", "no", "off", "false", "disable":
		return false, true
	}
	return false, false
}

func isSelftestName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// parseUint is Xen's simple_strtoull(s, &end, base) restricted to what a
// well-formed value needs: base 0 takes 0x.. hex, 0.. octal and decimal.
// It returns the value, the unparsed rest, and false when no digit was read
// or the value overflowed.
func parseUint(s string, base int) (uint64, string, bool) {
	if base == 0 {
		switch {
		case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && hexVal(s[2]) < 16:
			base, s = 16, s[2:]
		case len(s) > 1 && s[0] == '0':
			base = 8
		default:
			base = 10
		}
	}
	var v uint64
	n := 0
	for n < len(s) {
		d := hexVal(s[n])
		if d >= uint64(base) {
			break
		}
		if v > (math.MaxUint64-d)/uint64(base) {
			return 0, s, false
		}
		v = v*uint64(base) + d
		n++
	}
	return v, s[n:], n > 0
}

func hexVal(c byte) uint64 {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0')
	case c >= 'a' && c <= 'f':
		return uint64(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 99
}

// parseSizeAndUnit is Xen's parse_size_and_unit: a number with an optional
// suffix T/G/M/K/B (either case); no suffix means KiB. A '%' right after the
// number is left for the caller (the value is then not scaled).
func parseSizeAndUnit(s string) (v uint64, rest string, percent, ok bool) {
	v, rest, ok = parseUint(s, 0)
	if !ok {
		return 0, s, false, false
	}
	shift := uint(10)
	if rest != "" {
		switch rest[0] {
		case 'T', 't':
			shift, rest = 40, rest[1:]
		case 'G', 'g':
			shift, rest = 30, rest[1:]
		case 'M', 'm':
			shift, rest = 20, rest[1:]
		case 'K', 'k':
			shift, rest = 10, rest[1:]
		case 'B', 'b':
			shift, rest = 0, rest[1:]
		case '%':
			return v, rest, true, true
		}
	}
	if shift != 0 && v > math.MaxUint64>>shift {
		return 0, s, false, false
	}
	return v << shift, rest, false, true
}

// parseAmt parses one dom0_mem amount up to ',' or the end, as Xen 4.17's
// parse_amt: `[-]<size>`, `[-]<frac>%`, `[-]<size>+<frac>%`, frac < 100.
func parseAmt(s string) (MemSize, string, int) {
	var m MemSize
	if strings.HasPrefix(s, "-") {
		m.Minus = true
		s = s[1:]
	}
	items := 0
	for {
		if s == "" || s[0] < '0' || s[0] > '9' {
			return m, s, rcEINVAL
		}
		v, rest, pct, ok := parseSizeAndUnit(s)
		if !ok {
			return m, s, rcERANGE
		}
		s = rest
		if pct {
			if v >= 100 {
				return m, s, rcEINVAL
			}
			m.Percent = uint8(v)
			s = s[1:]
			items++ // nothing may follow a fraction
		} else {
			if items != 0 {
				return m, s, rcEINVAL
			}
			m.Bytes = v &^ (pageSize - 1)
		}
		items++
		if items < 2 && strings.HasPrefix(s, "+") {
			s = s[1:]
			continue
		}
		break
	}
	if s != "" && s[0] != ',' {
		return m, s, rcEINVAL
	}
	m.Set = true
	return m, s, 0
}

// parseDom0Mem parses the whole list first and commits only when it is all
// valid; each item replaces only the amount it names.
func (o *Options) parseDom0Mem(s string) int {
	d := o.Dom0Mem
	for {
		var m MemSize
		var rc int
		switch {
		case strings.HasPrefix(s, "min:"):
			m, s, rc = parseAmt(s[4:])
			d.Min = m
		case strings.HasPrefix(s, "max:"):
			m, s, rc = parseAmt(s[4:])
			d.Max = m
		default:
			m, s, rc = parseAmt(s)
			d.Amount = m
		}
		if rc != 0 {
			return rc
		}
		if s == "" {
			break
		}
		s = s[1:] // the ','
	}
	o.Dom0Mem = d
	return 0
}

// parseDom0MaxVCPUs: `N`, `N-`, `N-M` or `-M`; N of 0 means 1 (Xen).
func (o *Options) parseDom0MaxVCPUs(s string) int {
	r := VCPURange{Min: 1, Max: math.MaxUint32}
	num := func(s string) (uint32, string, bool) {
		v, rest, ok := parseUint(s, 0)
		if !ok || v > math.MaxUint32 {
			return 0, s, false
		}
		return uint32(v), rest, true
	}
	var ok bool
	if strings.HasPrefix(s, "-") {
		if r.Max, s, ok = num(s[1:]); !ok {
			return rcEINVAL
		}
	} else {
		if r.Min, s, ok = num(s); !ok {
			return rcEINVAL
		}
		if r.Min == 0 {
			r.Min = 1
		}
		switch {
		case s == "":
			r.Max = r.Min
		case s == "-":
			s = ""
		case s[0] == '-':
			if r.Max, s, ok = num(s[1:]); !ok {
				return rcEINVAL
			}
		}
	}
	if s != "" || r.Max == 0 {
		return rcEINVAL // Xen would accept "-0" and give dom0 no vCPU
	}
	o.Dom0MaxVCPUs = r
	return 0
}

// parseLoglvl is Xen's _parse_loglvl, except that an unknown level name is
// rejected (Xen silently falls back to "warning" for it).
func parseLoglvl(s string, dst *LogLevel) int {
	level := func(s string) (int, string, bool) {
		for _, n := range [...]struct {
			name string
			lvl  int
		}{{"none", 0}, {"error", 1}, {"warning", 2}, {"info", 3}, {"debug", 4}, {"all", 4}} {
			if strings.HasPrefix(s, n.name) {
				return n.lvl, s[len(n.name):], true
			}
		}
		return 0, s, false
	}
	var l LogLevel
	var ok bool
	if l.Lower, s, ok = level(s); !ok {
		return rcEINVAL
	}
	l.Upper = l.Lower
	if strings.HasPrefix(s, "/") {
		if l.Upper, s, ok = level(s[1:]); !ok {
			return rcEINVAL
		}
	}
	if l.Upper < l.Lower {
		l.Upper = l.Lower
	}
	if s != "" {
		return rcEINVAL
	}
	*dst = l
	return 0
}

// parseConsole splits console= into the items gohv knows and those it does
// not. Known: vga, com1, com2 (each optionally with H or L), dbgp, ehci,
// xhci, pv, xen, none. An empty item is bad, as in Xen.
func parseConsole(s string) (items, bad []string) {
	for _, it := range strings.Split(s, ",") {
		switch it {
		case "vga", "com1", "com1H", "com1L", "com2", "com2H", "com2L",
			"dbgp", "ehci", "xhci", "pv", "xen", "none":
			items = append(items, it)
		default:
			bad = append(bad, it)
		}
	}
	return items, bad
}

// parseSerial parses com1=/com2= on top of *dst (fields not given keep their
// value) and commits only a fully valid value.
func parseSerial(s string, dst *SerialConfig) int {
	c := *dst
	fields := strings.Split(s, ",")
	named := false
	for i, f := range fields {
		if strings.Contains(f, "=") {
			named = true
		}
		if named {
			if rc := serialNamed(f, &c); rc != 0 {
				return rc
			}
			continue
		}
		if f == "" {
			continue // empty positional field: keep the value
		}
		var rc int
		switch i {
		case 0:
			rc = serialBaud(f, &c)
		case 1:
			rc = serialDPS(f, &c)
		case 2:
			rc = serialIOBase(f, &c)
		case 3:
			rc = serialIRQ(f, &c)
		default:
			// <port-bdf>, <bridge-bdf>: PCI UARTs, not supported.
			rc = rcEINVAL
		}
		if rc != 0 {
			return rc
		}
	}
	*dst = c
	return 0
}

func serialBaud(f string, c *SerialConfig) int {
	rest := f
	if strings.HasPrefix(f, "auto") {
		c.Baud, rest = BaudAuto, f[4:]
	} else {
		v, r, ok := parseUint(f, 10)
		if !ok || v > math.MaxUint32 {
			return rcEINVAL
		}
		if v != 0 { // Xen: 0 keeps the previous rate
			c.Baud = uint32(v)
		}
		rest = r
	}
	if strings.HasPrefix(rest, "/") {
		v, r, ok := parseUint(rest[1:], 0)
		if !ok || v == 0 || v > math.MaxUint32 {
			return rcEINVAL
		}
		c.BaseBaud, rest = uint32(v), r
	}
	if rest != "" {
		return rcEINVAL
	}
	return 0
}

func serialDPS(f string, c *SerialConfig) int {
	if len(f) != 3 || f[0] < '5' || f[0] > '8' || (f[2] != '1' && f[2] != '2') {
		return rcEINVAL
	}
	p := f[1]
	if !validParity(p) {
		return rcEINVAL
	}
	c.DataBits, c.Parity, c.StopBits = f[0]-'0', p, f[2]-'0'
	return 0
}

func validParity(p byte) bool {
	switch p {
	case 'n', 'o', 'e', 'm', 's':
		return true
	}
	return false
}

func serialIOBase(f string, c *SerialConfig) int {
	v, r, ok := parseUint(f, 0)
	if !ok || r != "" || v == 0 || v > 0xffff {
		return rcEINVAL // pci/amt and MMIO bases are not supported
	}
	c.IOBase = uint16(v)
	return 0
}

func serialIRQ(f string, c *SerialConfig) int {
	v, r, ok := parseUint(f, 10)
	if !ok || r != "" || v > 255 {
		return rcEINVAL // "msi" is PCI-only, not supported
	}
	c.IRQ = uint8(v)
	return 0
}

func serialNamed(f string, c *SerialConfig) int {
	name, v, ok := strings.Cut(f, "=")
	if !ok {
		return rcEINVAL // positional after name=value
	}
	switch name {
	case "baud":
		if v == "auto" {
			c.Baud = BaudAuto
			return 0
		}
		n, r, ok := parseUint(v, 10)
		if !ok || r != "" || n == 0 || n > math.MaxUint32 {
			return rcEINVAL
		}
		c.Baud = uint32(n)
	case "clock-hz":
		n, r, ok := parseUint(v, 0)
		if !ok || r != "" || n < 16 || n>>4 > math.MaxUint32 {
			return rcEINVAL
		}
		c.BaseBaud = uint32(n >> 4)
	case "data-bits":
		if len(v) != 1 || v[0] < '5' || v[0] > '8' {
			return rcEINVAL
		}
		c.DataBits = v[0] - '0'
	case "parity":
		if len(v) != 1 || !validParity(v[0]) {
			return rcEINVAL
		}
		c.Parity = v[0]
	case "stop-bits":
		if v != "1" && v != "2" {
			return rcEINVAL
		}
		c.StopBits = v[0] - '0'
	case "io-base":
		return serialIOBase(v, c)
	case "irq":
		return serialIRQ(v, c)
	default:
		// dev=, port=, bridge=, reg-shift=, reg-width=: PCI/MMIO UARTs.
		return rcEINVAL
	}
	return 0
}
