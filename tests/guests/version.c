/*
 * version: every xen_version sub-op (public/version.h), with the
 * boundary rows Xen 4.17 gives: unknown sub-op -ENOSYS, pagesize with a
 * non-NULL argument -EINVAL, get_features submap 1 -EINVAL, build_id with
 * len 0 -EINVAL, a buffer in the hypervisor's range or unmapped -EFAULT.
 * String sub-ops must not leave stale bytes after the NUL (XSA-122).
 */
#include "lib.h"

const char test_name[] = "version";

/* The string is NUL-terminated inside n bytes and every byte after the NUL
 * was overwritten with 0 (the buffer was prefilled with 0xa5). */
static void check_string(const char *what, const char *buf, unsigned long n)
{
	unsigned long len = 0;
	while (len < n && buf[len])
		len++;
	check(len < n, "%s is not NUL-terminated in %lu bytes", what, n);
	for (unsigned long i = len; i < n; i++)
		if (buf[i]) {
			check(0, "%s: byte %lu after the NUL is %#x (stale)", what, i, (u8)buf[i]);
			break;
		}
}

void test_main(void)
{
	long ver = hc_xen_version(XENVER_version, NULL);
	printf("version %#lx\n", ver);
	check_eq(ver, 0x00040011, "XENVER_version");

	char extra[16];
	memset(extra, 0xa5, sizeof(extra));
	check_eq(hc_xen_version(XENVER_extraversion, extra), 0, "XENVER_extraversion");
	check_string("extraversion", extra, sizeof(extra));
	printf("extraversion \"%s\"\n", extra);
	check(extra[0] == '.', "extraversion \"%s\" does not start with '.'", extra);

	static struct xen_compile_info ci;
	memset(&ci, 0xa5, sizeof(ci));
	check_eq(hc_xen_version(XENVER_compile_info, &ci), 0, "XENVER_compile_info");
	check_string("compiler", ci.compiler, sizeof(ci.compiler));
	check_string("compile_by", ci.compile_by, sizeof(ci.compile_by));
	check_string("compile_domain", ci.compile_domain, sizeof(ci.compile_domain));
	check_string("compile_date", ci.compile_date, sizeof(ci.compile_date));
	printf("compiler \"%s\"\n", ci.compiler);
	check(ci.compiler[0], "compile_info.compiler is empty");

	static char caps[1024];
	memset(caps, 0xa5, sizeof(caps));
	check_eq(hc_xen_version(XENVER_capabilities, caps), 0, "XENVER_capabilities");
	check_string("capabilities", caps, sizeof(caps));
	printf("capabilities \"%s\"\n", caps);
	check(has_token(caps, "xen-3.0-x86_64"), "capabilities lack the token xen-3.0-x86_64");

	char cs[64];
	memset(cs, 0xa5, sizeof(cs));
	check_eq(hc_xen_version(XENVER_changeset, cs), 0, "XENVER_changeset");
	check_string("changeset", cs, sizeof(cs));
	printf("changeset \"%s\"\n", cs);

	u64 virt_start = 0;
	check_eq(hc_xen_version(XENVER_platform_parameters, &virt_start), 0, "XENVER_platform_parameters");
	printf("virt_start %#lx\n", virt_start);
	check_eq(virt_start, HYPERVISOR_VIRT_START, "platform_parameters.virt_start");

	struct xen_feature_info fi = { 0, 0 };
	check_eq(hc_xen_version(XENVER_get_features, &fi), 0, "XENVER_get_features(0)");
	printf("features[0] %#x\n", fi.submap);
	check(fi.submap & (1U << XENFEAT_mmu_pt_update_preserve_ad), "feature mmu_pt_update_preserve_ad (5) missing");
	check(fi.submap & (1U << XENFEAT_gnttab_map_avail_bits), "feature gnttab_map_avail_bits (7) missing");
	if (start_info->flags & SIF_INITDOMAIN)
		check(fi.submap & (1U << XENFEAT_dom0), "feature dom0 (11) missing for the initial domain");
	else
		check(!(fi.submap & (1U << XENFEAT_dom0)), "feature dom0 (11) set for a domU");
	check(!(fi.submap & ((1U << XENFEAT_writable_page_tables) | (1U << XENFEAT_auto_translated_physmap) |
			     (1U << XENFEAT_supervisor_mode_kernel))),
	      "features %#x include writable_page_tables/auto_translated_physmap/supervisor_mode_kernel", fi.submap);
	fi.submap_idx = 1;
	check_eq(hc_xen_version(XENVER_get_features, &fi), -XEN_EINVAL, "XENVER_get_features(1)");

	check_eq(hc_xen_version(XENVER_pagesize, NULL), 4096, "XENVER_pagesize");
	check_eq(hc_xen_version(XENVER_pagesize, &virt_start), -XEN_EINVAL, "XENVER_pagesize(non-NULL)");

	u8 handle[16];
	check_eq(hc_xen_version(XENVER_guest_handle, handle), 0, "XENVER_guest_handle");

	static char cmdline[1024];
	memset(cmdline, 0xa5, sizeof(cmdline));
	check_eq(hc_xen_version(XENVER_commandline, cmdline), 0, "XENVER_commandline");
	check_string("commandline", cmdline, sizeof(cmdline));
	printf("commandline \"%s\"\n", cmdline);
	check(strstr(cmdline, "console=com1"), "hypervisor command line lacks console=com1");

	long sz = hc_xen_version(XENVER_build_id, NULL);
	printf("build_id size %ld\n", sz);
	if (sz > 0) {
		static struct { u32 len; u8 buf[256]; } bid;
		bid.len = sizeof(bid.buf);
		check_eq(hc_xen_version(XENVER_build_id, &bid), sz, "XENVER_build_id");
		bid.len = 0;
		check_eq(hc_xen_version(XENVER_build_id, &bid), -XEN_EINVAL, "XENVER_build_id(len 0)");
	} else {
		check(sz == -61, "XENVER_build_id size %ld: want a length or -ENODATA", sz);
	}

	check_eq(hc_xen_version(XENVER_extraversion, (void *)HYPERVISOR_VIRT_START), -XEN_EFAULT,
		 "XENVER_extraversion(hypervisor address)");
	check_eq(hc_xen_version(XENVER_get_features, (void *)0x0000100000000000UL), -XEN_EFAULT,
		 "XENVER_get_features(unmapped address)");
	check_eq(hc_xen_version(11, NULL), -XEN_ENOSYS, "xen_version(11)");
	check_eq(hc_xen_version(0x7fffffff, NULL), -XEN_ENOSYS, "xen_version(0x7fffffff)");
}
