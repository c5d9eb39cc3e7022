/*
 * hello: the minimal guest. xen_version(0) is 4.17, console_io writes, and the
 * negative checks: an unused hypercall number and an unknown console_io
 * command are refused with -ENOSYS, a console_io buffer in the hypervisor's
 * range with -EFAULT.
 *
 * Not checked: sched_op(SHUTDOWN, {9}). Xen 4.17 does not validate the reason
 * for the hardware domain; dom0 passing 9 stops the machine with
 * "(XEN) Hardware Dom0 shutdown (unknown reason 9): 'noreboot' set - not rebooting."
 */
#include "lib.h"

const char test_name[] = "hello";

void test_main(void)
{
	long ver = hc_xen_version(XENVER_version, NULL);
	printf("ver %ld.%ld\n", ver >> 16, ver & 0xffff);
	check_eq(ver, 0x00040011, "xen_version(XENVER_version)");

	static const char msg[] = "hello from PV\n";
	check_eq(hc_console_io(CONSOLEIO_write, sizeof(msg) - 1, msg), 0, "console_io(write)");

	printf("start_info: magic %s nr_pages %lu flags %#x shared_info %#lx pt_base %#lx nr_pt_frames %lu mfn_list %#lx\n",
	       start_info->magic, start_info->nr_pages, start_info->flags, start_info->shared_info,
	       start_info->pt_base, start_info->nr_pt_frames, start_info->mfn_list);
	check(start_info->flags & SIF_INITDOMAIN, "start_info.flags %#x lacks SIF_INITDOMAIN", start_info->flags);
	check(start_info->nr_pages > 0, "start_info.nr_pages is 0");

#ifdef USE_HYPERCALL_PAGE
	/* Stub 0 starts with push %rcx (0x51); the 0xc3 poison means the
	 * builder did not fill the page. */
	printf("hypercall page at %p starts %02x %02x %02x\n", hypercall_page,
	       hypercall_page[0], hypercall_page[1], hypercall_page[2]);
	check(hypercall_page[0] == 0x51, "hypercall page not filled (first byte %#x)", hypercall_page[0]);
	/* Stub i: push %rcx; push %r11; mov $i,%eax; syscall; pop %r11; pop %rcx; ret.
	 * Stub 23 (iret): push %rcx; push %r11; push %rax; mov $23,%eax; syscall. */
	for (int i = 0; i < 128; i++) {
		const u8 *st = hypercall_page + i * 32;
		static const u8 call[] = { 0x51, 0x41, 0x53, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3 };
		static const u8 iret[] = { 0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05 };
		u8 want[sizeof(call)];
		unsigned long n = i == 23 ? sizeof(iret) : sizeof(call);
		memcpy(want, i == 23 ? iret : call, n);
		if (i != 23)
			want[4] = (u8)i;
		if (memcmp(st, want, n)) {
			check(0, "hypercall page stub %d differs: %02x %02x %02x %02x %02x %02x", i,
			      st[0], st[1], st[2], st[3], st[4], st[5]);
			break;
		}
	}
#endif

	/* Negative checks. */
	long rc = HYPERCALL0(11);
	printf("hypercall 11 -> %ld\n", rc);
	check_eq(rc, -XEN_ENOSYS, "hypercall 11");
	rc = hc_console_io(7, 1, "x");
	printf("console_io(7) -> %ld\n", rc);
	check_eq(rc, -XEN_ENOSYS, "console_io(7)");
	rc = hc_console_io(CONSOLEIO_write, 8, (const void *)HYPERVISOR_VIRT_START);
	printf("console_io(write, hypervisor address) -> %ld\n", rc);
	check_eq(rc, -XEN_EFAULT, "console_io(write, hypervisor address)");
}
