package chacha20

import (
	"encoding/binary"
	"encoding/hex"
	"testing"
)

func words(t *testing.T, h string, n int) []uint32 {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 4*n {
		t.Fatalf("bad hex %q", h)
	}
	w := make([]uint32, n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

// TestBlockRFC8439 checks the block function against RFC 8439: section
// 2.3.2's test vector and appendix A.1's vectors 1, 2 and 4.
func TestBlockRFC8439(t *testing.T) {
	for _, tc := range []struct {
		name, key   string
		counter     uint32
		nonce, want string
	}{
		{"2.3.2", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 1,
			"000000090000004a00000000",
			"10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e" +
				"d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"},
		{"A.1 #1", "0000000000000000000000000000000000000000000000000000000000000000", 0,
			"000000000000000000000000",
			"76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7" +
				"da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"},
		{"A.1 #2", "0000000000000000000000000000000000000000000000000000000000000000", 1,
			"000000000000000000000000",
			"9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed" +
				"29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f"},
		{"A.1 #4", "00ff000000000000000000000000000000000000000000000000000000000000", 2,
			"000000000000000000000000",
			"72d54dfbf12ec44b362692df94137f328fea8da73990265ec1bbbea1ae9af0ca" +
				"13b25aa26cb4a648cb9b9d1be65b2c0924a66c54d545ec1b7374f4872e99f096"},
	} {
		var key [8]uint32
		var nonce [3]uint32
		copy(key[:], words(t, tc.key, 8))
		copy(nonce[:], words(t, tc.nonce, 3))
		var out [64]byte
		Block(&out, &key, tc.counter, &nonce)
		if got := hex.EncodeToString(out[:]); got != tc.want {
			t.Errorf("%s: block\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

// TestQuarterRoundRFC8439 is section 2.1.1's vector.
func TestQuarterRoundRFC8439(t *testing.T) {
	a, b, c, d := quarter(0x11111111, 0x01020304, 0x9b8d6f43, 0x01234567)
	if a != 0xea2a92f4 || b != 0xcb1cf8ce || c != 0x4581472e || d != 0x5881c4bb {
		t.Errorf("quarter round = %#x %#x %#x %#x", a, b, c, d)
	}
}

// TestGeneratorKeyErasure: output is the second half of each block under
// the running key; the first half becomes the next key, and nothing of
// the handed-out output stays in the state.
func TestGeneratorKeyErasure(t *testing.T) {
	var g Generator
	g.Mix(0x0123456789abcdef)
	g.Rekey()
	key, nonce := g.key, g.nonce
	var blk [64]byte
	Block(&blk, &key, 0, &nonce)
	var got [4]uint64
	for i := range got {
		got[i] = g.Uint64()
	}
	// Taken from the end of the block backwards, 8 bytes at a time.
	for i := range got {
		off := 56 - 8*i
		if want := binary.LittleEndian.Uint64(blk[off:]); got[i] != want {
			t.Errorf("output %d = %#x, want %#x", i, got[i], want)
		}
	}
	for i := 0; i < 8; i++ {
		if g.key[i] != binary.LittleEndian.Uint32(blk[4*i:]) {
			t.Fatalf("key word %d is not the block's first half", i)
		}
	}
	for i, b := range g.buf {
		if b != 0 {
			t.Fatalf("buf[%d] = %#x after all output was taken", i, b)
		}
	}
	if g.nonce[0] != nonce[0]+1 {
		t.Errorf("nonce %v after one refill from %v", g.nonce, nonce)
	}
}

// TestGeneratorMix: different samples give different streams, the same
// samples the same one, and a sample mixed after output changes what
// follows.
func TestGeneratorMix(t *testing.T) {
	stream := func(samples ...uint64) [8]uint64 {
		var g Generator
		for _, s := range samples {
			g.Mix(s)
		}
		g.Rekey()
		var out [8]uint64
		for i := range out {
			out[i] = g.Uint64()
		}
		return out
	}
	a, b, a2 := stream(1, 2, 3), stream(1, 2, 4), stream(1, 2, 3)
	if a != a2 {
		t.Error("same samples, different output")
	}
	if a == b {
		t.Error("different samples, same output")
	}
	seen := map[uint64]bool{}
	for _, v := range a {
		if seen[v] {
			t.Errorf("repeated output %#x", v)
		}
		seen[v] = true
	}
	var g, h Generator
	g.Mix(7)
	h.Mix(7)
	g.Rekey()
	h.Rekey()
	if g.Uint64() != h.Uint64() {
		t.Fatal("twins differ")
	}
	g.Mix(8)
	g.Rekey()
	if g.Uint64() == h.Uint64() {
		t.Error("a sample mixed in did not change the output")
	}
}

// TestGeneratorNoAlloc: the metal calls these with no heap behind them.
func TestGeneratorNoAlloc(t *testing.T) {
	var g Generator
	if n := testing.AllocsPerRun(100, func() { g.Mix(1); g.Uint64(); g.Rekey() }); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}
