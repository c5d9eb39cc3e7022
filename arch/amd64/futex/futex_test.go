package futex_test

import (
	"testing"

	"github.com/gohv/gohv/arch/amd64/futex"
	"github.com/gohv/gohv/sched"
	"github.com/gohv/gohv/sched/schedtest"
)

var _ sched.Parker = (*futex.Word)(nil)

// TestWord: the futex word keeps sched.Parker's contract, on the host's
// futex system calls.
func TestWord(t *testing.T) {
	schedtest.TestParker(t, func() sched.Parker { return futex.New() })
}
