package xz

import (
	"bytes"
	"testing"

	"github.com/gohv/gohv/internal/testenv"
)

// vmlinuzPayload returns the XZ stream inside the bzImage GOHV_VMLINUZ
// names (the first offset where the xz magic starts a stream that decodes);
// without it, internal/testenv decides (a skip under plain go test only).
func vmlinuzPayload(tb testing.TB) []byte {
	tb.Helper()
	img := testenv.ReadEnvFile(tb, "GOHV_VMLINUZ", "`make test` sets it from scripts/fetch-kernel.sh")
	for off := 0; ; off++ {
		i := bytes.Index(img[off:], headerMagic)
		if i < 0 {
			tb.Fatal("GOHV_VMLINUZ holds no xz stream")
		}
		off += i
		if _, _, err := DecodeStream(img[off:], 256<<20, 0); err == nil {
			return img[off:]
		}
	}
}

// BenchmarkDecodeVmlinuz decodes Debian's kernel payload (GOHV_VMLINUZ).
func BenchmarkDecodeVmlinuz(b *testing.B) {
	src := vmlinuzPayload(b)
	b.ResetTimer()
	for b.Loop() {
		out, _, err := DecodeStream(src, 256<<20, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

// TestDecodeVmlinuzStreaming: on Debian's kernel payload, the streaming
// decode gives the one-shot decode's bytes.
func TestDecodeVmlinuzStreaming(t *testing.T) {
	src := vmlinuzPayload(t)
	want, wn, err := DecodeStream(src, 256<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := &chunkWriter{t: t}
	n, err := DecodeStreamTo(w, src, 256<<20)
	if err != nil || n != wn || !bytes.Equal(w.b, want) {
		t.Fatalf("DecodeStreamTo: n %d (want %d), err %v, equal %v", n, wn, err, bytes.Equal(w.b, want))
	}
	t.Logf("%d-byte stream, %d bytes out in %d pieces", n, len(want), w.pieces)
}
