/*
 * traps.S: entry stubs for bounce frames, and the return through
 * HYPERVISOR_iret (public/arch-x86/xen-x86_64.h).
 *
 * A bounce frame, from rsp upward: rcx, r11, [error code], rip, cs, rflags,
 * rsp, ss. Each stub restores rcx/r11, pushes a 0 error code where the
 * vector has none, pushes the vector number, and joins trap_common, which
 * builds struct cpu_regs (lib.h) and calls trap_dispatch(regs).
 */
	.text
	.code64

.macro ENTRY_NOERR name, vec
	.globl \name
\name:
	popq	%rcx
	popq	%r11
	pushq	$0
	pushq	$\vec
	jmp	trap_common
.endm
.macro ENTRY_ERR name, vec
	.globl \name
\name:
	popq	%rcx
	popq	%r11
	pushq	$\vec
	jmp	trap_common
.endm

	ENTRY_NOERR entry_de, 0
	ENTRY_NOERR entry_db, 1
	ENTRY_NOERR entry_nmi, 2
	ENTRY_NOERR entry_bp, 3
	ENTRY_NOERR entry_of, 4
	ENTRY_NOERR entry_br, 5
	ENTRY_NOERR entry_ud, 6
	ENTRY_NOERR entry_nm, 7
	ENTRY_ERR   entry_df, 8
	ENTRY_ERR   entry_ts, 10
	ENTRY_ERR   entry_np, 11
	ENTRY_ERR   entry_ss, 12
	ENTRY_ERR   entry_gp, 13
	ENTRY_ERR   entry_pf, 14
	ENTRY_NOERR entry_mf, 16
	ENTRY_ERR   entry_ac, 17
	ENTRY_NOERR entry_mc, 18
	ENTRY_NOERR entry_xm, 19
	ENTRY_NOERR entry_ret_to_kernel, 0x80
	ENTRY_NOERR entry_event, 0x100
	ENTRY_NOERR entry_syscall, 0x101

trap_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rdi
	movq	%rsp, %rbx		/* callee-saved: realign for the C call */
	andq	$~15, %rsp
	call	trap_dispatch
	movq	%rbx, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector, error code */
	pushq	$0			/* iret flags: not in syscall */
	/* fall through */

/*
 * xen_iret: rsp points at flags, rip, cs, rflags, rsp, ss. Push rcx, r11,
 * rax (iret_context order from the lowest address: rax, r11, rcx, flags,
 * rip, cs, rflags, rsp, ss) and make hypercall 23, which does not return
 * here. The hypercall-page build jumps to stub 23, which pushes them itself.
 */
	.globl xen_iret
xen_iret:
#ifdef USE_HYPERCALL_PAGE
	jmp	hypercall_page + 23 * 32
#else
	pushq	%rcx
	pushq	%r11
	pushq	%rax
	movl	$23, %eax
	syscall
	ud2
#endif
