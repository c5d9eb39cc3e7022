package testvectors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The compressed test kernels in kernel/testdata: LinuxELF().Bytes() packed
// as Linux's build packs a bzImage payload, followed by Linux's 4-byte
// little-endian size trailer.
const (
	KernelXZ    = "kernel.elf.xz"  // xz --x86 --lzma2=dict=32MiB --check=crc32
	KernelBzip2 = "kernel.elf.bz2" // bzip2 -9
)

// WriteKernel writes KernelXZ and KernelBzip2 into dir with the xz and bzip2
// commands.
func WriteKernel(dir string) error {
	plain := LinuxELF().Bytes()
	for _, v := range []struct {
		file string
		cmd  []string
	}{
		{KernelXZ, []string{"xz", "--format=xz", "--x86", "--lzma2=dict=32MiB", "--check=crc32", "--stdout"}},
		{KernelBzip2, []string{"bzip2", "-9", "--stdout"}},
	} {
		out, err := run(v.cmd, plain)
		if err != nil {
			return err
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(len(plain)))
		if err := os.WriteFile(filepath.Join(dir, v.file), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteXZ writes the files of XZVectors (but those the tests build) and
// XZUnsupported into dir with the xz command.
func WriteXZ(dir string) error {
	plain := X86Code(XZPlainSize, 1)
	for _, v := range append(append([]XZVector(nil), XZVectors...), XZUnsupported...) {
		if v.Twice {
			continue
		}
		out, err := run(append([]string{"xz", "--format=xz", "--stdout"}, v.Args...), plain)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, v.File), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// run runs cmd with stdin as its input and returns its output.
func run(cmd []string, stdin []byte) ([]byte, error) {
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %v: %s", cmd, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
