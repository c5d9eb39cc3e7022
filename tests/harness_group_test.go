package tests

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSleeper starts, through startGroup, a shell that starts a
// grandchild (sleep) and waits; it returns the group and the
// grandchild's pid.
func startSleeper(t *testing.T, tb testing.TB, ctx context.Context) (*group, int) {
	t.Helper()
	g := startGroup(tb, ctx, "sh", "-c", "sleep 300 & echo $!; wait")
	out, err := g.cmd.StdoutPipe()
	must(t, err)
	must(t, g.cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	must(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	must(t, err)
	return g, pid
}

// gone waits up to 5 s for pid to stop existing (it is reaped by init
// once killed, as its parent shell dies too).
func gone(pid int) bool {
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return true
		}
		// A zombie still answers kill(0): look at its state.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
				return true
			}
		}
	}
	return false
}

// TestGroupKilledOnCancel: a context that ends (a QEMU timeout) kills the
// whole group, grandchildren included, not only the direct child.
func TestGroupKilledOnCancel(t *testing.T) {
	need(t, "sh", "sleep")
	ctx, cancel := context.WithCancel(context.Background())
	g, pid := startSleeper(t, t, ctx)
	done := make(chan error, 1)
	go func() { done <- g.wait() }()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the context ended")
	}
	if !gone(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("grandchild %d outlived the cancelled command", pid)
	}
}

// TestGroupKilledOnTestEnd: a test that ends before waiting for its
// command leaves nothing running: the cleanup, which runs however the
// test ends (return, FailNow, a panic), kills the group.
func TestGroupKilledOnTestEnd(t *testing.T) {
	need(t, "sh", "sleep")
	var g *group
	var pid int
	t.Run("ends-early", func(st *testing.T) {
		g, pid = startSleeper(t, st, context.Background())
	})
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("the shell exited cleanly: the cleanup did not kill it")
		}
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
		t.Errorf("the shell still runs after its test ended")
	}
	if !gone(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("grandchild %d outlived its test", pid)
	}
}
