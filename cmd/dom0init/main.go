// Command dom0init is /init of the dom0 initramfs that cmd/mkinitramfs
// builds: the userland gohv is aiming at. The same archive boots as dom0 of
// Xen 4.17 (console hvc0) and as plain Linux with no hypervisor (ttyS0).
//
// It runs as PID 1 under Linux, not in gohv. It mounts /proc, /sys, /dev
// (devtmpfs), /dev/pts and /tmp; loads the kernel modules listed, in
// dependency order, in /lib/modules/<release>/modules.load; on Xen mounts
// xenfs on /proc/xen; prints marker lines on the console; and then runs the
// task the kernel command line names. Every line it prints starts with
// "dom0init: ", so that tests can find them among the kernel's:
//
//	dom0init: /init reached: Linux <release> <version>
//	dom0init: modules: <n> loaded[, <name>: <error>...]
//	dom0init: hypervisor: xen <major>.<minor><extra>   (or "hypervisor: none")
//	dom0init: capabilities: control_d                  (Xen only)
//	dom0init: dmesg: <Linux's xen:events and pirq lines> (Xen only)
//	dom0init: task: <task>
//	dom0init: msi: <chip>-<type> <action>: <count>   (disk and net tasks, after their I/O)
//
// Command-line parameters (Linux leaves dotted ones to /proc/cmdline):
//
//	gohv.task=shell|poweroff|reboot|disk|net|bench   default shell
//	gohv.then=poweroff|reboot   how the disk task ends (default poweroff)
//	gohv.disk=vda|sda|...       the disk task's device (default: the first of vda, sda);
//	                            the bench task's disk to read (default: none, no disk read)
//	gohv.port=N                 the net task's HTTP port (default 8080); the bench
//	                            task serves /blob there at its end when it is given
//	gohv.size=N                 /blob's size in bytes (default 4 MiB)
//	gohv.seed=S                 /blob's seed (default "gohv")
//	gohv.getppids=N             the bench task's getppid calls (default 1000000; 0: none)
//	gohv.forks=N                the bench task's fork+exec+exit rounds (default 1000; 0: none)
//	gohv.vforks=N               the bench task's vfork+exec+exit rounds (default 1000; 0: none)
//	gohv.proc=1                 the net server also serves dom0's /proc/interrupts and
//	                            /proc/stat at /proc/interrupts and /proc/stat (default: not),
//	                            so a client can count the interrupts dom0 took and the time
//	                            its CPUs idled across a transfer (fetch them before and after)
//
// shell: u-root's shell (gosh) on the console's tty, started again
// when it exits; `poweroff` ends the machine. disk: mount the ext4 disk on
// /mnt, print hello.txt, write dom0.txt ("dom0 read: " and hello.txt's
// first line), sync, unmount, then gohv.then. net: bring eth0 up as
// 10.0.2.15/24 (QEMU's user network) with u-root's ip, serve /blob (the
// SHA-256 of seed||i as 8 big-endian bytes, for i = 0, 1, ..., cut to size)
// and /poweroff, which powers off after answering. bench: time
// 1,000,000 getppid calls (on a PV dom0 each is a syscall bounced through
// the hypervisor and an iret hypercall back); 1,000 fork+exec+exit of
// /tmp/exit0, a 129-byte static program it writes that exits at once, by
// /usr/libexec/forkexec (forkexec/forkexec.c, a static C program: a Go
// program cannot fork safely), whose fork copies its address space (each
// round two address spaces whose page tables are pinned and unpinned);
// the same 1,000 rounds with Go's vfork-style clone, which shares
// dom0init's address space until the exec; with gohv.disk, a 64 MiB
// O_DIRECT read of that disk in 1 MiB requests, checking its pattern
// (each 4 KiB block starts with its byte offset, 8 bytes big-endian); and
// on Xen, the hypervisor's memory figures (XEN_SYSCTL_physinfo's total
// and free pages, XENMEM_current_reservation for dom0, through
// /proc/xen/privcmd; see xenmem.go); and with gohv.port, the net task's
// HTTP server (whose client times the transfer); then it powers off. The
// gohv.getppids, gohv.forks and gohv.vforks counts change the three loops'
// lengths, or leave a loop out (its line is then not printed), so that two
// runs differing in one count isolate that loop (a profile's difference):
//
//	dom0init: bench: getppid <ns> ns/op[ (<cycles> cycles/op at <MHz> MHz)]
//	dom0init: bench: fork+exec+exit <us> us/op (fork)
//	dom0init: bench: vfork+exec+exit <us> us/op (vfork)
//	dom0init: bench: disk read 64 MiB O_DIRECT from /dev/<disk>: <MB/s> MB/s
//	dom0init: bench: memory: total <KiB> KiB, free <KiB> KiB, dom0 <KiB> KiB
//	    (or "bench: memory: not available: <error>" where the hypervisor has no answer)
//
// PID 1 must not exit (Linux panics): a failed step prints
// "dom0init: FAIL <what>: <error>" and the task goes on to its end
// (power-off for disk and net), so that a test sees the failure and a
// stopped machine instead of a hang.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const prefix = "dom0init: "

func say(format string, args ...any) {
	fmt.Printf(prefix+format+"\n", args...)
}

func fail(what string, err error) {
	say("FAIL %s: %v", what, err)
}

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "dom0init: not PID 1: this is the initramfs's /init")
		os.Exit(2)
	}
	mountBase()
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		fail("uname", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	say("/init reached: Linux %s %s", release, unix.ByteSliceToString(uts.Version[:]))
	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		say("uptime: %s s", strings.Fields(string(up))[0])
	}
	os.Setenv("PATH", "/bbin:/bin:/sbin:/usr/bin:/usr/sbin")
	loadModules("/lib/modules/" + release)
	xen()

	params := cmdline()
	task := param(params, "gohv.task", "shell")
	say("task: %s", task)
	switch task {
	case "shell":
		shell()
	case "poweroff", "reboot":
		end(task)
	case "disk":
		if err := disk(param(params, "gohv.disk", "")); err != nil {
			fail("disk", err)
		}
		msiIRQs()
		end(param(params, "gohv.then", "poweroff"))
	case "net":
		if err := serve(params); err != nil {
			fail("net", err)
		}
		msiIRQs()
		end("poweroff")
	case "bench":
		bench(params)
		end("poweroff")
	default:
		fail("task", fmt.Errorf("unknown task %q", task))
		shell()
	}
	// end returned: the reboot system call failed. Keep PID 1 alive.
	shell()
}

// mountBase mounts the kernel file systems and makes /dev/console
// descriptors 0, 1 and 2 (the kernel gives init those only if the archive
// has a dev/console node).
func mountBase() {
	for _, m := range []struct{ fs, dir string }{
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"},
		{"devpts", "/dev/pts"}, {"tmpfs", "/tmp"},
	} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			fail("mount "+m.dir, err)
		}
	}
	if fd, err := unix.Open("/dev/console", unix.O_RDWR, 0); err == nil {
		for i := 0; i < 3; i++ {
			unix.Dup3(fd, i, 0)
		}
		if fd > 2 {
			unix.Close(fd)
		}
	}
}

// loadModules loads each module named in dir/modules.load with
// finit_module. The file (mkinitramfs writes it) is in modules.dep's form,
// "module.ko: dep.ko ..." with paths relative to dir, dependencies first.
// ENODEV (a driver for hardware or a hypervisor that is not there, such as
// xen_evtchn on bare Linux) and EEXIST are reported, not failures; a module
// whose dependency did not load is reported and skipped.
func loadModules(dir string) {
	list, err := os.ReadFile(filepath.Join(dir, "modules.load"))
	if err != nil {
		fail("modules", err)
		return
	}
	name := func(p string) string {
		return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(p), ".ko"), "-", "_")
	}
	n := 0
	var notes []string
	missing := map[string]bool{}
lines:
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		mod, deps, _ := strings.Cut(line, ":")
		for _, d := range strings.Fields(deps) {
			if missing[d] {
				notes = append(notes, name(mod)+": needs "+name(d))
				missing[mod] = true
				continue lines
			}
		}
		f, err := os.Open(filepath.Join(dir, mod))
		if err == nil {
			err = unix.FinitModule(int(f.Fd()), "", 0)
			f.Close()
		}
		switch {
		case err == nil:
			n++
		case errors.Is(err, unix.EEXIST):
			notes = append(notes, name(mod)+": "+err.Error())
		case errors.Is(err, unix.ENODEV):
			notes = append(notes, name(mod)+": "+err.Error())
			missing[mod] = true
		default:
			fail("insmod "+name(mod), err)
			missing[mod] = true
		}
	}
	say("modules: %d loaded%s", n, strings.Join(append([]string{""}, notes...), ", "))
}

// xen reports the hypervisor: on Xen it mounts xenfs on /proc/xen, prints
// the version (/sys/hypervisor/version), dom0's capabilities and Linux's
// event-channel ABI and PIRQ lines from the kernel log.
func xen() {
	typ, _ := os.ReadFile("/sys/hypervisor/type")
	if strings.TrimSpace(string(typ)) != "xen" {
		say("hypervisor: none")
		return
	}
	v := func(f string) string {
		b, err := os.ReadFile("/sys/hypervisor/version/" + f)
		if err != nil {
			fail("hypervisor version", err)
		}
		return strings.TrimSpace(string(b))
	}
	say("hypervisor: xen %s.%s%s", v("major"), v("minor"), v("extra"))
	os.MkdirAll("/proc/xen", 0o755)
	if err := unix.Mount("xenfs", "/proc/xen", "xenfs", 0, ""); err != nil {
		fail("mount xenfs", err)
	} else if c, err := os.ReadFile("/proc/xen/capabilities"); err != nil {
		fail("capabilities", err)
	} else {
		say("capabilities: %s", strings.TrimSpace(string(c)))
	}
	buf := make([]byte, 1<<20)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		fail("dmesg", err)
		return
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		if m := klogLine.FindStringSubmatch(line); m != nil &&
			(strings.HasPrefix(m[1], "xen:events:") || strings.Contains(m[1], "pirq=")) {
			say("dmesg: %s", m[1])
		}
	}
}

// msiIRQs prints each MSI and MSI-X interrupt of /proc/interrupts with
// its count summed over the CPUs: on Xen's PV dom0 the chip is xen-pirq
// and the type msi or msi-x (Linux's xen_bind_pirq_msi_to_irq names the
// handler so), without Xen the chip is PCI-MSI.
func msiIRQs() {
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		fail("interrupts", err)
		return
	}
	for _, l := range msiLines(string(b)) {
		say("msi: %s", l)
	}
}

// msiLines picks the MSI and MSI-X lines out of /proc/interrupts's text
// (a header "CPU0 CPU1 ...", then "<irq>: <count per CPU> <chip> ...
// <actions>") as "<chip>-<type> <actions>: <count>". Xen's PV IRQs print
// as "xen-pirq -msi-x <actions>"; Linux's own as "PCI-MSI <hwirq>-edge
// <actions>".
func msiLines(text string) []string {
	lines := strings.Split(text, "\n")
	ncpu := len(strings.Fields(lines[0]))
	var out []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 2+ncpu || !strings.HasSuffix(f[0], ":") {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimSuffix(f[0], ":")); err != nil {
			continue // NMI, LOC and the other per-CPU counters
		}
		var n uint64
		for _, c := range f[1 : 1+ncpu] {
			v, _ := strconv.ParseUint(c, 10, 64)
			n += v
		}
		rest := f[1+ncpu:]
		var kind string
		var actions []string
		switch {
		case rest[0] == "xen-pirq" && len(rest) > 1 && strings.HasPrefix(rest[1], "-msi"):
			kind, actions = rest[0]+rest[1], rest[2:]
		case strings.HasPrefix(rest[0], "PCI-MSI"):
			kind, actions = rest[0], rest[min(2, len(rest)):]
		default:
			continue
		}
		out = append(out, fmt.Sprintf("%s %s: %d", kind, strings.Join(actions, " "), n))
	}
	return out
}

// klogLine is a line of syslog(SYSLOG_ACTION_READ_ALL): "<level>[ time] text".
var klogLine = regexp.MustCompile(`^<\d+>\[[ 0-9.]+\] (.*)$`)

func cmdline() []string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fail("cmdline", err)
	}
	return strings.Fields(string(b))
}

// param returns the last value of key=value in params, or def.
func param(params []string, key, def string) string {
	v := def
	for _, p := range params {
		if k, val, ok := strings.Cut(p, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// end powers the machine off or restarts it.
func end(how string) {
	unix.Sync()
	switch how {
	case "reboot":
		say("rebooting")
		fail("reboot", unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART))
	default:
		say("powering off")
		fail("poweroff", unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF))
	}
}

// shell runs u-root's gosh on the console's tty as a session leader with that tty
// as its controlling terminal, and starts it again when it exits. As PID 1
// it reaps every orphan while it waits. It never returns.
func shell() {
	tty := "/dev/console"
	if b, err := os.ReadFile("/sys/class/tty/console/active"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			tty = "/dev/" + f[len(f)-1]
		}
	}
	for {
		say("shell on %s: type poweroff to end", tty)
		f, err := os.OpenFile(tty, os.O_RDWR, 0)
		if err != nil {
			fail("open "+tty, err)
			time.Sleep(10 * time.Second)
			continue
		}
		p, err := os.StartProcess("/bbin/gosh", []string{"/bbin/gosh"}, &os.ProcAttr{
			Dir:   "/",
			Env:   append(os.Environ(), "HOME=/", "TERM=linux"),
			Files: []*os.File{f, f, f},
			Sys:   &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
		})
		f.Close()
		if err != nil {
			fail("shell", err)
			time.Sleep(10 * time.Second)
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, 0, nil)
			if err != nil && !errors.Is(err, unix.EINTR) {
				fail("wait", err)
				time.Sleep(time.Second)
			}
			if pid == p.Pid {
				break
			}
		}
	}
}

// waitFor polls until path exists, for up to d.
func waitFor(path string, d time.Duration) error {
	for t0 := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Since(t0) > d {
			return fmt.Errorf("%s did not appear in %v", path, d)
		}
	}
}

// disk mounts the ext4 file system on dev (or on the first of vda and sda to
// appear), prints hello.txt, writes dom0.txt and unmounts.
func disk(dev string) error {
	names := []string{"vda", "sda"}
	if dev != "" {
		names = []string{dev}
	}
	dev = ""
	for t0 := time.Now(); dev == ""; time.Sleep(100 * time.Millisecond) {
		if time.Since(t0) > time.Minute {
			return fmt.Errorf("no disk among %v after %v", names, time.Minute)
		}
		for _, n := range names {
			if _, err := os.Stat("/sys/block/" + n); err == nil {
				dev = n
				break
			}
		}
	}
	if err := waitFor("/dev/"+dev, time.Minute); err != nil {
		return err
	}
	os.MkdirAll("/mnt", 0o755)
	if err := unix.Mount("/dev/"+dev, "/mnt", "ext4", 0, ""); err != nil {
		return fmt.Errorf("mount /dev/%s on /mnt: %w", dev, err)
	}
	hello, err := os.ReadFile("/mnt/hello.txt")
	if err != nil {
		unix.Unmount("/mnt", 0)
		return err
	}
	first, _, _ := strings.Cut(string(hello), "\n")
	say("disk: /dev/%s hello.txt: %s", dev, first)
	f, err := os.Create("/mnt/dom0.txt")
	if err == nil {
		_, err = f.WriteString("dom0 read: " + first + "\n")
		if err2 := f.Sync(); err == nil {
			err = err2
		}
		if err2 := f.Close(); err == nil {
			err = err2
		}
	}
	unix.Sync()
	if err2 := unix.Unmount("/mnt", 0); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	say("disk: wrote dom0.txt, synced, unmounted")
	return nil
}

// blob is the net task's payload: SHA-256(seed || i) for i = 0, 1, ...
// (i as 8 big-endian bytes), concatenated and cut to size.
func blob(seed string, size int) []byte {
	out := make([]byte, 0, size+sha256.Size)
	var ctr [8]byte
	for i := uint64(0); len(out) < size; i++ {
		binary.BigEndian.PutUint64(ctr[:], i)
		sum := sha256.Sum256(append([]byte(seed), ctr[:]...))
		out = append(out, sum[:]...)
	}
	return out[:size]
}

// procFiles are the files of dom0's /proc that gohv.proc=1 has the net
// server serve, each at its own path.
var procFiles = []string{"/proc/interrupts", "/proc/stat"}

// serve brings eth0 up and serves /blob over HTTP until /poweroff is asked.
func serve(params []string) error {
	port, err := strconv.Atoi(param(params, "gohv.port", "8080"))
	if err != nil {
		return fmt.Errorf("gohv.port: %w", err)
	}
	size, err := strconv.Atoi(param(params, "gohv.size", strconv.Itoa(4<<20)))
	if err != nil || size < 0 {
		return fmt.Errorf("gohv.size: %q", param(params, "gohv.size", ""))
	}
	if err := waitFor("/sys/class/net/eth0", time.Minute); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"link", "set", "dev", "eth0", "up"},
		{"addr", "add", "10.0.2.15/24", "dev", "eth0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	data := blob(param(params, "gohv.seed", "gohv"), size)
	sum := sha256.Sum256(data)
	say("net: eth0 10.0.2.15/24 up; /blob is %d bytes, sha256 %s", len(data), hex.EncodeToString(sum[:]))
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/blob", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
		say("net: served /blob to %s", r.RemoteAddr)
	})
	if param(params, "gohv.proc", "") == "1" {
		for _, name := range procFiles {
			mux.HandleFunc(name, func(w http.ResponseWriter, r *http.Request) {
				b, err := os.ReadFile(name)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.Header().Set("Content-Type", "text/plain")
				w.Write(b)
			})
		}
	}
	mux.HandleFunc("/poweroff", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "powering off")
		select {
		case <-done:
		default:
			close(done)
		}
	})
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- http.Serve(l, mux) }()
	say("net: http on port %d", port)
	select {
	case err := <-errc:
		return err
	case <-done:
		time.Sleep(200 * time.Millisecond) // let the answer leave
		return nil
	}
}
