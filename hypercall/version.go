package hypercall

import (
	"runtime"
	"runtime/debug"

	"github.com/gohv/gohv/abi"
)

// xen_version (17): (int cmd, void *arg). Semantics of Xen 4.17's
// common/kernel.c do_xen_version with the dummy XSM policy: version,
// platform_parameters and get_features answer everyone; extraversion,
// compile_info, capabilities, changeset, pagesize and guest_handle too
// (XSM_HOOK); commandline and build_id only the privileged domain
// (XSM_PRIV): others get "<denied>" and -EPERM respectively.

// Xen's version numbers as gohv reports them: 4.17 (XENVER_version returns
// major<<16 | minor = 0x00040011).
const (
	XenMajor = 4
	XenMinor = 17
)

// Sizes of xen_version's fixed-size answers (public/version.h).
const (
	extraversionLen = abi.XEN_EXTRAVERSION_LEN // xen_extraversion_t
	compileInfoLen  = 144                      // struct xen_compile_info
	capabilitiesLen = 1024                     // xen_capabilities_info_t
	changesetLen    = 64                       // xen_changeset_info_t
	commandlineLen  = 1024                     // xen_commandline_t
	domainHandleLen = 16                       // xen_domain_handle_t
)

// xenDeny is what a denied string query returns (Xen's xen_deny()).
const xenDeny = "<denied>"

// VersionInfo is what xen_version reports besides the version number.
// Strings longer than their C array (minus the NUL) are cut.
type VersionInfo struct {
	// Extraversion (XENVER_extraversion, 15 characters). Default
	// DefaultExtraversion.
	Extraversion string
	// Compiler, CompileBy, CompileDomain, CompileDate are
	// XENVER_compile_info. Defaults: the Go version, "gohv", "", the VCS
	// commit time of the build if Go recorded one.
	Compiler, CompileBy, CompileDomain, CompileDate string
	// Capabilities (XENVER_capabilities): space-separated guest types.
	// Default DefaultCapabilities.
	Capabilities string
	// Changeset (XENVER_changeset). Default: "<commit time> git:<commit>"
	// from the build's VCS stamp, else "unavailable" as Xen says.
	Changeset string
	// Commandline is the hypervisor command line (XENVER_commandline).
	Commandline string
}

// DefaultExtraversion is gohv's extraversion: ".0" keeps "4.17.0", the
// form Xen releases print, and "-gohv" tells a reader of Linux's
// "Xen version: 4.17.0-gohv" or `xl info` which hypervisor runs. Tools
// take the numbers from XENVER_version and treat extraversion as text.
const DefaultExtraversion = ".0-gohv"

// DefaultCapabilities lists the only guest type gohv runs, 64-bit PV. It
// is a token list: libxenguest accepts a guest whose type string is one of
// its space-separated tokens.
const DefaultCapabilities = "xen-3.0-x86_64"

// withDefaults fills the zero fields of v.
func (v VersionInfo) withDefaults() VersionInfo {
	if v.Extraversion == "" {
		v.Extraversion = DefaultExtraversion
	}
	if v.Capabilities == "" {
		v.Capabilities = DefaultCapabilities
	}
	if v.Compiler == "" {
		v.Compiler = runtime.Version()
	}
	if v.CompileBy == "" {
		v.CompileBy = "gohv"
	}
	var rev, when string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			}
		}
	}
	if v.CompileDate == "" {
		v.CompileDate = when
	}
	if v.Changeset == "" {
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v.Changeset = when + " git:" + rev
		} else {
			v.Changeset = "unavailable"
		}
	}
	return v
}

// putString stores s NUL-terminated into dst, cut to fit.
func putString(dst []byte, s string) {
	if len(dst) == 0 {
		return
	}
	if len(s) > len(dst)-1 {
		s = s[:len(dst)-1]
	}
	n := copy(dst, s)
	clear(dst[n:])
}

// Features returns XENVER_get_features submap 0 for a PV domain, exactly
// as Xen 4.17 builds it: memory_op_vnode_supported always;
// pae_pgdir_above_4gb when vm_assist pae_extended_cr3 is on;
// mmu_pt_update_preserve_ad, highmem_assist and gnttab_map_avail_bits for
// every PV domain; dom0 for the hardware domain; direct_mapped since PV
// guests are not translated. Dom0 with pae_extended_cr3 gets 0x000228F0,
// a domU 0x000220F0 (0x000220E0 before it enables pae_extended_cr3).
func Features(hardware, paeExtendedCR3 bool) uint32 {
	f := uint32(1)<<abi.XENFEAT_memory_op_vnode_supported |
		1<<abi.XENFEAT_mmu_pt_update_preserve_ad |
		1<<abi.XENFEAT_highmem_assist |
		1<<abi.XENFEAT_gnttab_map_avail_bits |
		1<<abi.XENFEAT_direct_mapped
	if paeExtendedCR3 {
		f |= 1 << abi.XENFEAT_pae_pgdir_above_4gb
	}
	if hardware {
		f |= 1 << abi.XENFEAT_dom0
	}
	return f
}

// doXenVersion is xen_version (17). The answers are the Dispatcher's
// VersionInfo and the caller's domain state; the only input structures are
// get_features' submap index and build_id's length. Unknown commands:
// -ENOSYS.
func doXenVersion(d *Dispatcher, c *Caller, a *Args) Result {
	cmd := int32(a[0])
	arg := a[1]
	dom := c.Domain
	switch cmd {
	case abi.XENVER_version:
		return Value(XenMajor<<16 | XenMinor)

	case abi.XENVER_extraversion:
		var b [extraversionLen]byte
		putString(b[:], d.version.Extraversion)
		return copyOut(c, arg, b[:])

	case abi.XENVER_compile_info:
		var b [compileInfoLen]byte
		putString(b[0:64], d.version.Compiler)
		putString(b[64:80], d.version.CompileBy)
		putString(b[80:112], d.version.CompileDomain)
		putString(b[112:144], d.version.CompileDate)
		return copyOut(c, arg, b[:])

	case abi.XENVER_capabilities:
		var b [capabilitiesLen]byte
		putString(b[:], d.version.Capabilities)
		return copyOut(c, arg, b[:])

	case abi.XENVER_changeset:
		var b [changesetLen]byte
		putString(b[:], d.version.Changeset)
		return copyOut(c, arg, b[:])

	case abi.XENVER_platform_parameters:
		var b [8]byte
		le.PutUint64(b[:], abi.HYPERVISOR_VIRT_START)
		return copyOut(c, arg, b[:])

	case abi.XENVER_get_features:
		var b [8]byte // struct xen_feature_info: submap_idx@0, submap@4
		if !c.readGuest(arg, b[:]) {
			return Errno(abi.EFAULT)
		}
		if le.Uint32(b[0:]) != 0 { // only submap 0 exists (XENFEAT_NR_SUBMAPS 1)
			return Errno(abi.EINVAL)
		}
		le.PutUint32(b[4:], Features(dom.HardwareDomain(),
			dom.State().VMAssist(abi.VMASST_TYPE_pae_extended_cr3)))
		return copyOut(c, arg, b[:])

	case abi.XENVER_pagesize:
		if arg != 0 {
			return Errno(abi.EINVAL)
		}
		return Value(4096)

	case abi.XENVER_guest_handle:
		h := dom.State().handle
		return copyOut(c, arg, h[:])

	case abi.XENVER_commandline:
		if !dom.Privileged() {
			b := []byte(xenDeny + "\x00")
			return copyOut(c, arg, b)
		}
		var b [commandlineLen]byte
		putString(b[:], d.version.Commandline)
		return copyOut(c, arg, b[:])

	case abi.XENVER_build_id:
		if !dom.Privileged() {
			return Errno(abi.EPERM)
		}
		if arg != 0 { // a non-null handle brings the buffer length
			n, ok := c.readU32(arg)
			if !ok {
				return Errno(abi.EFAULT)
			}
			if n == 0 {
				return Errno(abi.EINVAL)
			}
		}
		// gohv's image carries no ELF build-id note Xen's way.
		return Errno(abi.ENODATA)
	}
	return Errno(abi.ENOSYS)
}

// copyOut copies b to the guest at va: 0, or -EFAULT.
func copyOut(c *Caller, va uint64, b []byte) Result {
	if !c.writeGuest(va, b) {
		return Errno(abi.EFAULT)
	}
	return Result{}
}
