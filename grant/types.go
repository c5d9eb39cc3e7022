package grant

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// Status is the per-operation result a grant-table op writes into its
// struct's status field (public/grant_table.h "enum grant_status"). It is a
// different type from abi.Errno, the hypercall's own return value: a batch
// of map operations returns 0 while individual elements fail (XSA-316: the
// values are always zero or negative).
type Status int16

// The GNTST_* values, typed. Xen's spelling, values from abi.
const (
	GNTST_okay              = Status(abi.GNTST_okay)
	GNTST_general_error     = Status(abi.GNTST_general_error)
	GNTST_bad_domain        = Status(abi.GNTST_bad_domain)
	GNTST_bad_gntref        = Status(abi.GNTST_bad_gntref)
	GNTST_bad_handle        = Status(abi.GNTST_bad_handle)
	GNTST_bad_virt_addr     = Status(abi.GNTST_bad_virt_addr)
	GNTST_bad_dev_addr      = Status(abi.GNTST_bad_dev_addr)
	GNTST_no_device_space   = Status(abi.GNTST_no_device_space)
	GNTST_permission_denied = Status(abi.GNTST_permission_denied)
	GNTST_bad_page          = Status(abi.GNTST_bad_page)
	GNTST_bad_copy_arg      = Status(abi.GNTST_bad_copy_arg)
	GNTST_address_too_big   = Status(abi.GNTST_address_too_big)
	GNTST_eagain            = Status(abi.GNTST_eagain)
	GNTST_no_space          = Status(abi.GNTST_no_space)
)

// Valid reports whether s is one of the GNTST_* values.
func (s Status) Valid() bool { return s <= GNTST_okay && s >= GNTST_no_space }

var statusNames = [...]string{
	"okay", "general_error", "bad_domain", "bad_gntref", "bad_handle",
	"bad_virt_addr", "bad_dev_addr", "no_device_space", "permission_denied",
	"bad_page", "bad_copy_arg", "address_too_big", "eagain", "no_space",
}

// String returns Xen's name without the GNTST_ prefix.
func (s Status) String() string {
	if !s.Valid() {
		return "GNTST(?)"
	}
	return "GNTST_" + statusNames[-int(s)]
}

// Ref is a grant reference (grant_ref_t): an index into the granting
// domain's table of grant entries.
type Ref uint32

// Handle is a grant handle (grant_handle_t): an index into the mapping
// domain's maptrack table, returned by map_grant_ref and given back to
// unmap_grant_ref.
type Handle uint32

// Layout of the v1 shared table (public/grant_table.h, struct
// grant_entry_v1 {u16 flags; domid_t domid; u32 frame}, 8 bytes).
const (
	// EntrySize is sizeof(grant_entry_v1).
	EntrySize = 8
	// EntriesPerFrame is how many v1 entries one grant frame holds (512).
	EntriesPerFrame = mm.PageSize / EntrySize
)

// Limits.
const (
	// DefaultMaxGrantFrames is Xen's default for max_grant_frames
	// (xen/common/grant_table.c opt_max_grant_frames = 64, the
	// gnttab_max_frames command-line option); libxl passes 64 too.
	DefaultMaxGrantFrames = 64
	// DefaultMaxMaptrackFrames is Xen's opt_max_maptrack_frames (1024).
	DefaultMaxMaptrackFrames = 1024
	// InitialGrantFrames is x86's INITIAL_NR_GRANT_FRAMES: a table starts
	// with one shared frame and grows on setup_table.
	InitialGrantFrames = 1
	// MaptrackPerFrame is how many mappings one maptrack frame tracks in
	// Xen (PAGE_SIZE / sizeof(struct grant_mapping) = 4096/16). gohv keeps
	// maptrack in the Go heap but counts the limit the same way.
	MaptrackPerFrame = mm.PageSize / 16
	// maxPinRetries bounds the cmpxchg loop on a shared entry the guest
	// keeps changing (Xen retries 4 times after the first attempt).
	maxPinRetries = 5
)

// Pin counts of an active entry (Xen's struct active_grant_entry.pin):
// four 8-bit counters packed in one word. A counter reaching 0x80 makes a
// new pin fail with GNTST_general_error, so none can overflow.
const (
	pinHostWrite   uint32 = 1 << 0  // writable host (CPU) mappings, and writable copies
	pinHostRead    uint32 = 1 << 8  // read-only host mappings, and read-only copies
	pinDeviceWrite uint32 = 1 << 16 // writable device (bus) mappings
	pinDeviceRead  uint32 = 1 << 24 // read-only device mappings

	pinHostWriteMask   = 0xff * pinHostWrite
	pinHostReadMask    = 0xff * pinHostRead
	pinDeviceWriteMask = 0xff * pinDeviceWrite
	pinDeviceReadMask  = 0xff * pinDeviceRead
	pinWriteMask       = pinHostWriteMask | pinDeviceWriteMask
	pinOverflowMask    = 0x80808080
)

// Flag bits as Go-typed values (abi keeps Xen's untyped spelling).
const (
	gtfTypeMask     = uint16(abi.GTF_type_mask)
	gtfPermitAccess = uint16(abi.GTF_permit_access)
	gtfReadonly     = uint16(abi.GTF_readonly)
	gtfReading      = uint16(abi.GTF_reading)
	gtfWriting      = uint16(abi.GTF_writing)
	gtfSubPage      = uint16(abi.GTF_sub_page)

	mapDevice      = uint32(abi.GNTMAP_device_map)
	mapHost        = uint32(abi.GNTMAP_host_map)
	mapReadonly    = uint32(abi.GNTMAP_readonly)
	mapApplication = uint32(abi.GNTMAP_application_map)
	mapContainsPTE = uint32(abi.GNTMAP_contains_pte)

	copySourceGref = uint16(abi.GNTCOPY_source_gref)
	copyDestGref   = uint16(abi.GNTCOPY_dest_gref)
)
