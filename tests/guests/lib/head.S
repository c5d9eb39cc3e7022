/*
 * head.S: entry point, boot stack, and (in the hypercall-page build) the page
 * the domain builder fills with hypercall stubs.
 *
 * At entry (public/xen.h, start_info): rsi = VA of start_info, rsp = the
 * builder's boot stack, events masked, no trap table.
 */
	.section .text.head, "ax"
	.code64
	.globl _start
_start:
	/* Record the builder's register state for the entry test before
	 * touching anything (struct entry_state in lib.h). */
	movq	%rax, entry_state + 0(%rip)
	movq	%rbx, entry_state + 8(%rip)
	movq	%rcx, entry_state + 16(%rip)
	movq	%rdx, entry_state + 24(%rip)
	movq	%rsi, entry_state + 32(%rip)
	movq	%rdi, entry_state + 40(%rip)
	movq	%rbp, entry_state + 48(%rip)
	movq	%rsp, entry_state + 56(%rip)
	movq	%r8, entry_state + 64(%rip)
	movq	%r9, entry_state + 72(%rip)
	movq	%r10, entry_state + 80(%rip)
	movq	%r11, entry_state + 88(%rip)
	movq	%r12, entry_state + 96(%rip)
	movq	%r13, entry_state + 104(%rip)
	movq	%r14, entry_state + 112(%rip)
	movq	%r15, entry_state + 120(%rip)
	pushfq
	popq	entry_state + 128(%rip)
	movw	%cs, entry_state + 136(%rip)
	movw	%ss, entry_state + 138(%rip)
	movw	%ds, entry_state + 140(%rip)
	movw	%es, entry_state + 142(%rip)
	movw	%fs, entry_state + 144(%rip)
	movw	%gs, entry_state + 146(%rip)
	cld
	movq	%rsi, start_info(%rip)
	leaq	boot_stack_top(%rip), %rsp
	xorl	%ebp, %ebp
	call	lib_start		/* never returns */
	ud2

#ifdef USE_HYPERCALL_PAGE
	/* Poisoned with `ret` (0xc3) so the guest can tell whether the
	 * builder filled it. */
	.section .text.hypercall_page, "ax"
	.balign 4096
	.globl hypercall_page
hypercall_page:
	.fill	4096, 1, 0xc3
#endif

	.section .bss.entry, "aw", @nobits
	.balign 8
	.globl entry_state
entry_state:
	.skip	152

	.section .bss.stack, "aw", @nobits
	.balign 4096
	.globl boot_stack, boot_stack_top
boot_stack:
	.skip	16384
boot_stack_top:
