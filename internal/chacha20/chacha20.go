package chacha20

// Block computes the ChaCha20 block for key (eight little-endian words),
// block counter and nonce (three words) into out: RFC 8439 section 2.3,
// 20 rounds, the input added back, serialised little-endian.
//
//go:nosplit
func Block(out *[64]byte, key *[8]uint32, counter uint32, nonce *[3]uint32) {
	// "expand 32-byte k"
	const c0, c1, c2, c3 = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	x0, x1, x2, x3 := uint32(c0), uint32(c1), uint32(c2), uint32(c3)
	x4, x5, x6, x7 := key[0], key[1], key[2], key[3]
	x8, x9, x10, x11 := key[4], key[5], key[6], key[7]
	x12, x13, x14, x15 := counter, nonce[0], nonce[1], nonce[2]
	for i := 0; i < 10; i++ {
		// Column rounds.
		x0, x4, x8, x12 = quarter(x0, x4, x8, x12)
		x1, x5, x9, x13 = quarter(x1, x5, x9, x13)
		x2, x6, x10, x14 = quarter(x2, x6, x10, x14)
		x3, x7, x11, x15 = quarter(x3, x7, x11, x15)
		// Diagonal rounds.
		x0, x5, x10, x15 = quarter(x0, x5, x10, x15)
		x1, x6, x11, x12 = quarter(x1, x6, x11, x12)
		x2, x7, x8, x13 = quarter(x2, x7, x8, x13)
		x3, x4, x9, x14 = quarter(x3, x4, x9, x14)
	}
	put(out, 0, x0+c0)
	put(out, 1, x1+c1)
	put(out, 2, x2+c2)
	put(out, 3, x3+c3)
	put(out, 4, x4+key[0])
	put(out, 5, x5+key[1])
	put(out, 6, x6+key[2])
	put(out, 7, x7+key[3])
	put(out, 8, x8+key[4])
	put(out, 9, x9+key[5])
	put(out, 10, x10+key[6])
	put(out, 11, x11+key[7])
	put(out, 12, x12+counter)
	put(out, 13, x13+nonce[0])
	put(out, 14, x14+nonce[1])
	put(out, 15, x15+nonce[2])
}

// quarter is the quarter round of RFC 8439 section 2.1.
//
//go:nosplit
func quarter(a, b, c, d uint32) (uint32, uint32, uint32, uint32) {
	a += b
	d ^= a
	d = d<<16 | d>>16
	c += d
	b ^= c
	b = b<<12 | b>>20
	a += b
	d ^= a
	d = d<<8 | d>>24
	c += d
	b ^= c
	b = b<<7 | b>>25
	return a, b, c, d
}

// put stores word i of a block little-endian (i < 16).
//
//go:nosplit
func put(out *[64]byte, i int, v uint32) {
	o := out[(i&15)*4 : (i&15)*4+4 : (i&15)*4+4]
	o[0], o[1], o[2], o[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// word loads word i (i < 16) of a block little-endian.
//
//go:nosplit
func word(b *[64]byte, i int) uint32 {
	o := b[(i&15)*4 : (i&15)*4+4 : (i&15)*4+4]
	return uint32(o[0]) | uint32(o[1])<<8 | uint32(o[2])<<16 | uint32(o[3])<<24
}
