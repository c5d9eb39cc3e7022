package rt

import "fmt"

// FaultError describes a CPU exception taken in gohv's own Go code; it is
// the value faultPanic panics with.
type FaultError struct {
	Vector, ErrorCode, RIP, CR2 uint64
}

func (e FaultError) Error() string {
	name := "exception"
	if e.Vector < uint64(len(excNames)) {
		name = excNames[e.Vector]
	}
	s := fmt.Sprintf("gohv fault: vector %d (%s) at rip %#x, error code %#x", e.Vector, name, e.RIP, e.ErrorCode)
	if e.Vector == 14 {
		s += fmt.Sprintf(", address %#x", e.CR2)
	}
	return s
}

// faultPanic runs on the faulting goroutine, "called" from the faulting
// instruction by trap (via faultTrampoline). Ordinary goroutine context.
func faultPanic() {
	panic(FaultError{faultVector, faultErr, faultRIP, faultCR2})
}
