package lockorder

import (
	"cmp"
	"sync"
)

// Lock locks a and b in ascending key order, ka being a's key and kb b's;
// if a and b are the same lock it is locked once. Distinct locks of one
// kind must have distinct keys (domain ids are unique), or two callers
// could take them in opposite orders. Unlock releases them.
func Lock[K cmp.Ordered](a, b sync.Locker, ka, kb K) {
	switch {
	case a == b:
		a.Lock()
	case ka < kb:
		a.Lock()
		b.Lock()
	default:
		b.Lock()
		a.Lock()
	}
}

// Unlock releases what Lock(a, b, ...) took.
func Unlock(a, b sync.Locker) {
	a.Unlock()
	if a != b {
		b.Unlock()
	}
}
