// Package xz decodes the .xz container (XZ file format 1.1.0) that Linux uses
// for a compressed bzImage payload: `xz --x86 --lzma2 --check=crc32`, one
// stream, one block, the filter chain x86 BCJ (id 0x04) then LZMA2 (id 0x21).
//
// Owns: the .xz container (stream header and footer, block headers, the index,
// the CRC32 and CRC64 checks, stream padding) and the x86 BCJ filter. The
// LZMA2 chunk decoding itself is github.com/ulikunitz/xz/lzma (Reader2), which
// supports neither the container's filter chains nor BCJ; everything around it
// is here.
//
// Imports: the standard library and github.com/ulikunitz/xz/lzma only. No
// unsafe, no assembly.
//
// Contracts:
//
//   - Input is untrusted kernel-image bytes. Every VLI, size and count is
//     checked against the input before use; nothing panics on any input.
//   - Output is bounded: Decode never returns, and never allocates for, more
//     than the caller's limit of decompressed bytes (plus the LZMA2 dictionary,
//     which is clamped to the same limit), and fails with ErrTooLarge instead.
//   - Supported: filters LZMA2 alone or x86 BCJ then LZMA2 (BCJ start offset
//     any value); checks None, CRC32 and CRC64 (not SHA-256, which would
//     link crypto/sha256 into the hypervisor); several blocks and
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
