/*
 * notes.S: the Xen ELF notes (public/elfnote.h numbering). The linker script
 * puts .note.Xen in a PT_NOTE segment.
 */
#define XEN_ELFNOTE_ENTRY              1
#define XEN_ELFNOTE_HYPERCALL_PAGE     2
#define XEN_ELFNOTE_VIRT_BASE          3
#define XEN_ELFNOTE_PADDR_OFFSET       4
#define XEN_ELFNOTE_XEN_VERSION        5
#define XEN_ELFNOTE_GUEST_OS           6
#define XEN_ELFNOTE_GUEST_VERSION      7
#define XEN_ELFNOTE_LOADER             8
#define XEN_ELFNOTE_PAE_MODE           9
#define XEN_ELFNOTE_FEATURES          10
#define XEN_ELFNOTE_SUPPORTED_FEATURES 17

/* One note: namesz 4, descsz, type, "Xen\0", desc padded to 4 bytes. */
#define NOTE(type, desc) \
	.balign 4; .long 4; .long 2f - 1f; .long type; .asciz "Xen"; \
	.balign 4; 1: desc; 2: .balign 4

	.section .note.Xen, "a", @note
	NOTE(XEN_ELFNOTE_GUEST_OS, .asciz "gohv-test")
	NOTE(XEN_ELFNOTE_GUEST_VERSION, .asciz "0")
	NOTE(XEN_ELFNOTE_LOADER, .asciz "generic")
	NOTE(XEN_ELFNOTE_XEN_VERSION, .asciz "xen-3.0")
	NOTE(XEN_ELFNOTE_ENTRY, .quad _start)
	NOTE(XEN_ELFNOTE_VIRT_BASE, .quad 0)
	NOTE(XEN_ELFNOTE_PADDR_OFFSET, .quad 0)
	NOTE(XEN_ELFNOTE_FEATURES, .asciz "!writable_page_tables|pae_pgdir_above_4gb")
	NOTE(XEN_ELFNOTE_PAE_MODE, .asciz "yes")
	/* XENFEAT_dom0 (bit 11): Xen's dom0 builder refuses an image whose
	 * SUPPORTED_FEATURES note lacks it. */
	NOTE(XEN_ELFNOTE_SUPPORTED_FEATURES, .long (1 << 11))
#ifdef USE_HYPERCALL_PAGE
	NOTE(XEN_ELFNOTE_HYPERCALL_PAGE, .quad hypercall_page)
#endif
