package hypercall

import (
	"github.com/gohv/gohv/abi"
)

// platform_op (7): (xen_platform_op_t *op), after Xen 4.17's
// xen/arch/x86/platform_hypercall.c do_platform_op: the whole 136-byte
// structure is copied in (-EFAULT), its interface_version must be
// XENPF_INTERFACE_VERSION (-EACCES), the caller must be privileged (the
// dummy XSM policy's XSM_PRIV: -EPERM), then the command runs and writes
// its OUT fields back into the guest's structure. Commands gohv does not
// implement are -ENOSYS.

// Layout of struct xen_platform_op and the union members used here
// (platform.h; abi.XenPlatformOp and the Xenpf* types hold the layout).
const (
	platformOpSize = 136
	pfUnion        = 8 // u

	// xenpf_settime32 and xenpf_settime64.
	pfSettime32Secs   = pfUnion + 0
	pfSettime32Nsecs  = pfUnion + 4
	pfSettime32System = pfUnion + 8
	pfSettime64Secs   = pfUnion + 0
	pfSettime64Nsecs  = pfUnion + 8
	pfSettime64Mbz    = pfUnion + 12
	pfSettime64System = pfUnion + 16

	// xenpf_firmware_info: type, index, u.
	pfFirmwareType  = pfUnion + 0
	pfFirmwareIndex = pfUnion + 4
	pfFirmwareU     = pfUnion + 8

	// xenpf_enter_acpi_sleep: val_a, val_b (u16 each), sleep_state, flags.
	pfSleepState = pfUnion + 4
	pfSleepFlags = pfUnion + 8

	// xenpf_pcpuinfo: xen_cpuid, max_present, flags, apic_id, acpi_id.
	pfPCPUSize       = 20
	pfPCPUID         = pfUnion + 0
	pfPCPUMaxPresent = pfUnion + 4
	pfPCPUFlags      = pfUnion + 8
	pfPCPUAPICID     = pfUnion + 12
	pfPCPUACPIID     = pfUnion + 16

	// xenpf_set_processor_pminfo: id, type, then the union (8-aligned)
	// whose pdc member is a guest handle to uint32_t[3].
	pfPMInfoID   = pfUnion + 0
	pfPMInfoType = pfUnion + 4
	pfPMInfoPDC  = pfUnion + 8
)

// ACPI facts Xen's handlers use (ACPICA and Xen's acpi headers).
const (
	acpiStateS3            = 3
	acpiStateS5            = 5
	acpiSleepEnable        = 1 << 13 // PM1 control SLP_EN
	acpiStatesMax          = 5       // ACPI_S_STATES_MAX
	acpiSleepTypeMax       = 7       // ACPI_SLEEP_TYPE_MAX
	acpiSleepTypeInvalid   = 0xff    // ACPI_SLEEP_TYPE_INVALID
	acpiBitmaskSleepEnable = 0x2000  // ACPI_BITMASK_SLEEP_ENABLE (SLP_EN)

	// _PDC capability bits (Xen's include/acpi/pdc_intel.h).
	pdcPFFH        = 0x0001
	pdcC1Halt      = 0x0002
	pdcTFFH        = 0x0004
	pdcSMPC1PT     = 0x0008
	pdcSMPC2C3     = 0x0010
	pdcSMPPSWCoord = 0x0020
	pdcSMPCSWCoord = 0x0040
	pdcSMPTSWCoord = 0x0080
	pdcC1FFH       = 0x0100
	pdcC2C3FFH     = 0x0200
	pdcSMPPHWCoord = 0x0800
	pdcCMask       = pdcC1Halt | pdcC1FFH | pdcSMPC2C3 | pdcSMPCSWCoord | pdcC2C3FFH
	pdcPMask       = pdcPFFH | pdcSMPPSWCoord | pdcSMPPHWCoord
	pdcTMask       = pdcTFFH | pdcSMPTSWCoord
	pdcRevisionID  = 1 // ACPI_PDC_REVISION_ID

	// invalidACPIID is Xen's INVALID_ACPIID: "no ACPI id" in get_cpuinfo,
	// "the boot CPU" in a _PDC request.
	invalidACPIID = ^uint32(0)
	// maxPCPUs bounds the search for a CPU by ACPI id (Xen's NR_CPUS
	// default).
	maxPCPUs = 4096
)

// PCPU describes a physical CPU for XENPF_get_cpuinfo and _PDC requests.
type PCPU struct {
	// Online reports a CPU that runs (present CPUs may be offline).
	Online bool
	// APICID is the CPU's initial APIC id (CPUID leaf 1 EBX[31:24]);
	// ACPIID its ACPI processor id from the MADT, or ^uint32(0) when gohv
	// does not know it.
	APICID, ACPIID uint32
	// MWAITBreak reports MONITOR/MWAIT with CPUID leaf 5's extensions and
	// break-on-interrupt (Xen keeps the _PDC FFH C-state bits only then).
	MWAITBreak bool
}

// Platform is the machine as platform_op changes and reports it. hv
// implements it.
type Platform interface {
	// SetWallClock is XENPF_settime: the UTC time secs.nsecs was current
	// at system time systemTime (ns since boot); every domain's
	// shared_info wall clock follows (Xen's do_settime).
	SetWallClock(secs uint64, nsecs uint32, systemTime uint64)
	// PCPU returns physical CPU id, false if no such CPU is present.
	PCPU(id uint32) (PCPU, bool)
	// MaxPresentPCPU is the highest present CPU id.
	MaxPresentPCPU() uint32
	// PowerOffS5 enters ACPI S5 for the hardware domain's
	// XENPF_enter_acpi_sleep (Xen's enter_state): the machine powers off.
	// It returns only if it could not.
	PowerOffS5()
}

func doPlatformOp(d *Dispatcher, c *Caller, a *Args) Result {
	var b [platformOpSize]byte
	if !c.readGuest(a[0], b[:]) {
		return Errno(abi.EFAULT)
	}
	if le.Uint32(b[4:]) != abi.XENPF_INTERFACE_VERSION {
		return Errno(abi.EACCES)
	}
	if !c.Domain.Privileged() {
		return Errno(abi.EPERM)
	}
	if d.platform == nil {
		return Errno(abi.ENOSYS)
	}
	return Errno(d.platformOp(c, a[0], &b))
}

// platformOp runs the command in b, the guest's structure at op.
func (d *Dispatcher) platformOp(c *Caller, op uint64, b *[platformOpSize]byte) abi.Errno {
	p := d.platform
	switch le.Uint32(b[0:]) {
	case abi.XENPF_settime32:
		p.SetWallClock(uint64(le.Uint32(b[pfSettime32Secs:])), le.Uint32(b[pfSettime32Nsecs:]), le.Uint64(b[pfSettime32System:]))
		return 0

	case abi.XENPF_settime64:
		if le.Uint32(b[pfSettime64Mbz:]) != 0 {
			return abi.EINVAL
		}
		p.SetWallClock(le.Uint64(b[pfSettime64Secs:]), le.Uint32(b[pfSettime64Nsecs:]), le.Uint64(b[pfSettime64System:]))
		return 0

	case abi.XENPF_firmware_info:
		return firmwareInfo(c, op, b)

	case abi.XENPF_get_cpuinfo:
		id := le.Uint32(b[pfPCPUID:])
		if cpu, ok := p.PCPU(id); ok {
			le.PutUint32(b[pfPCPUAPICID:], cpu.APICID)
			le.PutUint32(b[pfPCPUACPIID:], cpu.ACPIID)
			var flags uint32
			if cpu.Online {
				flags |= abi.XEN_PCPU_FLAGS_ONLINE
			}
			le.PutUint32(b[pfPCPUFlags:], flags)
		} else {
			le.PutUint32(b[pfPCPUFlags:], abi.XEN_PCPU_FLAGS_INVALID)
		}
		le.PutUint32(b[pfPCPUMaxPresent:], p.MaxPresentPCPU())
		if !c.writeGuest(op+pfUnion, b[pfUnion:pfUnion+pfPCPUSize]) {
			return abi.EFAULT
		}
		return 0

	case abi.XENPF_enter_acpi_sleep:
		e := enterACPISleep(le.Uint16(b[pfUnion:]), le.Uint16(b[pfUnion+2:]),
			le.Uint32(b[pfSleepState:]), le.Uint32(b[pfSleepFlags:]))
		if e == 0 {
			p.PowerOffS5()
			return abi.EIO // not off after all (Xen's enter_state: -EIO)
		}
		return e

	case abi.XENPF_set_processor_pminfo:
		switch le.Uint32(b[pfPMInfoType:]) {
		case abi.XEN_PM_CX, abi.XEN_PM_PX, abi.XEN_PM_TX:
			// gohv has no cpuidle or cpufreq driver: Xen's
			// xen_processor_pmbits without PM_CX, PM_PX and PM_TX.
			return abi.ENOSYS
		case abi.XEN_PM_PDC:
			return d.setPDCBits(c, le.Uint32(b[pfPMInfoID:]), le.Uint64(b[pfPMInfoPDC:]))
		}
		return abi.EINVAL
	}
	return abi.ENOSYS
}

// firmwareInfo is XENPF_firmware_info for a machine gohv booted without
// running BIOS code (no EDD, MBR signatures or EDID were collected) and
// without EFI runtime services, as Xen answers when booted that way.
func firmwareInfo(c *Caller, op uint64, b *[platformOpSize]byte) abi.Errno {
	index := le.Uint32(b[pfFirmwareIndex:])
	switch le.Uint32(b[pfFirmwareType:]) {
	case abi.XEN_FW_DISK_INFO, abi.XEN_FW_DISK_MBR_SIGNATURE:
		return abi.ESRCH // index >= the number of entries, 0
	case abi.XEN_FW_VBEDDC_INFO:
		return abi.ESRCH // no EDID
	case abi.XEN_FW_EFI_INFO:
		return abi.ENOSYS // efi_get_info without EFI
	case abi.XEN_FW_KBD_SHIFT_FLAGS:
		if index != 0 {
			return abi.ESRCH
		}
		b[pfFirmwareU] = 0 // no BIOS keyboard shift state was read
		if !c.writeGuest(op+pfFirmwareU, b[pfFirmwareU:pfFirmwareU+1]) {
			return abi.EFAULT
		}
		return 0
	}
	return abi.EINVAL
}

// enterACPISleep checks XENPF_enter_acpi_sleep as Xen's acpi_enter_sleep
// and enter_state do, for gohv, which has no S3 resume path: S3 is
// refused as by a Xen without a usable wakeup vector (-EOPNOTSUPP);
// extended sleep needs the FADT's sleep control and status registers,
// which gohv does not read (-EPERM); mismatched PM1a/PM1b sleep-enable
// bits or any flag are -EINVAL; S5 is accepted (0: the caller powers the
// machine off, as Xen's enter_state does for ACPI_STATE_S5); every other
// state is -EINVAL (enter_state's default). Linux's dom0 powers off this
// way (acpi_power_off through xen_acpi_notify_hypervisor_sleep).
func enterACPISleep(pm1a, pm1b uint16, state, flags uint32) abi.Errno {
	if state == acpiStateS3 {
		return abi.EOPNOTSUPP
	}
	if flags&abi.XENPF_ACPI_SLEEP_EXTENDED != 0 {
		return abi.EPERM
	}
	if pm1b != 0 && (pm1a^pm1b)&acpiSleepEnable != 0 {
		return abi.EINVAL
	}
	if flags != 0 || state != acpiStateS5 {
		return abi.EINVAL
	}
	return 0
}

// setPDCBits is XEN_PM_PDC (Xen's acpi_set_pdc_bits with no power
// management driver: the mask of states Xen manages is empty): the
// guest's uint32_t[3] at pdc is revision, count, capabilities; the
// capabilities gohv leaves to the domain are written back. acpiID names
// a CPU by ACPI id (^0: the boot CPU). Errors: -EFAULT, -EINVAL a bad
// revision or count or an unknown CPU.
func (d *Dispatcher) setPDCBits(c *Caller, acpiID uint32, pdc uint64) abi.Errno {
	var hdr [8]byte
	if !c.readGuest(pdc, hdr[:]) {
		return abi.EFAULT
	}
	if le.Uint32(hdr[0:]) != pdcRevisionID || le.Uint32(hdr[4:]) == 0 {
		return abi.EINVAL
	}
	caps, ok := c.readU32(pdc + 8)
	if !ok {
		return abi.EFAULT
	}
	caps &= pdcCMask | pdcPMask | pdcTMask | pdcSMPC1PT
	cpu, ok := d.pdcCPU(acpiID)
	if !ok {
		return abi.EINVAL
	}
	if !cpu.MWAITBreak {
		caps &^= pdcC1FFH | pdcC2C3FFH
	}
	if !c.writeU32(pdc+8, caps) {
		return abi.EFAULT
	}
	return 0
}

// pdcCPU finds the online CPU with ACPI id acpiID (^0: CPU 0).
func (d *Dispatcher) pdcCPU(acpiID uint32) (PCPU, bool) {
	p := d.platform
	if acpiID == invalidACPIID {
		return p.PCPU(0)
	}
	for id := uint32(0); id <= p.MaxPresentPCPU() && id < maxPCPUs; id++ {
		if cpu, ok := p.PCPU(id); ok && cpu.ACPIID == acpiID && cpu.Online {
			return cpu, true
		}
	}
	return PCPU{}, false
}
