package grant

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
)

// Wire codecs for the GNTTABOP structs, little-endian x86_64 layout of
// public/grant_table.h (sizes and offsets are checked against abi's
// generated structs in codec_test.go). Decode reads a whole struct from b
// and reports false if b is too short; Encode writes every field;
// EncodeOut writes only the fields Xen hands back (status and results),
// leaving the guest's input bytes in b untouched. Padding bytes are
// ignored on decode and written as zero by Encode.

// Struct sizes in bytes.
const (
	SizeofMapOp        = 32 // struct gnttab_map_grant_ref
	SizeofUnmapOp      = 24 // struct gnttab_unmap_grant_ref
	SizeofSetupTableOp = 24 // struct gnttab_setup_table
	SizeofCopyOp       = 40 // struct gnttab_copy
	SizeofQuerySizeOp  = 16 // struct gnttab_query_size
	SizeofSetVersionOp = 4  // struct gnttab_set_version
	SizeofGetVersionOp = 8  // struct gnttab_get_version
)

var le = binary.LittleEndian

// Decode reads struct gnttab_map_grant_ref: host_addr@0 flags@8 ref@12
// dom@16 status@18 handle@20 dev_bus_addr@24.
func (op *MapOp) Decode(b []byte) bool {
	if len(b) < SizeofMapOp {
		return false
	}
	*op = MapOp{
		HostAddr:   le.Uint64(b[0:]),
		Flags:      le.Uint32(b[8:]),
		Ref:        Ref(le.Uint32(b[12:])),
		Dom:        abi.DomID(le.Uint16(b[16:])),
		Status:     Status(le.Uint16(b[18:])),
		Handle:     Handle(le.Uint32(b[20:])),
		DevBusAddr: le.Uint64(b[24:]),
	}
	return true
}

// Encode writes every field of op into b.
func (op *MapOp) Encode(b []byte) bool {
	if len(b) < SizeofMapOp {
		return false
	}
	le.PutUint64(b[0:], op.HostAddr)
	le.PutUint32(b[8:], op.Flags)
	le.PutUint32(b[12:], uint32(op.Ref))
	le.PutUint16(b[16:], uint16(op.Dom))
	return op.EncodeOut(b)
}

// EncodeOut writes status, handle and dev_bus_addr.
func (op *MapOp) EncodeOut(b []byte) bool {
	if len(b) < SizeofMapOp {
		return false
	}
	le.PutUint16(b[18:], uint16(op.Status))
	le.PutUint32(b[20:], uint32(op.Handle))
	le.PutUint64(b[24:], op.DevBusAddr)
	return true
}

// Decode reads struct gnttab_unmap_grant_ref: host_addr@0
// dev_bus_addr@8 handle@16 status@20.
func (op *UnmapOp) Decode(b []byte) bool {
	if len(b) < SizeofUnmapOp {
		return false
	}
	*op = UnmapOp{
		HostAddr:   le.Uint64(b[0:]),
		DevBusAddr: le.Uint64(b[8:]),
		Handle:     Handle(le.Uint32(b[16:])),
		Status:     Status(le.Uint16(b[20:])),
	}
	return true
}

// Encode writes every field of op into b.
func (op *UnmapOp) Encode(b []byte) bool {
	if len(b) < SizeofUnmapOp {
		return false
	}
	le.PutUint64(b[0:], op.HostAddr)
	le.PutUint64(b[8:], op.DevBusAddr)
	le.PutUint32(b[16:], uint32(op.Handle))
	le.PutUint16(b[22:], 0)
	return op.EncodeOut(b)
}

// EncodeOut writes status.
func (op *UnmapOp) EncodeOut(b []byte) bool {
	if len(b) < SizeofUnmapOp {
		return false
	}
	le.PutUint16(b[20:], uint16(op.Status))
	return true
}

// SetupTableOp is struct gnttab_setup_table.
type SetupTableOp struct {
	// In.
	Dom       abi.DomID
	NrFrames  uint32
	FrameList abi.GuestHandle // where the hypercall layer writes nr_frames xen_pfn_t
	// Out.
	Status Status
}

// Decode reads dom@0 nr_frames@4 status@8 frame_list@16.
func (op *SetupTableOp) Decode(b []byte) bool {
	if len(b) < SizeofSetupTableOp {
		return false
	}
	*op = SetupTableOp{
		Dom:       abi.DomID(le.Uint16(b[0:])),
		NrFrames:  le.Uint32(b[4:]),
		Status:    Status(le.Uint16(b[8:])),
		FrameList: abi.GuestHandle(le.Uint64(b[16:])),
	}
	return true
}

// Encode writes every field of op into b.
func (op *SetupTableOp) Encode(b []byte) bool {
	if len(b) < SizeofSetupTableOp {
		return false
	}
	clear(b[:SizeofSetupTableOp])
	le.PutUint16(b[0:], uint16(op.Dom))
	le.PutUint32(b[4:], op.NrFrames)
	le.PutUint64(b[16:], uint64(op.FrameList))
	return op.EncodeOut(b)
}

// EncodeOut writes status.
func (op *SetupTableOp) EncodeOut(b []byte) bool {
	if len(b) < SizeofSetupTableOp {
		return false
	}
	le.PutUint16(b[8:], uint16(op.Status))
	return true
}

// Decode reads struct gnttab_copy: source{u@0 domid@8 offset@10}
// dest{u@16 domid@24 offset@26} len@32 flags@34 status@36.
func (op *CopyOp) Decode(b []byte) bool {
	if len(b) < SizeofCopyOp {
		return false
	}
	*op = CopyOp{
		Source: CopyPtr{U: le.Uint64(b[0:]), Dom: abi.DomID(le.Uint16(b[8:])), Offset: le.Uint16(b[10:])},
		Dest:   CopyPtr{U: le.Uint64(b[16:]), Dom: abi.DomID(le.Uint16(b[24:])), Offset: le.Uint16(b[26:])},
		Len:    le.Uint16(b[32:]),
		Flags:  le.Uint16(b[34:]),
		Status: Status(le.Uint16(b[36:])),
	}
	return true
}

// Encode writes every field of op into b.
func (op *CopyOp) Encode(b []byte) bool {
	if len(b) < SizeofCopyOp {
		return false
	}
	clear(b[:SizeofCopyOp])
	le.PutUint64(b[0:], op.Source.U)
	le.PutUint16(b[8:], uint16(op.Source.Dom))
	le.PutUint16(b[10:], op.Source.Offset)
	le.PutUint64(b[16:], op.Dest.U)
	le.PutUint16(b[24:], uint16(op.Dest.Dom))
	le.PutUint16(b[26:], op.Dest.Offset)
	le.PutUint16(b[32:], op.Len)
	le.PutUint16(b[34:], op.Flags)
	return op.EncodeOut(b)
}

// EncodeOut writes status.
func (op *CopyOp) EncodeOut(b []byte) bool {
	if len(b) < SizeofCopyOp {
		return false
	}
	le.PutUint16(b[36:], uint16(op.Status))
	return true
}

// QuerySizeOp is struct gnttab_query_size.
type QuerySizeOp struct {
	// In.
	Dom abi.DomID
	// Out.
	NrFrames    uint32
	MaxNrFrames uint32
	Status      Status
}

// Decode reads dom@0 nr_frames@4 max_nr_frames@8 status@12.
func (op *QuerySizeOp) Decode(b []byte) bool {
	if len(b) < SizeofQuerySizeOp {
		return false
	}
	*op = QuerySizeOp{
		Dom:         abi.DomID(le.Uint16(b[0:])),
		NrFrames:    le.Uint32(b[4:]),
		MaxNrFrames: le.Uint32(b[8:]),
		Status:      Status(le.Uint16(b[12:])),
	}
	return true
}

// Encode writes every field of op into b.
func (op *QuerySizeOp) Encode(b []byte) bool {
	if len(b) < SizeofQuerySizeOp {
		return false
	}
	clear(b[:SizeofQuerySizeOp])
	le.PutUint16(b[0:], uint16(op.Dom))
	return op.EncodeOut(b)
}

// EncodeOut writes nr_frames, max_nr_frames and status.
func (op *QuerySizeOp) EncodeOut(b []byte) bool {
	if len(b) < SizeofQuerySizeOp {
		return false
	}
	le.PutUint32(b[4:], op.NrFrames)
	le.PutUint32(b[8:], op.MaxNrFrames)
	le.PutUint16(b[12:], uint16(op.Status))
	return true
}

// SetVersionOp is struct gnttab_set_version: version is in and out.
type SetVersionOp struct {
	Version uint32
}

// Decode reads version@0.
func (op *SetVersionOp) Decode(b []byte) bool {
	if len(b) < SizeofSetVersionOp {
		return false
	}
	op.Version = le.Uint32(b)
	return true
}

// Encode writes version (also the only out field).
func (op *SetVersionOp) Encode(b []byte) bool {
	if len(b) < SizeofSetVersionOp {
		return false
	}
	le.PutUint32(b, op.Version)
	return true
}

// GetVersionOp is struct gnttab_get_version.
type GetVersionOp struct {
	// In.
	Dom abi.DomID
	// Out.
	Version uint32
}

// Decode reads dom@0 pad@2 version@4.
func (op *GetVersionOp) Decode(b []byte) bool {
	if len(b) < SizeofGetVersionOp {
		return false
	}
	*op = GetVersionOp{Dom: abi.DomID(le.Uint16(b[0:])), Version: le.Uint32(b[4:])}
	return true
}

// Encode writes every field of op into b.
func (op *GetVersionOp) Encode(b []byte) bool {
	if len(b) < SizeofGetVersionOp {
		return false
	}
	le.PutUint16(b[0:], uint16(op.Dom))
	le.PutUint16(b[2:], 0)
	return op.EncodeOut(b)
}

// EncodeOut writes version.
func (op *GetVersionOp) EncodeOut(b []byte) bool {
	if len(b) < SizeofGetVersionOp {
		return false
	}
	le.PutUint32(b[4:], op.Version)
	return true
}
