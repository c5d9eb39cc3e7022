package sched_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/gohv/gohv/abi"
)

// TestStateHook: the hook hears blocked/running around a Block that
// sleeps, runnable/running around Yield, and nothing for a Block that
// returns at once (the vCPU never stopped running).
func TestStateHook(t *testing.T) {
	w, f, _ := newWaiter(0)
	var mu sync.Mutex
	var got []int32
	w.SetStateHook(func(s int32) { mu.Lock(); got = append(got, s); mu.Unlock() })
	seen := func() []int32 { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }

	w.Yield()
	if want := []int32{abi.RUNSTATE_runnable, abi.RUNSTATE_running}; !slices.Equal(seen(), want) {
		t.Fatalf("Yield: hook saw %v, want %v", seen(), want)
	}
	f.upcall = true
	w.Block() // an event is deliverable: no sleep
	if len(seen()) != 2 {
		t.Fatalf("Block without sleep: hook saw %v", seen())
	}
	f.ack()
	ch := async(w.Block)
	stillBlocked(t, "Block", ch)
	if s := seen(); len(s) != 3 || s[2] != abi.RUNSTATE_blocked {
		t.Fatalf("sleeping Block: hook saw %v", s)
	}
	f.RaiseVIRQ(0, abi.VIRQ_DEBUG)
	returns(t, "Block", ch, 0)
	if s := seen(); len(s) != 4 || s[3] != abi.RUNSTATE_running {
		t.Fatalf("woken Block: hook saw %v", s)
	}
}
