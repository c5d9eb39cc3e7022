// Package xz decodes the .xz container (XZ file format 1.1.0) that Linux uses
// for a compressed bzImage payload: `xz --x86 --lzma2 --check=crc32`, one
// stream, one block, the filter chain x86 BCJ (id 0x04) then LZMA2 (id 0x21).
//
// Owns: the .xz container (stream header and footer, block headers, the index,
// the CRC32 and CRC64 checks, stream padding) and the x86 BCJ filter. The
// LZMA2 decoding itself is github.com/xi2/xz (a Go port of XZ Embedded,
// public domain), whose API reads whole .xz streams only: each block's LZMA2
// data is handed to it inside a minimal stream this package writes around it
// (no check, LZMA2 alone), so everything the container says (its checks, the
// filter chain, BCJ start offsets, the limits) stays decided here.
//
// Imports: the standard library and github.com/xi2/xz only: gohv's copy in
// third_party/xi2xz (go.mod's replace line), which leaves out crypto/sha256
// (Go's FIPS module would not fit the image) and has its LZMA decoder core
// rewritten for speed; its README.gohv lists the changes. No unsafe, no
// assembly.
//
// Contracts:
//
//   - Input is untrusted kernel-image bytes. Every VLI, size and count is
//     checked against the input before use; nothing panics on any input.
//   - Output is bounded: Decode never returns, and never allocates for, more
//     than the caller's limit of decompressed bytes, and fails with
//     ErrTooLarge instead, before decoding a block whose chunks hold more.
//     The LZMA2 dictionary is the block header's dictionary size clamped to
//     the block's output (rounded up to a size the format can express: at
//     most 1.5 times the output, 4 KiB at least).
//   - DecodeStreamTo streams: the output goes to an io.Writer in pieces of
//     at most 64 KiB as it is decoded, so the memory needed is the
//     dictionary and 64 KiB, whatever the output's size; DecodeStreamToDict
//     keeps the dictionary in memory the caller lends instead.
//   - Supported: filters LZMA2 alone or x86 BCJ then LZMA2 (BCJ start offset
//     any value); checks None, CRC32 and CRC64 (not SHA-256, which no
//     kernel build uses: Linux's xz_wrap.sh asks for CRC32); several blocks and
//     several concatenated streams with stream padding. Anything else is
//     refused with ErrUnsupported, never guessed at.
//   - Errors wrap one of the exported sentinels with %w; the text is one
//     sentence saying what is wrong and where.
//   - Functions are pure and safe for concurrent use.
package xz

// The .xz files in testdata are made by `go generate` (the xz command, from
// kernel/internal/testvectors).
//
//go:generate go run ../internal/testvectors/gen -xz testdata
