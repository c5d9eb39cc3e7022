package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Counts of the bench task's loops.
const (
	getppidCalls = 1_000_000
	forkExecs    = 1_000
)

// bench runs the bench task (see the package comment). It prints a FAIL
// line for what it cannot measure and goes on.
func bench() {
	ns := timeGetppid(getppidCalls)
	line := fmt.Sprintf("bench: getppid %.1f ns/op", ns)
	if mhz, err := cpuMHz(); err == nil {
		line += fmt.Sprintf(" (%.0f cycles/op at %.0f MHz)", ns*mhz/1000, mhz)
	}
	say("%s", line)
	exit0 := "/tmp/exit0"
	if err := os.WriteFile(exit0, exitProgram(), 0o755); err != nil {
		fail("bench write "+exit0, err)
	} else if us, err := timeForkExec(exit0, forkExecs); err != nil {
		fail("bench fork+exec+exit", err)
	} else {
		say("bench: fork+exec+exit %.1f us/op (vfork)", us)
	}
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

// timeForkExec returns the mean time, in microseconds, of n rounds of
// Go's fork (clone(CLONE_VM|CLONE_VFORK), which shares this process's
// address space until the exec), execve of path in the child, and wait4
// for its exit: the exec builds a new address space and the exit tears it
// down.
func timeForkExec(path string, n int) (float64, error) {
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
