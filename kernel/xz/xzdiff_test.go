package xz

import (
	"bytes"
	"fmt"
	"math/rand"
	"os/exec"
	"testing"

	"github.com/gohv/gohv/internal/testenv"
)

// diffInputs are plaintexts that take the LZMA decoder down each of its
// paths: incompressible bytes (literals), runs of one byte and short
// periods (long overlapping matches, distance 0 included), repeats from far
// back (long distances with direct and alignment bits), a text-like mix
// (rep matches, matched literals) and x86 code (what BCJ filters).
func diffInputs() map[string][]byte {
	r := rand.New(rand.NewSource(9))
	random := make([]byte, 300<<10)
	r.Read(random)
	runs := make([]byte, 0, 400<<10)
	for len(runs) < 400<<10 {
		n := 1 + r.Intn(2000)
		period := 1 + r.Intn(9)
		pat := make([]byte, period)
		r.Read(pat)
		for i := 0; i < n; i++ {
			runs = append(runs, pat[i%period])
		}
	}
	far := make([]byte, 0, 600<<10)
	block := make([]byte, 64<<10)
	r.Read(block)
	for len(far) < 600<<10 {
		off := r.Intn(len(block) - 300)
		far = append(far, block[off:off+1+r.Intn(299)]...)
		far = append(far, byte(r.Intn(256)))
	}
	words := []string{"domain", "vCPU", "grant", "port", "MFN", "PFN", "event", "channel", "page", "table", " ", "\n", ", "}
	var text bytes.Buffer
	for text.Len() < 500<<10 {
		text.WriteString(words[r.Intn(len(words))])
		if r.Intn(7) == 0 {
			fmt.Fprintf(&text, "%d", r.Intn(100000))
		}
	}
	return map[string][]byte{
		"random": random, "runs": runs, "far": far, "text": text.Bytes(),
		"x86": genX86(512<<10, 3),
	}
}

// TestDecodeAgainstXZ: what the xz tool compresses, with and without its
// x86 BCJ filter, with dictionaries smaller than the input (the dictionary
// wraps) and several blocks, decodes to the same bytes here.
func TestDecodeAgainstXZ(t *testing.T) {
	testenv.NeedTool(t, "xz")
	opts := [][]string{
		{"--lzma2=preset=6"},
		{"--x86", "--lzma2=preset=9e"},
		{"--lzma2=dict=4KiB,lc=0,lp=2,pb=0"},
		{"--x86", "--lzma2=dict=64KiB,lc=4,lp=0,pb=4", "--block-size=100000"},
		{"--lzma2=preset=0,dict=8KiB", "--check=crc64"},
	}
	for name, plain := range diffInputs() {
		for i, o := range opts {
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
				cmd := exec.Command("xz", append([]string{"-c", "--format=xz", "--check=crc32"}, o...)...)
				cmd.Stdin = bytes.NewReader(plain)
				packed, err := cmd.Output()
				if err != nil {
					t.Fatalf("xz %v: %v", o, err)
				}
				got, err := Decode(packed, len(plain)+1)
				if err != nil {
					t.Fatalf("xz %v: %v", o, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("xz %v: %d bytes decoded differ from the %d plain bytes", o, len(got), len(plain))
				}
			})
		}
	}
}
