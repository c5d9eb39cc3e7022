package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Counts and sizes of the bench task's loops; gohv.getppids, gohv.forks
// and gohv.vforks set other counts.
const (
	getppidCalls = 1_000_000
	forkExecs    = 1_000
	// diskBytes is how much the disk read reads, in diskChunk reads.
	diskBytes = 64 << 20
	diskChunk = 1 << 20
	// diskBlock is the unit of the disk image's pattern (see readDisk).
	diskBlock = 4096
)

// forkHelper is the C program that times a real fork+exec+exit
// (cmd/dom0init/forkexec/forkexec.c, built into the archive by
// cmd/mkinitramfs).
const forkHelper = "/usr/libexec/forkexec"

// bench runs the bench task (see the package comment). It prints a FAIL
// line for what it cannot measure and goes on.
func bench(params []string) {
	calls, err1 := count(params, "gohv.getppids", getppidCalls)
	forks, err2 := count(params, "gohv.forks", forkExecs)
	vforks, err3 := count(params, "gohv.vforks", forkExecs)
	if err := errors.Join(err1, err2, err3); err != nil {
		fail("bench", err)
		return
	}
	if calls > 0 {
		ns := timeGetppid(calls)
		line := fmt.Sprintf("bench: getppid %.1f ns/op", ns)
		if mhz, err := cpuMHz(); err == nil {
			line += fmt.Sprintf(" (%.0f cycles/op at %.0f MHz)", ns*mhz/1000, mhz)
		}
		say("%s", line)
	}
	exit0 := "/tmp/exit0"
	if err := os.WriteFile(exit0, exitProgram(), 0o755); err != nil {
		fail("bench write "+exit0, err)
	} else {
		if forks > 0 {
			if us, err := timeFork(forkHelper, exit0, forks); err != nil {
				fail("bench fork+exec+exit", err)
			} else {
				say("bench: fork+exec+exit %.1f us/op (fork)", us)
			}
		}
		if vforks > 0 {
			if us, err := timeVforkExec(exit0, vforks); err != nil {
				fail("bench vfork+exec+exit", err)
			} else {
				say("bench: vfork+exec+exit %.1f us/op (vfork)", us)
			}
		}
	}
	if dev := param(params, "gohv.disk", ""); dev != "" {
		if mbs, err := readDisk("/dev/"+dev, diskBytes); err != nil {
			fail("bench disk read", err)
		} else {
			say("bench: disk read %d MiB O_DIRECT from /dev/%s: %.1f MB/s", diskBytes>>20, dev, mbs)
		}
	}
	if _, err := os.Stat("/proc/xen/privcmd"); err == nil {
		// gohv answers no sysctl; the bench's client says where a
		// figure is missing.
		if total, free, dom0, err := xenMemory(); err != nil {
			say("bench: memory: not available: %v", err)
		} else {
			say("bench: memory: total %d KiB, free %d KiB, dom0 %d KiB", total*4, free*4, dom0*4)
		}
	}
	if param(params, "gohv.port", "") != "" {
		if err := serve(params); err != nil {
			fail("net", err)
		}
	}
}

// count is the bench loop count params give for key (def if none): a
// decimal number, 0 or more.
func count(params []string, key string, def int) (int, error) {
	v := param(params, key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a count, 0 or more", key, v)
	}
	return n, nil
}

// timeGetppid returns the mean time of one getppid system call over n.
func timeGetppid(n int) float64 {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		syscall.Getppid()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// cpuMHz is the first "cpu MHz" of /proc/cpuinfo (the TSC rate Linux
// measured or the hypervisor gave).
func cpuMHz() (float64, error) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("no cpu MHz line")
}

// timeFork runs helper (forkexec.c) for n rounds of fork, execve of path
// in the child and waitpid for its exit, and returns the mean time of one
// round in microseconds as the helper measured it. The fork is a full one
// (the helper's small address space is copied, not shared), so each round
// builds and tears down two address spaces.
func timeFork(helper, path string, n int) (float64, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(helper, strconv.Itoa(n), path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %v: %s", helper, err, bytes.TrimSpace(stderr.Bytes()))
	}
	us, ok := strings.CutSuffix(strings.TrimSpace(string(out)), " us/op")
	v, err := strconv.ParseFloat(us, 64)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("%s: output %q, want \"<us> us/op\"", helper, out)
	}
	return v, nil
}

// timeVforkExec returns the mean time, in microseconds, of n rounds of
// Go's fork (clone(CLONE_VM|CLONE_VFORK), which shares this process's
// address space until the exec), execve of path in the child, and wait4
// for its exit: the exec builds a new address space and the exit tears it
// down.
func timeVforkExec(path string, n int) (float64, error) {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		pid, err := syscall.ForkExec(path, []string{path}, &syscall.ProcAttr{})
		if err != nil {
			return 0, fmt.Errorf("fork: %w", err)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			return 0, fmt.Errorf("wait4: %w", err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return 0, fmt.Errorf("%s: wait status %#x", path, uint32(ws))
		}
	}
	return float64(time.Since(t0).Microseconds()) / float64(n), nil
}

// readDisk reads the first size bytes of the block device dev with
// O_DIRECT (no page cache: each read is a request to the device), in
// diskChunk reads into one page-aligned buffer (an anonymous mmap, as
// O_DIRECT wants), and returns the rate in MB/s (10^6 bytes a second). The
// device holds the bench disk's pattern: each diskBlock-byte block starts
// with its own byte offset, 8 bytes big-endian; every block read is
// checked, so a rate is only given for data that came from the right
// place.
func readDisk(dev string, size int) (float64, error) {
	if err := waitFor(dev, time.Minute); err != nil {
		return 0, err
	}
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", dev, err)
	}
	defer unix.Close(fd)
	buf, err := unix.Mmap(-1, 0, diskChunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0, fmt.Errorf("mmap: %w", err)
	}
	defer unix.Munmap(buf)
	t0 := time.Now()
	for off := 0; off < size; off += diskChunk {
		n, err := unix.Pread(fd, buf, int64(off))
		if err != nil {
			return 0, fmt.Errorf("pread %s at %d: %w", dev, off, err)
		}
		if n != diskChunk {
			return 0, fmt.Errorf("pread %s at %d: %d bytes, want %d", dev, off, n, diskChunk)
		}
		if err := checkDiskPattern(buf, uint64(off)); err != nil {
			return 0, fmt.Errorf("%s: %w", dev, err)
		}
	}
	d := time.Since(t0)
	return float64(size) / d.Seconds() / 1e6, nil
}

// checkDiskPattern checks that each diskBlock-byte block of buf, read
// from byte offset off, starts with its offset (8 bytes big-endian).
func checkDiskPattern(buf []byte, off uint64) error {
	for i := 0; i+8 <= len(buf); i += diskBlock {
		if got := binary.BigEndian.Uint64(buf[i:]); got != off+uint64(i) {
			return fmt.Errorf("block at byte %d starts with %#x, want its offset", off+uint64(i), got)
		}
	}
	return nil
}

// exitProgram returns a minimal static x86-64 Linux executable that calls
// exit_group(0): an ELF64 header, one PT_LOAD program header mapping the
// whole file read+execute at 0x400000, and nine bytes of code. dom0init's
// own binary is all of u-root's commands in one Go program, whose runtime
// start-up would swamp what the fork+exec+exit loop is to measure.
func exitProgram() []byte {
	const (
		base    = 0x400000
		ehdrLen = 64
		phdrLen = 56
	)
	code := []byte{
		0x31, 0xff, // xor edi, edi
		0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231 (exit_group)
		0x0f, 0x05, // syscall
	}
	size := uint64(ehdrLen + phdrLen + len(code))
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */, 0 /* System V */})
	b.Write(make([]byte, 8))
	w(uint16(2))                        // e_type: ET_EXEC
	w(uint16(0x3e))                     // e_machine: EM_X86_64
	w(uint32(1))                        // e_version
	w(uint64(base + ehdrLen + phdrLen)) // e_entry: the code
	w(uint64(ehdrLen))                  // e_phoff
	w(uint64(0))                        // e_shoff: no sections
	w(uint32(0))                        // e_flags
	w(uint16(ehdrLen))                  // e_ehsize
	w(uint16(phdrLen))                  // e_phentsize
	w(uint16(1))                        // e_phnum
	w([3]uint16{})                      // e_shentsize, e_shnum, e_shstrndx
	w(uint32(1))                        // p_type: PT_LOAD
	w(uint32(5))                        // p_flags: PF_R|PF_X
	w(uint64(0))                        // p_offset
	w(uint64(base))                     // p_vaddr
	w(uint64(base))                     // p_paddr
	w(size)                             // p_filesz
	w(size)                             // p_memsz
	w(uint64(0x1000))                   // p_align
	b.Write(code)
	return b.Bytes()
}
