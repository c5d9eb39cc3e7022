package hw

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestTrampoline(t *testing.T) {
	var p [TrampSize]byte
	var upper [256]uint64
	upper[0], upper[255] = 0x1003, 0x2003
	const base = 0x8000
	Trampoline(&p, base, 0x80050033, 0x3006A0, 0xD01, &upper, 0xFFFF82D040123456, 0xFFFF82D040200000, 0xFFFF82D040300000, 0x201000)
	le := binary.LittleEndian
	// Real mode: lgdt [0x0F20], then jmp far 0x08:0x8020.
	if !bytes.Equal(p[5:11], []byte{0x66, 0x0F, 0x01, 0x16, 0x20, 0x0F}) {
		t.Errorf("lgdt % x", p[5:11])
	}
	if p[21] != 0x66 || p[22] != 0xEA || le.Uint32(p[23:]) != base+tramp32 || le.Uint16(p[27:]) != 0x08 {
		t.Errorf("far jump to 32-bit code % x", p[21:29])
	}
	// 32-bit: ends with jmp far 0x18:0x8060 before tramp64.
	j := bytes.LastIndexByte(p[tramp32:tramp64], 0xEA)
	if j < 0 || le.Uint32(p[tramp32+j+1:]) != base+tramp64 || le.Uint16(p[tramp32+j+5:]) != 0x18 {
		t.Errorf("far jump to 64-bit code at %d: % x", j, p[tramp32:tramp64])
	}
	// Each data load names its slot.
	for _, off := range []uint32{TrampCR4, TrampCR3, TrampEFER, TrampCR0} {
		if !bytes.Contains(p[tramp32:tramp64], le.AppendUint32([]byte{0xA1}, base+off)) {
			t.Errorf("no load of %#x", off)
		}
	}
	for _, off := range []uint32{TrampStack, TrampCPU, TrampGoCR3, TrampEntry} {
		if !bytes.Contains(p[tramp64:tramp64+64], le.AppendUint32(nil, base+off)) {
			t.Errorf("64-bit code does not load %#x", off)
		}
	}
	if le.Uint16(p[TrampGDTR:]) != 31 || le.Uint32(p[TrampGDTR+2:]) != base+TrampGDT {
		t.Errorf("GDTR % x", p[TrampGDTR:TrampGDTR+6])
	}
	if le.Uint64(p[TrampGDT+0x18:]) != 0x00AF9A000000FFFF || le.Uint64(p[TrampGDT:]) != 0 {
		t.Errorf("GDT")
	}
	if le.Uint32(p[TrampCR0:]) != 0x80050033 || le.Uint32(p[TrampEFER:]) != 0x901 || le.Uint32(p[TrampCR3:]) != base+TrampPML4 {
		t.Errorf("CR0 %#x EFER %#x CR3 %#x", le.Uint32(p[TrampCR0:]), le.Uint32(p[TrampEFER:]), le.Uint32(p[TrampCR3:]))
	}
	if le.Uint32(p[TrampCR0:]) != 0x80050033 {
		t.Errorf("CR0")
	}
	if le.Uint64(p[TrampEntry:]) != 0xFFFF82D040123456 || le.Uint64(p[TrampGoCR3:]) != 0x201000 {
		t.Errorf("entry/CR3")
	}
	if le.Uint64(p[TrampPML4:]) != base+TrampPDPT|3 || le.Uint64(p[TrampPDPT:]) != base+TrampPD|3 || le.Uint64(p[TrampPD:]) != 0x83 {
		t.Errorf("identity map")
	}
	if le.Uint64(p[TrampPML4+8*256:]) != 0x1003 || le.Uint64(p[TrampPML4+8*511:]) != 0x2003 {
		t.Errorf("upper half")
	}
	if !TrampolineOK(base) || TrampolineOK(0) || TrampolineOK(0x8800) || TrampolineOK(0xFD000) || SIPIVector(base) != 8 {
		t.Errorf("TrampolineOK/SIPIVector")
	}
}
