package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestModName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/xen/xen-evtchn.ko": "xen_evtchn",
		"xen-privcmd":                      "xen_privcmd",
		"virtio_pci.ko":                    "virtio_pci",
		"t10-pi":                           "t10_pi",
	} {
		if got := modName(in); got != want {
			t.Errorf("modName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModinfoDepends(t *testing.T) {
	// .modinfo as modpost writes it: NUL-terminated key=value strings.
	info := []byte("license=GPL\x00softdep=pre: crypto-crc32c\x00depends=jbd2,mbcache,crc16\x00name=ext4\x00")
	if got, want := modinfoDepends(info), []string{"jbd2", "mbcache", "crc16"}; !reflect.DeepEqual(got, want) {
		t.Errorf("depends = %q, want %q", got, want)
	}
	if got := modinfoDepends([]byte("depends=\x00name=e1000e\x00")); len(got) != 0 {
		t.Errorf("empty depends= gave %q", got)
	}
	if got, want := modinfoDepends([]byte("depends=xen-privcmd\x00")), []string{"xen_privcmd"}; !reflect.DeepEqual(got, want) {
		t.Errorf("depends = %q, want %q", got, want)
	}
}

func TestLoadOrder(t *testing.T) {
	graph := map[string][]string{
		"ext4":   {"jbd2", "mbcache", "crc16"},
		"jbd2":   {},
		"crc16":  {},
		"sd_mod": {"scsi_mod", "t10_pi"},
		"ahci":   {"libahci", "libata"},
		"libata": {"scsi_mod"},
		"libahci": {
			"libata",
		},
		"scsi_mod":    {"scsi_common"},
		"scsi_common": {},
		"t10_pi":      {},
		"loop1":       {"loop2"},
		"loop2":       {"loop1"},
		"needsgone":   {"gone"},
	}
	builtin := map[string]bool{"mbcache": true, "ptp": true}
	deps := func(n string) ([]string, error) { return graph[n], nil }
	have := func(n string) bool { _, ok := graph[n]; return ok }
	isBuiltin := func(n string) bool { return builtin[n] }

	order, inKernel, err := loadOrder([]string{"ahci", "sd_mod", "ext4", "ptp", "ahci"}, deps, have, isBuiltin)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"scsi_common", "scsi_mod", "libata", "libahci", "ahci", "t10_pi", "sd_mod", "jbd2", "crc16", "ext4"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("order = %q, want %q", order, want)
	}
	if !reflect.DeepEqual(inKernel, []string{"ptp"}) {
		t.Errorf("built in = %q, want [ptp] (mbcache is only a dependency)", inKernel)
	}
	// Every module comes after each of its dependencies.
	pos := map[string]int{}
	for i, m := range order {
		pos[m] = i
	}
	for _, m := range order {
		for _, d := range graph[m] {
			if p, ok := pos[d]; ok && p > pos[m] {
				t.Errorf("%s loads before its dependency %s", m, d)
			}
		}
	}

	for _, tc := range []struct {
		want []string
		err  string
	}{
		{[]string{"loop1"}, "dependency cycle"},
		{[]string{"needsgone"}, "module gone (needed by needsgone): not in the package"},
		{[]string{"nosuch"}, "module nosuch: not in the package"},
	} {
		if _, _, err := loadOrder(tc.want, deps, have, isBuiltin); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("loadOrder(%q): error %v, want %q", tc.want, err, tc.err)
		}
	}
	boom := errors.New("bad ELF")
	if _, _, err := loadOrder([]string{"ext4"}, func(string) ([]string, error) { return nil, boom }, have, isBuiltin); !errors.Is(err, boom) {
		t.Errorf("a depends error gave %v", err)
	}
}
