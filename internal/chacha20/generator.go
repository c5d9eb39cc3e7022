package chacha20

// Generator is a ChaCha20 random generator with fast key erasure (as
// Bernstein describes it, and as Linux's and OpenBSD's arc4random work):
// each refill computes one block under the current key; its first 32
// bytes become the next key at once and only the other 32 are handed
// out, each wiped as it goes. So the state never holds anything that
// would let someone who reads it later reconstruct earlier output.
//
// Entropy goes in through Mix (any number of 64-bit samples, absorbed
// into the key through the block function) and takes effect at the next
// refill. The zero Generator is usable but predictable: seed it first.
type Generator struct {
	key   [8]uint32
	nonce [3]uint32 // counts refills, so no two blocks share an input
	buf   [64]byte  // the last block: bytes [32:64] are output
	avail int       // output bytes left in buf, taken from the end
	block [64]byte  // scratch
	mixes uint32    // samples absorbed since the last rekey
}

// Mix absorbs one entropy sample: it is XORed into the key, and every
// fourth sample (and at every Rekey) the key is replaced by a block
// computed under it, so every sample affects the whole key.
//
//go:nosplit
func (g *Generator) Mix(sample uint64) {
	i := int(g.mixes&3) * 2
	g.key[i&7] ^= uint32(sample)
	g.key[(i+1)&7] ^= uint32(sample >> 32)
	g.mixes++
	if g.mixes&3 == 0 {
		g.Rekey()
	}
}

// Rekey replaces the key with a block computed under it (a distinct
// counter from the output blocks) and drops buffered output, so whatever
// was mixed in since governs all output from here on.
//
//go:nosplit
func (g *Generator) Rekey() {
	Block(&g.block, &g.key, 1, &g.nonce)
	g.nonce[0]++
	if g.nonce[0] == 0 {
		g.nonce[1]++
	}
	for i := 0; i < 8; i++ {
		g.key[i&7] = word(&g.block, i)
	}
	g.wipe(&g.block)
	g.wipe(&g.buf)
	g.avail = 0
}

// refill computes the next block: its first half is the new key, its
// second half the next 32 output bytes.
//
//go:nosplit
func (g *Generator) refill() {
	Block(&g.buf, &g.key, 0, &g.nonce)
	g.nonce[0]++
	if g.nonce[0] == 0 {
		g.nonce[1]++
	}
	for i := 0; i < 8; i++ {
		g.key[i&7] = word(&g.buf, i)
		put(&g.buf, i, 0)
	}
	g.avail = 32
}

// Uint64 returns the next 8 random bytes.
//
//go:nosplit
func (g *Generator) Uint64() uint64 {
	if g.avail < 8 {
		g.refill()
	}
	g.avail -= 8
	i := (32 + g.avail) & 56 // byte offset of the word pair taken, in [32, 56]
	lo, hi := word(&g.buf, i/4), word(&g.buf, i/4+1)
	put(&g.buf, i/4, 0)
	put(&g.buf, i/4+1, 0)
	return uint64(lo) | uint64(hi)<<32
}

//go:nosplit
func (g *Generator) wipe(b *[64]byte) {
	for i := 0; i < 16; i++ {
		put(b, i, 0)
	}
}
