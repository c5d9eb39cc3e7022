// Command mkinitramfs builds the dom0 initramfs (build/initramfs.cpio.xz):
// u-root's Go userland (the gosh shell and core commands) and cmd/dom0init
// as /init, compiled into one busybox-style binary by u-root's builder,
// plus the kernel modules dom0 needs from Debian's linux-image package of
// the same release as the kernel, with their dependencies.
//
// Usage (the Makefile's initramfs target runs it from the module root):
//
//	mkinitramfs -modules ~/.cache/gohv/modules/<release> -o build/initramfs.cpio.xz
//
// -modules is lib/modules/<release> as scripts/fetch-modules.sh extracts
// it. The package has no modules.dep (depmod writes it at install time), so
// the dependencies come from each module's .modinfo depends= field, the
// same list depmod reads. The archive gets the modules at their package
// paths under lib/modules/<release> and a modules.load file listing them
// dependencies first, each line in modules.dep's form ("module.ko: dep.ko
// ..."), which dom0init loads in that order. Wanted modules
// built into the kernel (modules.builtin) are reported and left out.
//
// It also compiles cmd/dom0init/forkexec/forkexec.c, the bench task's
// fork+exec+exit loop (a Go program cannot fork safely), with gcc -static
// into the archive's /usr/libexec/forkexec.
//
// u-root's version is the one go.mod requires: its u-root command is
// installed from the module proxy (GOWORK=off go install ...@version) into
// build/initramfs.d, and run with a go.work holding u-root's module and this
// one, so that its builder compiles u-root's commands and cmd/dom0init
// together. The cpio archive is compressed with xz (CRC32 check and a
// 16 MiB dictionary: what Linux's initramfs decompressor takes).
//
// It prints one line per step and a summary:
//
//	mkinitramfs: build/initramfs.cpio.xz: 4.2 MiB (cpio 16.9 MiB): 69 commands, 28 modules, in 1m4s
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// wantModules are the modules dom0 needs, by name: Xen's device files
// (xenfs on /proc/xen, /dev/xen/evtchn, privcmd, gntdev), QEMU's disks
// (virtio-blk on PCI; AHCI, with sd_mod for /dev/sd*), QEMU's e1000 and
// e1000e NICs, and ext4, whose softdep "pre: crypto-crc32c" names an alias
// that crc32c_generic provides (loadOrder follows depends= only).
var wantModules = []string{
	"xenfs", "xen-evtchn", "xen-privcmd", "xen-gntdev",
	"virtio_pci", "virtio_blk", "ahci", "sd_mod",
	"e1000", "e1000e",
	"crc32c_generic", "ext4",
}

// urootCommands are u-root's cmds/core commands in the archive (in /bbin):
// the shell and what a user or a test needs at a dom0 prompt.
var urootCommands = []string{
	"gosh",
	"cat", "chmod", "cmp", "cp", "date", "dd", "df", "dirname", "dmesg", "du",
	"echo", "false", "find", "free", "grep", "gzip", "head", "hexdump", "hostname",
	"id", "ls", "ln", "mkdir", "mknod", "more", "mount", "mv", "printenv", "ps",
	"pwd", "readlink", "rm", "seq", "shasum", "sleep", "sort", "strings", "sync",
	"tail", "tar", "tee", "touch", "tr", "true", "umount", "uname", "uniq",
	"uptime", "wc", "which", "xargs",
	"kill", "pidof", "poweroff", "shutdown",
	"insmod", "lsmod", "rmmod", "lsdrivers", "pci", "blkid",
	"ip", "ping", "wget", "netcat", "netstat", "dhclient",
}

// goshTag picks gosh's line editor: liner (peterh/liner) works on a serial
// console as on a terminal; the default (bubbline) asks the terminal for its
// colours and cursor position and redraws whole lines.
const goshTag = "goshliner"

func main() {
	modules := flag.String("modules", "", "lib/modules/<release> `directory` of Debian's linux-image package")
	out := flag.String("o", "", "output `file` (xz-compressed newc cpio)")
	flag.Parse()
	if *modules == "" || *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mkinitramfs -modules DIR -o OUT")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if err := build(*modules, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkinitramfs:", err)
		os.Exit(1)
	}
}

func build(modDir, out string) error {
	t0 := time.Now()
	modDir, err := filepath.Abs(modDir)
	if err != nil {
		return err
	}
	release := filepath.Base(modDir)
	tree, err := openTree(modDir)
	if err != nil {
		return err
	}
	order, inKernel, err := loadOrder(wantModules, tree.depends,
		func(n string) bool { return tree.path[n] != "" },
		func(n string) bool { return tree.builtin[n] })
	if err != nil {
		return err
	}
	fmt.Printf("mkinitramfs: %s: %d modules: %s\n", release, len(order), strings.Join(order, " "))
	if len(inKernel) > 0 {
		fmt.Printf("mkinitramfs: built into the kernel: %s\n", strings.Join(inKernel, " "))
	}

	root, err := goList("", "-f", "{{.Dir}}")
	if err != nil {
		return err
	}
	goVersion, err := goList("", "-f", "{{.GoVersion}}")
	if err != nil {
		return err
	}
	urootVersion, err := goList("github.com/u-root/u-root", "-f", "{{.Version}}")
	if err != nil {
		return err
	}
	if err := run(root, nil, "go", "mod", "download", "github.com/u-root/u-root"); err != nil {
		return err
	}
	urootDir, err := goList("github.com/u-root/u-root", "-f", "{{.Dir}}")
	if err != nil {
		return err
	}

	work, err := filepath.Abs(filepath.Join(filepath.Dir(out), "initramfs.d"))
	if err != nil {
		return err
	}
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	fmt.Printf("mkinitramfs: u-root %s (%s)\n", urootVersion, urootDir)
	if err := run(work, []string{"GOWORK=off", "GOBIN=" + work}, "go", "install", "github.com/u-root/u-root@"+urootVersion); err != nil {
		return err
	}
	gowork := fmt.Sprintf("go %s\n\nuse (\n\t%s\n\t%s\n)\n", goVersion, urootDir, root)
	if err := os.WriteFile(filepath.Join(work, "go.work"), []byte(gowork), 0o644); err != nil {
		return err
	}
	var load bytes.Buffer
	for _, m := range order {
		deps, err := tree.depends(m)
		if err != nil {
			return err
		}
		fmt.Fprintf(&load, "%s:", tree.path[m])
		for _, d := range deps {
			if p := tree.path[d]; p != "" {
				fmt.Fprintf(&load, " %s", p)
			}
		}
		fmt.Fprintln(&load)
	}
	if err := os.WriteFile(filepath.Join(work, "modules.load"), load.Bytes(), 0o644); err != nil {
		return err
	}

	forkexec := filepath.Join(work, "forkexec")
	if err := run(work, nil, "gcc", "-static", "-O2", "-s", "-Wall", "-Werror", "-o", forkexec,
		filepath.Join(root, "cmd", "dom0init", "forkexec", "forkexec.c")); err != nil {
		return err
	}

	cpio := filepath.Join(work, "initramfs.cpio")
	args := []string{"-o", cpio, "-initcmd=dom0init", "-defaultsh=gosh", "-skip-ldd", "-go-build-tags=" + goshTag}
	dst := "lib/modules/" + release + "/"
	args = append(args, "-files", filepath.Join(work, "modules.load")+":"+dst+"modules.load")
	args = append(args, "-files", forkexec+":usr/libexec/forkexec")
	for _, m := range order {
		args = append(args, "-files", filepath.Join(modDir, tree.path[m])+":"+dst+tree.path[m])
	}
	for _, c := range urootCommands {
		args = append(args, filepath.Join(urootDir, "cmds", "core", c))
	}
	args = append(args, filepath.Join(root, "cmd", "dom0init"))
	if err := run(work, []string{"GOWORK=" + filepath.Join(work, "go.work"), "CGO_ENABLED=0"}, filepath.Join(work, "u-root"), args...); err != nil {
		return err
	}

	tmp := out + ".tmp"
	xz := exec.Command("xz", "--check=crc32", "--lzma2=preset=9,dict=16MiB", "-T1", "-c", cpio)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	xz.Stdout, xz.Stderr = f, os.Stderr
	err = xz.Run()
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("xz: %v", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	ci, err := os.Stat(cpio)
	if err != nil {
		return err
	}
	oi, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("mkinitramfs: %s: %.1f MiB (cpio %.1f MiB): %d commands, %d modules, in %v\n",
		out, mib(oi.Size()), mib(ci.Size()), len(urootCommands)+1, len(order), time.Since(t0).Round(time.Second))
	return os.Remove(cpio)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// goList runs `go list -m` on module (the main module if empty).
func goList(module string, args ...string) (string, error) {
	a := append([]string{"list", "-m"}, args...)
	if module != "" {
		a = append(a, module)
	}
	out, err := exec.Command("go", a...).Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %v", strings.Join(a, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// run runs a command in dir with extra environment variables and shows its
// output only if it fails (u-root's builder warns about Go versions newer
// than it knows on every run).
func run(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}
