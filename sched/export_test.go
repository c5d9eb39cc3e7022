package sched

// EnterNow is Enter without the wait, for tests that drive the scheduler
// from one goroutine: it reports the CPU the vCPU holds afterwards, or
// -1 while it waits queued (or asleep).
func (v *VCPU) EnterNow() int {
	s := v.s
	s.mu.Lock()
	s.enterLocked(v, s.clock.Now())
	cpu := -1
	if v.state == vcpuRunning {
		cpu = v.cpu
	}
	s.unlock()
	return cpu
}

// Check verifies the scheduler's invariants (checkLocked).
func (s *Scheduler) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLocked()
}

// Holder returns the vCPU holding CPU cpu, nil if it idles.
func (s *Scheduler) Holder(cpu int) *VCPU {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cpus[cpu]
}
