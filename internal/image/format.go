package image

// Boot-header formats written by Stamp and read back by Inspect. Names keep
// the spelling of the C headers that define them, so a grep maps one to one:
// multiboot1 from GRUB's multiboot.h (Multiboot Specification 0.6.96, §3.1),
// multiboot2 from GRUB's multiboot2.h (Multiboot2 Specification 2.0, §3.1),
// the PVH note from Xen's xen/include/public/elfnote.h.

// Multiboot1 header (Multiboot Specification §3.1.1–§3.1.3).
const (
	// MULTIBOOT_HEADER_MAGIC is the multiboot1 header magic.
	MULTIBOOT_HEADER_MAGIC = 0x1BADB002

	// MULTIBOOT_PAGE_ALIGN (flag bit 0) asks for modules aligned on 4 KiB.
	MULTIBOOT_PAGE_ALIGN = 0x00000001
	// MULTIBOOT_MEMORY_INFO (flag bit 1) asks for mem_lower/mem_upper and the memory map.
	MULTIBOOT_MEMORY_INFO = 0x00000002
	// MULTIBOOT_AOUT_KLUDGE (flag bit 16) says the address fields at offsets
	// 12–28 are valid. QEMU refuses an ELF64 image unless it is set
	// (hw/i386/multiboot.c), because it then never looks at the ELF headers.
	MULTIBOOT_AOUT_KLUDGE = 0x00010000

	// MB1Flags is the flags word gohv stamps: 0x00010003.
	MB1Flags = MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO | MULTIBOOT_AOUT_KLUDGE

	// mb1Size is the stamped header: magic, flags, checksum and the five
	// address fields (header_addr, load_addr, load_end_addr, bss_end_addr,
	// entry_addr). The video fields are not used (flag bit 2 is clear).
	mb1Size = 8 * 4

	// mb1Search is the part of the image a loader scans: the header must lie
	// completely within the first 8192 bytes (spec §3.1.1).
	mb1Search = 8192
	// mb1ScanReach is how far from a candidate offset QEMU wants the image
	// to extend: its scan loop runs `i < 8192 - 48` (hw/i386/multiboot.c), so
	// a header must start before 8192-48 for QEMU to see it.
	mb1ScanReach = 48
	// mb1ScanStep is the scan step of GRUB, QEMU and u-root (32-bit alignment).
	mb1ScanStep = 4
	// mb1Align is where Stamp puts the header. NetBSD's probe_multiboot1 scans
	// in 8-byte steps in some versions; 16 keeps every loader happy.
	mb1Align = 16
)

// Multiboot2 header (Multiboot2 Specification §3.1.1–§3.1.7).
const (
	// MULTIBOOT2_HEADER_MAGIC is the multiboot2 header magic.
	MULTIBOOT2_HEADER_MAGIC = 0xE85250D6
	// MULTIBOOT_ARCHITECTURE_I386 is architecture 0: 32-bit protected mode of i386.
	MULTIBOOT_ARCHITECTURE_I386 = 0

	// MULTIBOOT_HEADER_TAG_END ends the tag list (type 0, size 8).
	MULTIBOOT_HEADER_TAG_END = 0
	// MULTIBOOT_HEADER_TAG_INFORMATION_REQUEST lists the MBI tags the OS wants.
	MULTIBOOT_HEADER_TAG_INFORMATION_REQUEST = 1
	// MULTIBOOT_HEADER_TAG_ADDRESS carries the a.out-kludge load addresses.
	MULTIBOOT_HEADER_TAG_ADDRESS = 2
	// MULTIBOOT_HEADER_TAG_ENTRY_ADDRESS carries the 32-bit entry address.
	MULTIBOOT_HEADER_TAG_ENTRY_ADDRESS = 3

	// MULTIBOOT_HEADER_TAG_OPTIONAL is tag flag bit 0: the loader may ignore the tag.
	MULTIBOOT_HEADER_TAG_OPTIONAL = 1

	// MBI (boot information) tag types named in the information request.
	MULTIBOOT_TAG_TYPE_CMDLINE          = 1
	MULTIBOOT_TAG_TYPE_BOOT_LOADER_NAME = 2
	MULTIBOOT_TAG_TYPE_MODULE           = 3
	MULTIBOOT_TAG_TYPE_BASIC_MEMINFO    = 4
	MULTIBOOT_TAG_TYPE_MMAP             = 6

	// mb2Search: the header must lie completely within the first 32768
	// bytes of the image (spec §3.1.1; GRUB's MULTIBOOT_SEARCH).
	mb2Search = 32768
	// mb2Align: the header is 64-bit aligned and so is every tag
	// (MULTIBOOT_HEADER_ALIGN, MULTIBOOT_TAG_ALIGN).
	mb2Align = 8

	mb2FixedSize   = 16 // magic, architecture, header_length, checksum
	mb2TagHdrSize  = 8  // u16 type, u16 flags, u32 size
	mb2AddressSize = mb2TagHdrSize + 4*4
	mb2EntrySize   = mb2TagHdrSize + 4
	mb2EndSize     = mb2TagHdrSize
)

// mb2InfoRequests is what gohv asks a multiboot2 loader for. GRUB and NetBSD
// both know every one of these types.
var mb2InfoRequests = [mb2InfoRequestCount]uint32{
	MULTIBOOT_TAG_TYPE_CMDLINE,
	MULTIBOOT_TAG_TYPE_MODULE,
	MULTIBOOT_TAG_TYPE_BASIC_MEMINFO,
	MULTIBOOT_TAG_TYPE_MMAP,
	MULTIBOOT_TAG_TYPE_BOOT_LOADER_NAME,
}

// Tag flags gohv stamps, with the loader behaviour that decides them:
//   - The information request is optional. NetBSD's loader
//     (sys/arch/i386/stand/lib/exec_multiboot2.c, mbi_dispatch) fails the boot
//     when a *required* request yields nothing, e.g. MODULE when no module
//     is loaded; GRUB only checks that it knows the types. Both still supply
//     every tag they can.
//   - The address tag is optional. NetBSD's probe_multiboot2 rejects a
//     required address tag ("Unsupported multiboot address header") and loads
//     the ELF instead; GRUB (grub-core/loader/multiboot_mbi2.c) honours the tag
//     whatever its flags say.
//   - The entry address tag is required: GRUB insists on it next to an
//     address tag, and NetBSD uses it in place of the ELF entry.
const (
	mb2InfoRequestFlags = MULTIBOOT_HEADER_TAG_OPTIONAL
	mb2AddressFlags     = MULTIBOOT_HEADER_TAG_OPTIONAL
	mb2EntryFlags       = 0
)

// mb2InfoRequestCount is len(mb2InfoRequests); mb2InfoRequestSize is the
// unpadded size of the information request tag.
const (
	mb2InfoRequestCount = 5
	mb2InfoRequestSize  = mb2TagHdrSize + 4*mb2InfoRequestCount
)

// mb2Size is the whole stamped multiboot2 header, tags padded to 8 bytes.
const mb2Size = mb2FixedSize +
	(mb2InfoRequestSize+mb2Align-1)&^(mb2Align-1) +
	(mb2AddressSize+mb2Align-1)&^(mb2Align-1) +
	(mb2EntrySize+mb2Align-1)&^(mb2Align-1) +
	mb2EndSize

// Xen ELF note for PVH direct boot (xen/include/public/elfnote.h).
const (
	// XEN_ELFNOTE_PHYS32_ENTRY: "Physical entry point into the kernel", entered
	// in 32-bit protected mode with paging off. QEMU's PVH loader
	// (hw/i386/x86-common.c, read_pvh_start_addr) and Xen's libelf find it.
	XEN_ELFNOTE_PHYS32_ENTRY = 18

	// xenNoteName is the owner, NUL-terminated; namesz is xenNoteNameSize.
	xenNoteName     = "Xen\x00"
	xenNoteNameSize = 4
	// noteHdrSize is namesz, descsz, type (three 32-bit words, also for ELF64).
	noteHdrSize = 12
	// pvhDescSize: the desc is the 32-bit entry. libelf accepts 4 or 8 bytes.
	// QEMU reads a size_t from an ELF64 note's desc and truncates it to 32
	// bits (fw_cfg_add_i32), so the 4 bytes after the note do not matter.
	pvhDescSize = 4
	// pvhNoteSize is the whole note: header, "Xen\0", desc.
	pvhNoteSize = noteHdrSize + xenNoteNameSize + pvhDescSize
	// pvhNoteAlign is the p_align of the retargeted PT_NOTE. QEMU rounds
	// namesz up to p_align to find the desc, so it must be 4, not 8.
	pvhNoteAlign = 4
)

// Slot layout: the three headers sit back to back in one 16-byte aligned run
// of zero padding after the ELF, program and section headers. A test checks
// the alignments (mb2 on 8, the note on 4).
const (
	slotMB1  = 0                     // multiboot1 header, 16-aligned
	slotMB2  = slotMB1 + mb1Size     // multiboot2 header, 8-aligned
	slotPVH  = slotMB2 + mb2Size     // PVH note, 4-aligned
	slotUsed = slotPVH + pvhNoteSize // bytes written
	slotSize = (slotUsed + 15) &^ 15 // bytes that must be zero before stamping

	// maxAddr: every address the loaders see is a 32-bit field, and the
	// entry runs with paging off, so the whole image lies below 4 GiB.
	maxAddr = 1 << 32
)
