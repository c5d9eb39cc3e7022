// Package mmtest holds host-side fakes of mm's interfaces for tests of the
// pure core. It is imported only by _test.go files.
package mmtest

import (
	"encoding/binary"
	"sync"

	"github.com/gohv/gohv/mm"
)

// Memory is an mm.MachineMemory over Go byte slices: frames [0, n) exist,
// everything else is outside RAM. One mutex makes every operation atomic.
type Memory struct {
	mu  sync.Mutex
	ram []byte
}

// NewMemory returns n zeroed machine frames starting at MFN 0.
func NewMemory(n int) *Memory { return &Memory{ram: make([]byte, n*mm.PageSize)} }

// Frames reports how many frames exist.
func (m *Memory) Frames() int { return len(m.ram) / mm.PageSize }

func (m *Memory) span(ma mm.Maddr, n int) ([]byte, bool) {
	if n < 0 || uint64(ma) > uint64(len(m.ram)) || uint64(len(m.ram))-uint64(ma) < uint64(n) {
		return nil, false
	}
	return m.ram[ma : uint64(ma)+uint64(n)], true
}

func (m *Memory) word(ma mm.Maddr) ([]byte, bool) {
	if ma&7 != 0 {
		return nil, false
	}
	return m.span(ma, 8)
}

func (m *Memory) Read(ma mm.Maddr, p []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.span(ma, len(p))
	if ok {
		copy(p, b)
	}
	return ok
}

func (m *Memory) Write(ma mm.Maddr, p []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.span(ma, len(p))
	if ok {
		copy(b, p)
	}
	return ok
}

func (m *Memory) Copy(dst, src mm.Maddr, n uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n > uint64(len(m.ram)) {
		return false
	}
	d, okd := m.span(dst, int(n))
	s, oks := m.span(src, int(n))
	if okd && oks {
		copy(d, s)
	}
	return okd && oks
}

func (m *Memory) Load64(ma mm.Maddr) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.word(ma)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

func (m *Memory) CompareAndSwap64(ma mm.Maddr, old, new uint64) (bool, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.word(ma)
	if !ok {
		return false, false
	}
	if binary.LittleEndian.Uint64(b) != old {
		return false, true
	}
	binary.LittleEndian.PutUint64(b, new)
	return true, true
}

func (m *Memory) Or64(ma mm.Maddr, bits uint64) (uint64, bool) {
	return m.update(ma, func(v uint64) uint64 { return v | bits })
}

func (m *Memory) And64(ma mm.Maddr, mask uint64) (uint64, bool) {
	return m.update(ma, func(v uint64) uint64 { return v & mask })
}

func (m *Memory) update(ma mm.Maddr, f func(uint64) uint64) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.word(ma)
	if !ok {
		return 0, false
	}
	prev := binary.LittleEndian.Uint64(b)
	binary.LittleEndian.PutUint64(b, f(prev))
	return prev, true
}

var _ mm.MachineMemory = (*Memory)(nil)
