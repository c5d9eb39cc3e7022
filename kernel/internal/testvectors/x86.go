package testvectors

import "encoding/binary"

// X86Code returns n bytes that look enough like x86-64 code to exercise the
// BCJ filter: runs of common opcodes, CALL/JMP rel32 to a handful of targets
// (so the filter's absolute form compresses), and E8/E9 bytes in awkward
// places (back to back, followed by non-displacement bytes, at the very end).
// It is deterministic: kernel/xz's test vectors are xz's compression of
// X86Code(XZPlainSize, 1).
func X86Code(n int, seed uint64) []byte {
	x := seed*0x9e3779b97f4a7c15 + 1
	rnd := func() uint64 { // xorshift64*
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		return x * 0x2545f4914f6cdd1d
	}
	ops := []byte{0x48, 0x89, 0xc7, 0x8b, 0x45, 0xf8, 0x83, 0xc4, 0x08, 0x55, 0x5d, 0xc3, 0x90, 0x31, 0xc0, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xff, 0x74, 0x0e}
	targets := make([]int64, 8)
	for i := range targets {
		targets[i] = int64(rnd() % uint64(2*n+1))
	}
	b := make([]byte, 0, n+16)
	for len(b) < n {
		switch r := rnd() % 32; {
		case r < 16: // a few ordinary opcode bytes
			for k := int(rnd()%6) + 1; k > 0; k-- {
				b = append(b, ops[rnd()%uint64(len(ops))])
			}
		case r < 27: // call or jmp to a known target
			op := byte(0xe8)
			if r >= 25 {
				op = 0xe9
			}
			rel := targets[rnd()%uint64(len(targets))] - int64(len(b)+5)
			b = append(b, op)
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(rel)))
		case r < 28: // E8/E9 runs: overlapping candidates
			for k := int(rnd()%4) + 2; k > 0; k-- {
				b = append(b, 0xe8+byte(rnd()%2))
			}
			b = append(b, byte(rnd()), 0x00, 0xff, byte(rnd()))
		case r < 29: // E8 followed by a large operand: not converted
			b = append(b, 0xe8, byte(rnd()), byte(rnd()), byte(rnd()), 0x40|byte(rnd()%0x40))
		case r < 31: // zero run
			b = append(b, make([]byte, rnd()%24)...)
		default: // random bytes
			for k := int(rnd()%8) + 1; k > 0; k-- {
				b = append(b, byte(rnd()))
			}
		}
	}
	b = b[:n]
	b[n-3] = 0xe8 // an opcode too close to the end to convert
	return b
}

// XZPlainSize is the size of the plaintext of kernel/xz's test vectors.
const XZPlainSize = 8 << 10

// XZVector is one .xz file in kernel/xz/testdata, made by `xz` (XZ Utils
// 5.4) from X86Code(XZPlainSize, 1) with Args.
type XZVector struct {
	File  string
	Args  []string
	Twice bool // the file holds two streams, the plaintext twice; not in testdata, the tests build it
}

// XZVectors are the vectors kernel/xz decodes.
var XZVectors = []XZVector{
	{"x86_crc32.xz", []string{"--x86", "--lzma2=preset=6,dict=32MiB", "--check=crc32"}, false}, // Linux's xz_wrap.sh
	{"x86_crc64.xz", []string{"--x86", "--lzma2", "--check=crc64"}, false},
	{"x86_start.xz", []string{"--x86=start=4096", "--lzma2", "--check=crc32"}, false},
	{"lzma2_none.xz", []string{"--lzma2", "--check=none"}, false},
	// Multi-threaded xz stores both sizes in each block header.
	{"x86_blocks.xz", []string{"-T2", "--block-size=2048", "--x86", "--lzma2", "--check=crc32"}, false},
	{"concat.xz", nil, true}, // x86_crc32.xz, 8 bytes of stream padding, lzma2_none.xz
}

// XZUnsupported are vectors with filters or checks kernel/xz refuses.
var XZUnsupported = []XZVector{
	{"delta.xz", []string{"--delta=dist=4", "--lzma2", "--check=crc32"}, false},
	{"arm.xz", []string{"--arm", "--lzma2", "--check=crc32"}, false},
	{"x86_sha256.xz", []string{"--x86", "--lzma2", "--check=sha256"}, false},
}
