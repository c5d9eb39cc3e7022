package hypercall

import (
	"testing"

	"github.com/gohv/gohv/abi"
)

// pfOp returns a xen_platform_op for cmd with the current interface
// version and the union bytes u.
func pfOp(cmd uint32, u ...byte) []byte {
	b := make([]byte, platformOpSize)
	le.PutUint32(b, cmd)
	le.PutUint32(b[4:], abi.XENPF_INTERFACE_VERSION)
	copy(b[pfUnion:], u)
	return b
}

func u64le(v uint64) []byte { b := make([]byte, 8); le.PutUint64(b, v); return b }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestPlatformOpTable(t *testing.T) {
	w := newWorld(t)
	const pdc = bufVA + 0x800
	badVersion := pfOp(abi.XENPF_settime64)
	le.PutUint32(badVersion[4:], abi.XENPF_INTERFACE_VERSION-1)
	cases := []struct {
		name string
		dom  int
		op   []byte
		want uint64
		at   int    // offset in the op of out (when out != nil)
		out  []byte // expected bytes there afterwards
	}{
		{"wrong interface version", 0, badVersion, neg(abi.EACCES), 0, nil},
		{"unprivileged", 1, pfOp(abi.XENPF_get_cpuinfo), neg(abi.EPERM), 0, nil},
		{"settime64 mbz", 0, pfOp(abi.XENPF_settime64, cat(u64le(5), u32s(6, 1), u64le(7))...), neg(abi.EINVAL), 0, nil},
		{"settime64", 0, pfOp(abi.XENPF_settime64, cat(u64le(1_700_000_000), u32s(500, 0), u64le(3_000_000_000))...), 0, 0, nil},
		{"firmware disk info", 0, pfOp(abi.XENPF_firmware_info, u32s(abi.XEN_FW_DISK_INFO, 0)...), neg(abi.ESRCH), 0, nil},
		{"firmware MBR signature", 0, pfOp(abi.XENPF_firmware_info, u32s(abi.XEN_FW_DISK_MBR_SIGNATURE, 0)...), neg(abi.ESRCH), 0, nil},
		{"firmware EDID", 0, pfOp(abi.XENPF_firmware_info, u32s(abi.XEN_FW_VBEDDC_INFO, 0)...), neg(abi.ESRCH), 0, nil},
		{"firmware EFI", 0, pfOp(abi.XENPF_firmware_info, u32s(abi.XEN_FW_EFI_INFO, 0)...), neg(abi.ENOSYS), 0, nil},
		{"firmware kbd shift flags", 0, pfOp(abi.XENPF_firmware_info, cat(u32s(abi.XEN_FW_KBD_SHIFT_FLAGS, 0), []byte{0xaa, 0xbb})...), 0,
			pfFirmwareU, []byte{0, 0xbb}},
		{"firmware kbd index 1", 0, pfOp(abi.XENPF_firmware_info, u32s(abi.XEN_FW_KBD_SHIFT_FLAGS, 1)...), neg(abi.ESRCH), 0, nil},
		{"firmware unknown type", 0, pfOp(abi.XENPF_firmware_info, u32s(99, 0)...), neg(abi.EINVAL), 0, nil},
		{"get_cpuinfo 0", 0, pfOp(abi.XENPF_get_cpuinfo, u32s(0, 9, 9, 9, 9)...), 0,
			pfUnion, u32s(0, 0, abi.XEN_PCPU_FLAGS_ONLINE, 2, 1)},
		{"get_cpuinfo 5", 0, pfOp(abi.XENPF_get_cpuinfo, u32s(5, 9, 9, 9, 9)...), 0,
			pfUnion, u32s(5, 0, abi.XEN_PCPU_FLAGS_INVALID, 9, 9)},
		{"enter_acpi_sleep S3", 0, pfOp(abi.XENPF_enter_acpi_sleep, cat([]byte{0, 0, 0, 0}, u32s(3, 0))...), neg(abi.EOPNOTSUPP), 0, nil},
		{"enter_acpi_sleep S5 (the fake does not power off)", 0, pfOp(abi.XENPF_enter_acpi_sleep, cat([]byte{0, 0x34, 0, 0}, u32s(5, 0))...), neg(abi.EIO), 0, nil},
		{"enter_acpi_sleep S5 pm1a/pm1b mismatch", 0, pfOp(abi.XENPF_enter_acpi_sleep, cat([]byte{0, 0x34, 0, 0x14}, u32s(5, 0))...), neg(abi.EINVAL), 0, nil},
		{"enter_acpi_sleep S5 flags", 0, pfOp(abi.XENPF_enter_acpi_sleep, cat([]byte{0, 0x34, 0, 0}, u32s(5, 2))...), neg(abi.EINVAL), 0, nil},
		{"enter_acpi_sleep S4", 0, pfOp(abi.XENPF_enter_acpi_sleep, cat([]byte{0, 0x34, 0, 0}, u32s(4, 0))...), neg(abi.EINVAL), 0, nil},
		{"enter_acpi_sleep extended", 0, pfOp(abi.XENPF_enter_acpi_sleep, cat([]byte{5, 0, 0, 0}, u32s(5, abi.XENPF_ACPI_SLEEP_EXTENDED))...), neg(abi.EPERM), 0, nil},
		{"pminfo PX", 0, pfOp(abi.XENPF_set_processor_pminfo, u32s(0, abi.XEN_PM_PX)...), neg(abi.ENOSYS), 0, nil},
		{"pminfo CX", 0, pfOp(abi.XENPF_set_processor_pminfo, u32s(0, abi.XEN_PM_CX)...), neg(abi.ENOSYS), 0, nil},
		{"pminfo TX", 0, pfOp(abi.XENPF_set_processor_pminfo, u32s(0, abi.XEN_PM_TX)...), neg(abi.ENOSYS), 0, nil},
		{"pminfo bad type", 0, pfOp(abi.XENPF_set_processor_pminfo, u32s(0, 7)...), neg(abi.EINVAL), 0, nil},
		{"pminfo PDC unknown ACPI id", 0, pfOp(abi.XENPF_set_processor_pminfo, cat(u32s(7, abi.XEN_PM_PDC), u64le(pdc))...), neg(abi.EINVAL), 0, nil},
		{"pminfo PDC bad pointer", 0, pfOp(abi.XENPF_set_processor_pminfo, cat(u32s(1, abi.XEN_PM_PDC), u64le(badVA))...), neg(abi.EFAULT), 0, nil},
		{"pminfo PDC", 0, pfOp(abi.XENPF_set_processor_pminfo, cat(u32s(1, abi.XEN_PM_PDC), u64le(pdc))...), 0, 0, nil},
		{"microcode (not offered)", 0, pfOp(abi.XENPF_microcode_update), neg(abi.ENOSYS), 0, nil},
	}
	w.guests[0].put(pdc, u32s(1, 1, 0xffff))
	for _, c := range cases {
		g := w.guests[c.dom]
		g.put(bufVA, c.op)
		checkRet(t, c.name, w.call(c.dom, abi.HYPERVISOR_platform_op, bufVA), c.want)
		if c.out != nil {
			if got := g.get(bufVA+uint64(c.at), len(c.out)); string(got) != string(c.out) {
				t.Fatalf("%s: % x, want % x", c.name, got, c.out)
			}
		}
	}
	if p := w.plat; p.sets != 1 || p.secs != 1_700_000_000 || p.nsecs != 500 || p.sys != 3_000_000_000 {
		t.Fatalf("wall clock %+v", p)
	}
	// _PDC: the capabilities Xen leaves the domain with no PM driver.
	if got := w.guests[0].get32(pdc + 8); got != pdcCMask|pdcPMask|pdcTMask|pdcSMPC1PT {
		t.Fatalf("PDC capabilities %#x", got)
	}
	w.guests[0].put(pdc, u32s(2, 1, 0xffff))
	w.guests[0].put(bufVA, pfOp(abi.XENPF_set_processor_pminfo, cat(u32s(1, abi.XEN_PM_PDC), u64le(pdc))...))
	checkRet(t, "PDC revision 2", w.call(0, abi.HYPERVISOR_platform_op, bufVA), neg(abi.EINVAL))
	// settime32 and the version check come before anything else.
	w.guests[0].put(bufVA, pfOp(abi.XENPF_settime32, cat(u32s(10, 20), u64le(30))...))
	checkRet(t, "settime32", w.call(0, abi.HYPERVISOR_platform_op, bufVA), 0)
	if p := w.plat; p.secs != 10 || p.nsecs != 20 || p.sys != 30 {
		t.Fatalf("settime32 %+v", p)
	}
	checkRet(t, "bad pointer", w.call(0, abi.HYPERVISOR_platform_op, badVA), neg(abi.EFAULT))
	checkRet(t, "structure crosses into unmapped memory", w.call(0, abi.HYPERVISOR_platform_op, bufEnd-64), neg(abi.EFAULT))
	// Only the structure (and the named _PDC buffer) is written.
	for a := range w.guests[0].writes {
		if a < bufVA || a >= bufVA+platformOpSize && (a < pdc || a >= pdc+12) {
			t.Fatalf("platform_op wrote guest byte %#x", a)
		}
	}
	// Without a Platform: -ENOSYS after the checks.
	w.d = New(Config{})
	w.guests[0].put(bufVA, pfOp(abi.XENPF_get_cpuinfo))
	checkRet(t, "no platform", w.call(0, abi.HYPERVISOR_platform_op, bufVA), neg(abi.ENOSYS))
}
