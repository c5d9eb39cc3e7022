package boot

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const (
	kib = uint64(1) << 10
	mib = uint64(1) << 20
	gib = uint64(1) << 30
)

func inval(key, val string, rc int) string {
	return `parameter "` + key + `" has invalid value "` + val + `", rc=` + itoa(rc) + `!`
}

func itoa(n int) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		s = "-" + s
	}
	return s
}

func TestParseCmdline(t *testing.T) {
	def := DefaultOptions()
	with := func(f func(o *Options)) Options {
		o := DefaultOptions()
		f(&o)
		return o
	}
	amt := func(b uint64) MemSize { return MemSize{Set: true, Bytes: b} }
	tests := []struct {
		name string
		in   string
		want Options
		warn []string
	}{
		{"empty", "", def, nil},
		{"spaces only", "  \t  ", def, nil},
		{"dom0_mem plain", "dom0_mem=256M", with(func(o *Options) { o.Dom0Mem.Amount = amt(256 * mib) }), nil},
		{"dom0_mem default unit KiB", "dom0_mem=1024", with(func(o *Options) { o.Dom0Mem.Amount = amt(mib) }), nil},
		{"dom0_mem hex", "dom0_mem=0x400M", with(func(o *Options) { o.Dom0Mem.Amount = amt(gib) }), nil},
		// 'b' is a hex digit, so this is 0x100000b KiB (as in Xen).
		{"dom0_mem hex eats b", "dom0_mem=0x100000b", with(func(o *Options) { o.Dom0Mem.Amount = amt(0x100000b * kib &^ 4095) }), nil},
		{"dom0_mem octal KiB", "dom0_mem=010", with(func(o *Options) { o.Dom0Mem.Amount = amt(8 * kib) }), nil},
		{"dom0_mem rounds to pages", "dom0_mem=4097B", with(func(o *Options) { o.Dom0Mem.Amount = amt(4096) }), nil},
		{"dom0_mem lower case T", "dom0_mem=1t", with(func(o *Options) { o.Dom0Mem.Amount = amt(1 << 40) }), nil},
		{"dom0_mem largest T", "dom0_mem=16777215T", with(func(o *Options) { o.Dom0Mem.Amount = amt(16777215 << 40) }), nil},
		{"dom0_mem T overflow", "dom0_mem=16777216T", def, []string{inval("dom0_mem", "16777216T", rcERANGE)}},
		{"dom0_mem digits overflow", "dom0_mem=99999999999999999999B", def, []string{inval("dom0_mem", "99999999999999999999B", rcERANGE)}},
		{"dom0_mem min max amount", "dom0_mem=min:128M,max:1G,512M", with(func(o *Options) {
			o.Dom0Mem = Dom0Mem{Min: amt(128 * mib), Max: amt(gib), Amount: amt(512 * mib)}
		}), nil},
		{"dom0_mem amount then max", "dom0_mem=512M,max:1G", with(func(o *Options) {
			o.Dom0Mem = Dom0Mem{Max: amt(gib), Amount: amt(512 * mib)}
		}), nil},
		{"dom0_mem negative", "dom0_mem=-1G", with(func(o *Options) {
			o.Dom0Mem.Amount = MemSize{Set: true, Minus: true, Bytes: gib}
		}), nil},
		{"dom0_mem size plus percent", "dom0_mem=1G+25%", with(func(o *Options) {
			o.Dom0Mem.Amount = MemSize{Set: true, Bytes: gib, Percent: 25}
		}), nil},
		{"dom0_mem percent 99", "dom0_mem=max:99%", with(func(o *Options) {
			o.Dom0Mem.Max = MemSize{Set: true, Percent: 99}
		}), nil},
		{"dom0_mem percent 100", "dom0_mem=100%", def, []string{inval("dom0_mem", "100%", rcEINVAL)}},
		{"dom0_mem percent then size", "dom0_mem=25%+1G", def, []string{inval("dom0_mem", "25%+1G", rcEINVAL)}},
		{"dom0_mem two sizes", "dom0_mem=1G+2G", def, []string{inval("dom0_mem", "1G+2G", rcEINVAL)}},
		{"dom0_mem bad unit", "dom0_mem=12Q", def, []string{inval("dom0_mem", "12Q", rcEINVAL)}},
		{"dom0_mem empty", "dom0_mem=", def, []string{inval("dom0_mem", "", rcEINVAL)}},
		{"dom0_mem trailing comma", "dom0_mem=1G,", def, []string{inval("dom0_mem", "1G,", rcEINVAL)}},
		{"dom0_mem bad second item keeps all", "dom0_mem=min:1G,foo", def, []string{inval("dom0_mem", "min:1G,foo", rcEINVAL)}},
		{"dom0_mem no- prefix", "no-dom0_mem", def, []string{inval("no-dom0_mem", "no", rcEINVAL)}},
		{"dom0_mem no- prefix with value", "no-dom0_mem=1G", def, []string{inval("no-dom0_mem", "1G", rcEINVAL)}},
		{"dom0_mem twice merges fields", "dom0_mem=min:1G dom0_mem=512M", with(func(o *Options) {
			o.Dom0Mem = Dom0Mem{Min: amt(gib), Amount: amt(512 * mib)}
		}), nil},

		{"vcpus n", "dom0_max_vcpus=4", with(func(o *Options) { o.Dom0MaxVCPUs = VCPURange{4, 4} }), nil},
		{"vcpus range", "dom0_max_vcpus=4-8", with(func(o *Options) { o.Dom0MaxVCPUs = VCPURange{4, 8} }), nil},
		{"vcpus open max", "dom0_max_vcpus=4-", with(func(o *Options) { o.Dom0MaxVCPUs = VCPURange{4, math.MaxUint32} }), nil},
		{"vcpus only max", "dom0_max_vcpus=-8", with(func(o *Options) { o.Dom0MaxVCPUs = VCPURange{1, 8} }), nil},
		{"vcpus zero means one", "dom0_max_vcpus=0", with(func(o *Options) { o.Dom0MaxVCPUs = VCPURange{1, 1} }), nil},
		{"vcpus max zero", "dom0_max_vcpus=-0", def, []string{inval("dom0_max_vcpus", "-0", rcEINVAL)}},
		{"vcpus garbage", "dom0_max_vcpus=x", def, []string{inval("dom0_max_vcpus", "x", rcEINVAL)}},
		{"vcpus trailing garbage", "dom0_max_vcpus=4-8x", def, []string{inval("dom0_max_vcpus", "4-8x", rcEINVAL)}},
		{"vcpus too big", "dom0_max_vcpus=4294967296", def, []string{inval("dom0_max_vcpus", "4294967296", rcEINVAL)}},
		{"vcpus largest", "dom0_max_vcpus=4294967295", with(func(o *Options) {
			o.Dom0MaxVCPUs = VCPURange{math.MaxUint32, math.MaxUint32}
		}), nil},

		{"bool bare", "noreboot", with(func(o *Options) { o.NoReboot = true }), nil},
		{"bool =1", "noreboot=1", with(func(o *Options) { o.NoReboot = true }), nil},
		{"bool =enable", "sync_console=enable", with(func(o *Options) { o.SyncConsole = true }), nil},
		{"bool =off", "noreboot=1 noreboot=off", def, nil},
		{"bool no- prefix", "sync_console no-sync_console", def, nil},
		{"bool no- with 0", "no-dom0_vcpus_pin=0", with(func(o *Options) { o.Dom0VCPUsPin = true }), nil},
		{"bool no- with yes", "dom0_vcpus_pin no-dom0_vcpus_pin=yes", def, nil},
		{"bool bad", "noreboot=maybe", def, []string{inval("noreboot", "maybe", rcEINVAL)}},
		{"bool empty value is bare", "noreboot=", with(func(o *Options) { o.NoReboot = true }), nil},
		{"bool no- empty value", "noreboot no-noreboot=", def, nil},

		{"console list", "console=com2,vga", with(func(o *Options) { o.Console = []string{"com2", "vga"} }), nil},
		{"console H/L", "console=com1H,com2L,dbgp", with(func(o *Options) { o.Console = []string{"com1H", "com2L", "dbgp"} }), nil},
		{"console none", "console=none", with(func(o *Options) { o.Console = []string{"none"} }), nil},
		{"console bad item", "console=com1,com9", with(func(o *Options) { o.Console = []string{"com1"} }),
			[]string{"Bad console= option 'com9'"}},
		{"console empty", "console=", with(func(o *Options) { o.Console = nil }), []string{"Bad console= option ''"}},
		{"console no-", "no-console", def, []string{inval("no-console", "no", rcEINVAL)}},

		{"com1 typical", "com1=115200,8n1", def, nil},
		{"com1 all positional", "com1=9600/1843200,7e2,0x3e8,5", with(func(o *Options) {
			o.Com1 = SerialConfig{Baud: 9600, BaseBaud: 1843200, DataBits: 7, Parity: 'e', StopBits: 2, IOBase: 0x3e8, IRQ: 5}
		}), nil},
		{"com1 auto", "com1=auto", with(func(o *Options) { o.Com1.Baud = BaudAuto }), nil},
		{"com1 auto with base", "com1=auto/57600", with(func(o *Options) { o.Com1.Baud, o.Com1.BaseBaud = BaudAuto, 57600 }), nil},
		{"com1 skip fields", "com1=,,0x2e8", with(func(o *Options) { o.Com1.IOBase = 0x2e8 }), nil},
		{"com1 zero baud keeps", "com1=0,8o1", with(func(o *Options) { o.Com1.Parity = 'o' }), nil},
		{"com1 poll irq", "com1=115200,8n1,0x3f8,0", with(func(o *Options) { o.Com1.IRQ = 0 }), nil},
		{"com1 named", "com1=baud=57600,parity=m,stop-bits=2,io-base=0x3f8,data-bits=5,irq=0,clock-hz=1843200",
			with(func(o *Options) {
				o.Com1 = SerialConfig{Baud: 57600, BaseBaud: 115200, DataBits: 5, Parity: 'm', StopBits: 2, IOBase: 0x3f8, IRQ: 0}
			}), nil},
		{"com1 positional then named", "com1=19200,8s1,irq=3", with(func(o *Options) {
			o.Com1.Baud, o.Com1.Parity, o.Com1.IRQ = 19200, 's', 3
		}), nil},
		{"com2 defaults kept", "com2=38400", with(func(o *Options) { o.Com2.Baud = 38400 }), nil},
		{"com1 bad parity", "com1=115200,8x1", def, []string{inval("com1", "115200,8x1", rcEINVAL)}},
		{"com1 bad data bits", "com1=115200,9n1", def, []string{inval("com1", "115200,9n1", rcEINVAL)}},
		{"com1 bad stop bits", "com1=115200,8n3", def, []string{inval("com1", "115200,8n3", rcEINVAL)}},
		{"com1 io too big", "com1=115200,8n1,0x10000", def, []string{inval("com1", "115200,8n1,0x10000", rcEINVAL)}},
		{"com1 irq too big", "com1=115200,8n1,0x3f8,256", def, []string{inval("com1", "115200,8n1,0x3f8,256", rcEINVAL)}},
		{"com1 pci", "com1=115200,8n1,pci", def, []string{inval("com1", "115200,8n1,pci", rcEINVAL)}},
		{"com1 msi", "com1=115200,8n1,0x3f8,msi", def, []string{inval("com1", "115200,8n1,0x3f8,msi", rcEINVAL)}},
		{"com1 bdf", "com1=115200,8n1,0x3f8,4,00:1f.0", def, []string{inval("com1", "115200,8n1,0x3f8,4,00:1f.0", rcEINVAL)}},
		{"com1 reg-width", "com1=115200,reg-width=4", def, []string{inval("com1", "115200,reg-width=4", rcEINVAL)}},
		{"com1 positional after named", "com1=baud=9600,8n1", def, []string{inval("com1", "baud=9600,8n1", rcEINVAL)}},
		{"com1 bad baud", "com1=fast", def, []string{inval("com1", "fast", rcEINVAL)}},
		{"com1 named baud=auto", "com1=baud=auto", with(func(o *Options) { o.Com1.Baud = BaudAuto }), nil},
		{"com1 named baud=0", "com1=baud=0", def, []string{inval("com1", "baud=0", rcEINVAL)}},
		{"com1 named baud=9x", "com1=baud=9x", def, []string{inval("com1", "baud=9x", rcEINVAL)}},
		{"com1 named clock-hz=15", "com1=clock-hz=15", def, []string{inval("com1", "clock-hz=15", rcEINVAL)}},
		{"com1 named clock-hz=x", "com1=clock-hz=x", def, []string{inval("com1", "clock-hz=x", rcEINVAL)}},
		{"com1 named data-bits=9", "com1=data-bits=9", def, []string{inval("com1", "data-bits=9", rcEINVAL)}},
		{"com1 named data-bits=", "com1=data-bits=", def, []string{inval("com1", "data-bits=", rcEINVAL)}},
		{"com1 named parity=x", "com1=parity=x", def, []string{inval("com1", "parity=x", rcEINVAL)}},
		{"com1 named parity=nn", "com1=parity=nn", def, []string{inval("com1", "parity=nn", rcEINVAL)}},
		{"com1 named stop-bits=3", "com1=stop-bits=3", def, []string{inval("com1", "stop-bits=3", rcEINVAL)}},
		{"com1 named io-base=0", "com1=io-base=0", def, []string{inval("com1", "io-base=0", rcEINVAL)}},
		{"com1 named irq=x", "com1=irq=x", def, []string{inval("com1", "irq=x", rcEINVAL)}},
		{"com1 named dev=pci", "com1=dev=pci", def, []string{inval("com1", "dev=pci", rcEINVAL)}},
		{"com1 named baud", "com1=baud", def, []string{inval("com1", "baud", rcEINVAL)}},
		{"com1 zero base", "com1=9600/0", def, []string{inval("com1", "9600/0", rcEINVAL)}},

		{"loglvl all", "loglvl=all", with(func(o *Options) { o.LogLevel = LogLevel{4, 4} }), nil},
		{"loglvl pair", "loglvl=info/debug", with(func(o *Options) { o.LogLevel = LogLevel{3, 4} }), nil},
		{"loglvl upper raised", "loglvl=debug/error", with(func(o *Options) { o.LogLevel = LogLevel{4, 4} }), nil},
		{"guest_loglvl", "guest_loglvl=error/all", with(func(o *Options) { o.GuestLogLevel = LogLevel{1, 4} }), nil},
		{"loglvl bad", "loglvl=loud", def, []string{inval("loglvl", "loud", rcEINVAL)}},
		{"loglvl trailing", "loglvl=all/", def, []string{inval("loglvl", "all/", rcEINVAL)}},
		{"loglvl suffix", "loglvl=warningx", def, []string{inval("loglvl", "warningx", rcEINVAL)}},

		{"selftest bare", "selftest", with(func(o *Options) { o.SelfTest = "all" }), nil},
		{"nosmp", "nosmp", with(func(o *Options) { o.NoSMP = true }), nil},
		{"maxcpus", "maxcpus=2", with(func(o *Options) { o.MaxCPUs = 2 }), nil},
		{"maxcpus hex", "maxcpus=0x3", with(func(o *Options) { o.MaxCPUs = 3 }), nil},
		{"maxcpus garbage", "maxcpus=2x", def, []string{inval("maxcpus", "2x", rcEINVAL)}},
		{"selftest empty", "selftest=", with(func(o *Options) { o.SelfTest = "all" }), nil},
		{"selftest named", "selftest=fault", with(func(o *Options) { o.SelfTest = "fault" }), nil},
		{"selftest off", "selftest=panic no-selftest", def, nil},
		{"selftest bad", "selftest=a/b", def, []string{inval("selftest", "a/b", rcEINVAL)}},

		{"placeholder ignored", "placeholder dom0_mem=1G", with(func(o *Options) { o.Dom0Mem.Amount = amt(gib) }), nil},
		{"unknown", "foo", def, []string{`parameter "foo" unknown!`}},
		{"unknown with value", "iommu=0", def, []string{`parameter "iommu" unknown!`}},
		{"unknown no-", "no-foo=1", def, []string{`parameter "no-foo" unknown!`}},
		{"prefix is not a match", "noreboots", def, []string{`parameter "noreboots" unknown!`}},
		{"case sensitive", "NOREBOOT", def, []string{`parameter "NOREBOOT" unknown!`}},
		{"quotes are literal", `console="com1"`, with(func(o *Options) { o.Console = nil }), []string{`Bad console= option '"com1"'`}},
		{"tabs and runs of spaces", "  noreboot\t\tsync_console   dom0_vcpus_pin\t", with(func(o *Options) {
			o.NoReboot, o.SyncConsole, o.Dom0VCPUsPin = true, true, true
		}), nil},
		{"several warnings keep going", "a dom0_mem=x noreboot b", with(func(o *Options) { o.NoReboot = true }), []string{
			`parameter "a" unknown!`, inval("dom0_mem", "x", rcEINVAL), `parameter "b" unknown!`}},
		{"boot.cfg line", "dom0_mem=256M console=com1 com1=115200,8n1", with(func(o *Options) {
			o.Dom0Mem.Amount = amt(256 * mib)
			o.Console = []string{"com1"}
		}), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warn := ParseCmdline(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCmdline(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
			if !reflect.DeepEqual(warn, tc.warn) {
				t.Errorf("ParseCmdline(%q) warnings\n got %q\nwant %q", tc.in, warn, tc.warn)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc ~": "abc ~", "a\nb": `a\x0ab`, "\x1b[2J": `\x1b[2J`, "é": `\xc3\xa9`, "\x7f": `\x7f`} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	_, warn := ParseCmdline("console=com1,\r\x1b x\ny")
	want := []string{`Bad console= option '\x0d\x1b'`, `parameter "x\x0ay" unknown!`}
	if !reflect.DeepEqual(warn, want) {
		t.Errorf("got %q, want %q", warn, want)
	}
}

func TestParseCmdlineTruncatesLongWord(t *testing.T) {
	// Xen copies each word into char opt[128]: 127 bytes are kept.
	val := strings.Repeat("9", 200)
	_, warn := ParseCmdline("dom0_mem=" + val)
	want := inval("dom0_mem", val[:maxOptLen-len("dom0_mem=")], rcERANGE)
	if len(warn) != 1 || warn[0] != want {
		t.Fatalf("got %q, want %q", warn, want)
	}
	_, warn = ParseCmdline(strings.Repeat("x", 300))
	if len(warn) != 1 || warn[0] != `parameter "`+strings.Repeat("x", maxOptLen)+`" unknown!` {
		t.Fatalf("got %q", warn)
	}
}

func TestDom0MemCompute(t *testing.T) {
	set := func(b uint64) MemSize { return MemSize{Set: true, Bytes: b} }
	tests := []struct {
		name        string
		d           Dom0Mem
		avail       uint64
		amount, max uint64
	}{
		{"default small host: 1/16th kept", Dom0Mem{}, gib, gib - 64*mib, math.MaxUint64},
		{"default big host: 128M kept", Dom0Mem{}, 4 * gib, 4*gib - 128*mib, math.MaxUint64},
		{"default no memory", Dom0Mem{}, 0, 0, math.MaxUint64},
		{"amount", Dom0Mem{Amount: set(512 * mib)}, 4 * gib, 512 * mib, math.MaxUint64},
		{"amount above avail", Dom0Mem{Amount: set(8 * gib)}, 4 * gib, 4 * gib, math.MaxUint64},
		{"zero amount means default", Dom0Mem{Amount: set(0)}, gib, gib - 64*mib, math.MaxUint64},
		{"amount and max", Dom0Mem{Amount: set(512 * mib), Max: set(gib)}, 4 * gib, 512 * mib, gib},
		{"max clips default", Dom0Mem{Max: set(gib)}, 4 * gib, gib, gib},
		{"min raises amount", Dom0Mem{Amount: set(256 * mib), Min: set(gib)}, 4 * gib, gib, math.MaxUint64},
		{"max beats min", Dom0Mem{Min: set(2 * gib), Max: set(gib)}, 4 * gib, gib, gib},
		{"min above avail", Dom0Mem{Min: set(2 * gib)}, gib, gib, math.MaxUint64},
		{"all but", Dom0Mem{Amount: MemSize{Set: true, Minus: true, Bytes: gib}}, 4 * gib, 3 * gib, math.MaxUint64},
		{"all but more than avail: default", Dom0Mem{Amount: MemSize{Set: true, Minus: true, Bytes: 8 * gib}}, 4 * gib, 4*gib - 128*mib, math.MaxUint64},
		{"percent", Dom0Mem{Amount: MemSize{Set: true, Percent: 25}}, 4 * gib, gib, math.MaxUint64},
		{"size plus percent", Dom0Mem{Amount: MemSize{Set: true, Bytes: gib, Percent: 25}}, 256 * gib, 65 * gib, math.MaxUint64},
		{"max all but", Dom0Mem{Max: MemSize{Set: true, Minus: true, Bytes: gib}}, 4 * gib, 3 * gib, 3 * gib},
		{"page aligned result", Dom0Mem{Amount: MemSize{Set: true, Percent: 33}}, 4*gib + 4096, (4*gib + 4096) / 100 * 33 &^ 4095, math.MaxUint64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, m := tc.d.Compute(tc.avail)
			if a != tc.amount || m != tc.max {
				t.Errorf("Compute(%d) = %d, %d; want %d, %d", tc.avail, a, m, tc.amount, tc.max)
			}
		})
	}
}

func TestDom0MemClipLine(t *testing.T) {
	set := func(b uint64) MemSize { return MemSize{Set: true, Bytes: b} }
	for _, tc := range []struct {
		name  string
		d     Dom0Mem
		avail uint64
		want  string
	}{
		{"no amount", Dom0Mem{}, gib, ""},
		{"no amount, max clips the default", Dom0Mem{Max: set(256 * mib)}, gib, ""},
		{"zero amount", Dom0Mem{Amount: set(0)}, gib, ""},
		{"amount given", Dom0Mem{Amount: set(512 * mib)}, gib, ""},
		{"amount is avail", Dom0Mem{Amount: set(gib)}, gib, ""},
		{"above avail", Dom0Mem{Amount: set(4 * gib)}, 438*mib + 688*1024,
			"Dom0 memory clipped to 112300 pages (dom0_mem asks 4096 MiB; 438 MiB free for domains)"},
		{"above max", Dom0Mem{Amount: set(gib), Max: set(512 * mib)}, 4 * gib,
			"Dom0 memory clipped to 131072 pages (dom0_mem asks 1024 MiB; max: 512 MiB)"},
		{"below min", Dom0Mem{Amount: set(64 * mib), Min: set(128 * mib)}, 4 * gib,
			"Dom0 memory clipped to 32768 pages (dom0_mem asks 64 MiB; min: 128 MiB)"},
		{"min above avail", Dom0Mem{Amount: set(64 * mib), Min: set(2 * gib)}, gib,
			"Dom0 memory clipped to 262144 pages (dom0_mem asks 64 MiB; 1024 MiB free for domains)"},
		{"percent above max", Dom0Mem{Amount: MemSize{Set: true, Percent: 50}, Max: set(gib)}, 4 * gib,
			"Dom0 memory clipped to 262144 pages (dom0_mem asks 2048 MiB; max: 1024 MiB)"},
		{"all but, within", Dom0Mem{Amount: MemSize{Set: true, Minus: true, Bytes: gib}}, 4 * gib, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.ClipLine(tc.avail); got != tc.want {
				t.Errorf("ClipLine(%d) = %q, want %q", tc.avail, got, tc.want)
			}
			// The line's page count is Compute's amount.
			if a, _ := tc.d.Compute(tc.avail); tc.want != "" && !strings.HasPrefix(tc.want, fmt.Sprintf("Dom0 memory clipped to %d pages ", a/pageSize)) {
				t.Errorf("Compute gives %d pages, the line says %q", a/pageSize, tc.want)
			}
		})
	}
}

func TestMemSizeString(t *testing.T) {
	for _, tc := range []struct {
		m    MemSize
		want string
	}{
		{MemSize{}, "unset"},
		{MemSize{Set: true}, "0K"},
		{MemSize{Set: true, Bytes: mib}, "1024K"},
		{MemSize{Set: true, Minus: true, Bytes: mib, Percent: 5}, "-1024K+5%"},
		{MemSize{Set: true, Percent: 50}, "50%"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.m, got, tc.want)
		}
	}
}

func TestVCPURangeClamp(t *testing.T) {
	r := VCPURange{4, 8}
	for _, tc := range []struct{ pcpus, want uint32 }{{0, 4}, {2, 4}, {4, 4}, {6, 6}, {8, 8}, {10, 8}} {
		if got := r.Clamp(tc.pcpus); got != tc.want {
			t.Errorf("Clamp(%d) = %d, want %d", tc.pcpus, got, tc.want)
		}
	}
	if got := DefaultOptions().Dom0MaxVCPUs.Clamp(12); got != 12 {
		t.Errorf("default Clamp(12) = %d", got)
	}
}

func TestLogLevelLines(t *testing.T) {
	o := DefaultOptions()
	want := []string{"Std. Loglevel: Errors and warnings", "Guest Loglevel: Nothing (Rate-limited: Errors and warnings)"}
	if got := o.LogLevelLines(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	o, _ = ParseCmdline("loglvl=all guest_loglvl=info/debug")
	want = []string{"Std. Loglevel: All", "Guest Loglevel: Errors, warnings and info (Rate-limited: All)"}
	if got := o.LogLevelLines(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if loglvlStr(1) != "Errors" || loglvlStr(9) != "???" {
		t.Error("loglvlStr")
	}
}

func TestCookCmdline(t *testing.T) {
	tests := []struct {
		raw, loader string
		pvh         bool
		xen, dom0   string
	}{
		{"/gohv.gz dom0_mem=256M", "GNU GRUB 0.97", false, "dom0_mem=256M", ""},
		{"dom0_mem=256M", "GRUB 2.06", false, "dom0_mem=256M", ""},
		{"  dom0_mem=256M", "GRUB 2.06-13+deb12u1", false, "dom0_mem=256M", ""},
		{"/boot/gohv console=com1", "qemu", false, "console=com1", ""},
		{"/boot/gohv console=com1", "unknown", false, "console=com1", ""},
		{"  /gohv   a  b", "NetBSD/x86 BIOS Boot", false, "a  b", ""},
		{"/gohv", "unknown", false, "", ""},
		{"", "unknown", false, "", ""},
		{"/gohv a -- root=/dev/sda  ro", "unknown", false, "a", "root=/dev/sda  ro"},
		{"a --   quiet", "GRUB 2.06", false, "a", "quiet"},
		{"a --x b", "GRUB 2.06", false, "a --x b", ""},
		{"a b", "PVH Directboot", true, "a b", ""},
		{"/x a", "GRUB ", false, "/x a", ""},
		{"/x a", "GRUB 0.97", false, "a", ""},
	}
	for _, tc := range tests {
		xen, dom0 := CookCmdline(tc.raw, tc.loader, tc.pvh)
		if xen != tc.xen || dom0 != tc.dom0 {
			t.Errorf("CookCmdline(%q, %q, %v) = %q, %q; want %q, %q", tc.raw, tc.loader, tc.pvh, xen, dom0, tc.xen, tc.dom0)
		}
	}
	for in, want := range map[string]string{"": "", "x": "", "  x  y z": "y z", "/a\tb c": "c"} {
		if got := StripImageName(in); got != want {
			t.Errorf("StripImageName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCookDom0Cmdline(t *testing.T) {
	for _, tc := range []struct {
		raw, loader string
		pvh         bool
		want        string
	}{
		// GRUB 2's module2 and module pass the arguments only.
		{"console=hvc0 gohv.task=shell", "GRUB 2.06-13+deb12u2", false, "console=hvc0 gohv.task=shell"},
		{"  console=hvc0", "GRUB 2.12", false, "console=hvc0"},
		{"", "GRUB 2.06", false, ""},
		// QEMU's -initrd and GRUB 1 put the file name first.
		{"/root/vmlinuz console=hvc0 earlyprintk=xen", "qemu", false, "console=hvc0 earlyprintk=xen"},
		{"/boot/vmlinuz  ro", "GNU GRUB 0.97", false, "ro"},
		{"/boot/vmlinuz", "qemu", false, ""},
		{"console=hvc0", "PVH Directboot", true, "console=hvc0"},
		// " -- " in a module's line is dom0's own text, not a split.
		{"/k a -- b", "qemu", false, "a -- b"},
	} {
		if got := CookDom0Cmdline(tc.raw, tc.loader, tc.pvh); got != tc.want {
			t.Errorf("CookDom0Cmdline(%q, %q, %v) = %q, want %q", tc.raw, tc.loader, tc.pvh, got, tc.want)
		}
	}
}

var warnRE = regexp.MustCompile(`^(parameter "[!-~]*" unknown!|parameter "[!-<>-~]*" has invalid value "[!-~]*", rc=-(22|34)!|Bad console= option '[!-+--~]*')$`)

func FuzzParseCmdline(f *testing.F) {
	for _, s := range []string{
		"", "dom0_mem=256M console=com1 com1=115200,8n1",
		"dom0_mem=min:128M,max:-1G,1G+25% dom0_max_vcpus=2-4 dom0_vcpus_pin",
		"loglvl=all/debug guest_loglvl=none/warning noreboot sync_console selftest=fault",
		"com2=auto/115200,7e2,0x2f8,3,irq=4 console=com2H,vga,bad no-noreboot=0 placeholder",
		"no-dom0_mem=1 dom0_mem=100% x\ty",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, warn := ParseCmdline(s)
		for _, w := range warn {
			if !warnRE.MatchString(w) {
				t.Errorf("malformed warning %q", w)
			}
		}
		if o.Dom0MaxVCPUs.Min < 1 || o.Dom0MaxVCPUs.Max < 1 {
			t.Errorf("bad vCPU range %+v", o.Dom0MaxVCPUs)
		}
		for _, l := range []LogLevel{o.LogLevel, o.GuestLogLevel} {
			if l.Lower < 0 || l.Upper > 4 || l.Lower > l.Upper {
				t.Errorf("bad log level %+v", l)
			}
		}
		for _, c := range []SerialConfig{o.Com1, o.Com2} {
			if c.DataBits < 5 || c.DataBits > 8 || c.StopBits < 1 || c.StopBits > 2 || !validParity(c.Parity) || c.IOBase == 0 || c.BaseBaud == 0 {
				t.Errorf("bad serial config %+v", c)
			}
		}
		for _, m := range []MemSize{o.Dom0Mem.Min, o.Dom0Mem.Max, o.Dom0Mem.Amount} {
			if m.Percent > 99 || m.Bytes%pageSize != 0 {
				t.Errorf("bad MemSize %+v", m)
			}
		}
		for _, c := range o.Console {
			if _, bad := parseConsole(c); bad != nil {
				t.Errorf("console item %q kept", c)
			}
		}
		// The same input always gives the same result.
		o2, warn2 := ParseCmdline(s)
		if !reflect.DeepEqual(o, o2) || !reflect.DeepEqual(warn, warn2) {
			t.Error("not deterministic")
		}
		_, _ = o.Dom0Mem.Compute(uint64(len(s)) << 30)
		_, _ = CookCmdline(s, s, false)
	})
}
