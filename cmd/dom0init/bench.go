package main

import (
	"bufio"
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
	if us, err := timeForkExec("/bbin/true", forkExecs); err != nil {
		fail("bench fork+exec+exit", err)
	} else {
		say("bench: fork+exec+exit %.1f us/op", us)
	}
	if _, err := os.Stat("/proc/xen/privcmd"); err != nil {
		return // no Xen, or xenfs not mounted
	}
	if total, free, dom0, err := xenMemory(); err != nil {
		say("bench: memory: not available: %v", err)
	} else {
		say("bench: memory: total %d KiB, free %d KiB, dom0 %d KiB", total*4, free*4, dom0*4)
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
// fork (a full copy of this process's address space, not vfork), execve
// of path in the child, and wait4 for its exit.
//
// The child runs only raw system calls on what the parent built before
// the fork: after fork only the forking thread exists in it, and the Go
// runtime must not run there.
func timeForkExec(path string, n int) (float64, error) {
	argv0, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	argv := []*byte{argv0, nil}
	envp := []*byte{nil}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		pid, err := forkExec(argv0, &argv[0], &envp[0])
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
