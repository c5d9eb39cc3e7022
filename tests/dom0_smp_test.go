package tests

import (
	"testing"
	"time"
)

// TestDom0SMP boots Debian's Linux as dom0 with dom0_max_vcpus=2 on a
// machine of two CPUs (QEMU -smp 2), under Xen 4.17 and gohv: Linux brings
// its second vCPU up (VCPUOP_initialise, VCPUOP_up, per-vCPU IPIs and
// timers), reaches the shell, and /sys/devices/system/cpu/online there
// says 0-1 (what nproc counts); CPU 1 goes offline and online again.
func TestDom0SMP(t *testing.T) {
	kernel, initramfs := dom0Inputs(t)
	for _, hv := range dom0Hypervisors {
		if !hv.xen && !hv.gohv {
			continue
		}
		smp := hv
		smp.qemu = func(tb testing.TB, kernel, initramfs, cmdline string) []string {
			a := hv.qemu(tb, kernel, initramfs, cmdline)
			for i := range a {
				if i > 0 && a[i-1] == "-append" {
					a[i] += " dom0_max_vcpus=2"
				}
			}
			return append(a, "-smp", "2")
		}
		t.Run(hv.name, func(t *testing.T) {
			t.Parallel()
			vm := dom0Boot(t, smp, kernel, initramfs, "gohv.task=shell")
			if _, _, ok := vm.await("dom0init: shell on /dev/"+smp.console+": type poweroff to end", 2*time.Minute); !ok {
				vm.stop(0)
				t.Fatalf("no shell on /dev/%s\n--- serial ---\n%s", smp.console, vm.log())
			}
			if !vm.awaitPrompt(time.Minute) {
				vm.stop(0)
				t.Fatalf("no shell prompt\n--- serial ---\n%s", vm.log())
			}
			// CPU 1 online, offline (Linux's play_dead takes its vCPU down
			// with VCPUOP_down) and online again (VCPUOP_up resumes it).
			for _, step := range []struct{ typed, want string }{
				{"cat /sys/devices/system/cpu/online\n", "0-1"},
				{"echo 0 > /sys/devices/system/cpu/cpu1/online; cat /sys/devices/system/cpu/online\n", "0"},
				{"echo 1 > /sys/devices/system/cpu/cpu1/online; echo again-$(cat /sys/devices/system/cpu/online)\n", "again-0-1"},
			} {
				vm.typeIn(step.typed)
				if _, _, ok := vm.await(step.want, time.Minute); !ok {
					vm.stop(0)
					t.Fatalf("typed %q, no line %q\n--- serial ---\n%s", step.typed, step.want, vm.log())
				}
				if !vm.awaitPrompt(time.Minute) {
					vm.stop(0)
					t.Fatalf("no shell prompt after %q\n--- serial ---\n%s", step.typed, vm.log())
				}
			}
			vm.typeIn("poweroff\n")
			serial := dom0End(t, smp, vm, "poweroff", false)
			r := result{serial: serial}
			r.wantLines(t, "(XEN) Dom0 has maximum 2 VCPUs")
			r.wantMatch(t, `\[[ 0-9.]+\] smp: Brought up 1 node, 2 CPUs`)
		})
	}
}
