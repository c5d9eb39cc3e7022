package tests

import (
	"testing"
	"time"
)

// TestDom0SMP boots Debian's Linux as dom0 with dom0_max_vcpus=2 on a
// machine of two CPUs (QEMU -smp 2), under Xen 4.17 and gohv: Linux brings
// its second vCPU up (VCPUOP_initialise, VCPUOP_up, per-vCPU IPIs and
// timers), reaches the shell, and /sys/devices/system/cpu/online there
// says 0-1 (what nproc counts).
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
			vm.typeIn("cat /sys/devices/system/cpu/online\n")
			if _, _, ok := vm.await("0-1", time.Minute); !ok {
				vm.stop(0)
				t.Fatalf("dom0 does not have CPUs 0-1 online\n--- serial ---\n%s", vm.log())
			}
			if !vm.awaitPrompt(time.Minute) {
				t.Errorf("no shell prompt before poweroff")
			}
			vm.typeIn("poweroff\n")
			serial := dom0End(t, smp, vm, "poweroff", false)
			r := result{serial: serial}
			r.wantLines(t, "(XEN) Dom0 has maximum 2 VCPUs")
			r.wantMatch(t, `\[[ 0-9.]+\] smp: Brought up 1 node, 2 CPUs`)
		})
	}
}
