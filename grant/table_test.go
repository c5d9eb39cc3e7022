package grant

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

func TestSetupTable(t *testing.T) {
	tests := []struct {
		name      string
		caller    abi.DomID
		dom       abi.DomID
		nr        uint32
		failAlloc bool
		want      Status
		wantNr    uint32 // nr_frames afterwards (query_size of dom, as dom)
	}{
		{"zero frames", d1, abi.DOMID_SELF, 0, false, GNTST_okay, 1},
		{"initial frame", d1, abi.DOMID_SELF, 1, false, GNTST_okay, 1},
		{"own id", d1, d1, 1, false, GNTST_okay, 1},
		{"grow to 4", d1, abi.DOMID_SELF, 4, false, GNTST_okay, 4},
		{"max frames", d1, abi.DOMID_SELF, 8, false, GNTST_okay, 8},
		{"above max", d1, abi.DOMID_SELF, 9, false, GNTST_general_error, 1},
		{"huge", d1, abi.DOMID_SELF, ^uint32(0), false, GNTST_general_error, 1},
		{"no memory", d1, abi.DOMID_SELF, 3, true, GNTST_general_error, 1},
		{"no memory not needed", d1, abi.DOMID_SELF, 1, true, GNTST_okay, 1},
		{"unknown domain", d1, 77, 1, false, GNTST_bad_domain, 1},
		{"reserved id", d1, 0x7FF1, 1, false, GNTST_bad_domain, 1},
		{"other domain", d1, d2, 1, false, GNTST_permission_denied, 1},
		{"control domain", dom0, d2, 2, false, GNTST_okay, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{MaxGrantFrames: 8})
			if e := w.ts.Create(dom0, Config{Control: true}, w.pool); e != 0 {
				t.Fatal(e)
			}
			w.pool.fail = tc.failAlloc
			fs, st := w.ts.SetupTable(tc.caller, tc.dom, tc.nr, nil)
			w.pool.fail = false
			if st != tc.want {
				t.Fatalf("status %v, want %v", st, tc.want)
			}
			if st == GNTST_okay && uint32(len(fs)) != tc.nr {
				t.Fatalf("%d frames, want %d", len(fs), tc.nr)
			}
			if st != GNTST_okay && len(fs) != 0 {
				t.Fatalf("frames %v on failure", fs)
			}
			target := tc.dom
			if target == abi.DOMID_SELF {
				target = tc.caller
			}
			if target != d1 && target != d2 {
				return
			}
			nr, max, st := w.ts.QuerySize(target, abi.DOMID_SELF)
			if st != GNTST_okay || nr != tc.wantNr || max != 8 {
				t.Fatalf("query_size = %d, %d, %v; want %d, 8, okay", nr, max, st, tc.wantNr)
			}
			// The frames are distinct, zeroed, and stable across calls.
			again, _ := w.ts.SetupTable(target, abi.DOMID_SELF, nr, nil)
			seen := map[mm.MFN]bool{}
			for i, f := range again {
				if seen[f] || f < poolFirst {
					t.Fatalf("frame %d = %#x repeated or not from the pool", i, f)
				}
				seen[f] = true
				if i < len(fs) && fs[i] != f {
					t.Fatalf("frame %d moved: %#x then %#x", i, fs[i], f)
				}
				var b [mm.PageSize]byte
				w.mem.Read(f.Addr(), b[:])
				for _, c := range b {
					if c != 0 {
						t.Fatalf("frame %#x not zeroed", f)
					}
				}
			}
		})
	}
}

func TestSetupTableZeroesGrownFrames(t *testing.T) {
	w := newWorld(t, Config{})
	// Dirty the pool's next frames, as a previous user would have.
	for m := mm.MFN(poolFirst); m < ramFrames; m++ {
		w.mem.Write(m.Addr(), []byte{0xAA, 0xBB})
	}
	fs, st := w.ts.SetupTable(d1, abi.DOMID_SELF, 3, nil)
	if st != GNTST_okay {
		t.Fatal(st)
	}
	for _, f := range fs[1:] {
		var b [2]byte
		w.mem.Read(f.Addr(), b[:])
		if b != [2]byte{} {
			t.Fatalf("grown frame %#x not zeroed: % x", f, b)
		}
	}
}

func TestQuerySize(t *testing.T) {
	w := newWorld(t, Config{MaxGrantFrames: 4})
	if e := w.ts.Create(dom0, Config{Control: true}, w.pool); e != 0 {
		t.Fatal(e)
	}
	tests := []struct {
		caller, dom abi.DomID
		nr, max     uint32
		want        Status
	}{
		{d1, abi.DOMID_SELF, 1, 4, GNTST_okay},
		{d1, d1, 1, 4, GNTST_okay},
		{d1, d2, 0, 0, GNTST_permission_denied},
		{d1, 9, 0, 0, GNTST_bad_domain},
		{dom0, d2, 1, 4, GNTST_okay},
		{dom0, abi.DOMID_SELF, 1, DefaultMaxGrantFrames, GNTST_okay},
	}
	for _, tc := range tests {
		nr, max, st := w.ts.QuerySize(tc.caller, tc.dom)
		if nr != tc.nr || max != tc.max || st != tc.want {
			t.Errorf("QuerySize(d%d, %#x) = %d, %d, %v; want %d, %d, %v",
				tc.caller, tc.dom, nr, max, st, tc.nr, tc.max, tc.want)
		}
	}
}

func TestVersions(t *testing.T) {
	w := newWorld(t, Config{})
	if e := w.ts.Create(dom0, Config{Control: true}, w.pool); e != 0 {
		t.Fatal(e)
	}
	for _, tc := range []struct {
		caller, dom abi.DomID
		want        uint32
		e           abi.Errno
	}{
		{d1, abi.DOMID_SELF, 1, 0},
		{d1, d1, 1, 0},
		{d1, d2, 0, abi.EPERM},
		{d1, 42, 0, abi.ESRCH},
		{dom0, d2, 1, 0},
	} {
		v, e := w.ts.GetVersion(tc.caller, tc.dom)
		if v != tc.want || e != tc.e {
			t.Errorf("GetVersion(d%d, %#x) = %d, %v; want %d, %v", tc.caller, tc.dom, v, e, tc.want, tc.e)
		}
	}
	for _, tc := range []struct {
		version uint32
		e       abi.Errno
	}{
		{1, 0},
		{2, abi.ENOSYS},
		{0, abi.EINVAL},
		{3, abi.EINVAL},
		{^uint32(0), abi.EINVAL},
	} {
		v, e := w.ts.SetVersion(d1, tc.version)
		if v != 1 || e != tc.e {
			t.Errorf("SetVersion(%d) = %d, %v; want 1, %v", tc.version, v, e, tc.e)
		}
	}
	if _, e := w.ts.SetVersion(42, 1); e != abi.ENOSYS {
		t.Errorf("SetVersion without a table = %v, want ENOSYS", e)
	}
}

func TestCreateDestroy(t *testing.T) {
	w := newWorld(t, Config{})
	for _, tc := range []struct {
		name string
		d    abi.DomID
		cfg  Config
		e    abi.Errno
	}{
		{"exists", d1, Config{}, abi.EEXIST},
		{"max frames too big", 5, Config{MaxGrantFrames: MaxGrantFramesLimit + 1}, abi.EINVAL},
		{"max frames at limit", 5, Config{MaxGrantFrames: MaxGrantFramesLimit}, 0},
		{"maptrack too big", 6, Config{MaxMaptrackFrames: DefaultMaxMaptrackFrames + 1}, abi.EINVAL},
		{"version 2", 7, Config{MaxVersion: 2}, 0},
		{"version 3", 9, Config{MaxVersion: 3}, abi.EINVAL},
		{"reserved id", abi.DOMID_SELF, Config{}, abi.EINVAL},
	} {
		if e := w.ts.Create(tc.d, tc.cfg, w.pool); e != tc.e {
			t.Errorf("%s: Create = %v, want %v", tc.name, e, tc.e)
		}
	}
	w.pool.fail = true
	if e := w.ts.Create(8, Config{}, w.pool); e != abi.ENOMEM {
		t.Errorf("Create without memory = %v, want ENOMEM", e)
	}
	w.pool.fail = false
	inUse := len(w.pool.inUse)
	if e := w.ts.Destroy(5); e != 0 {
		t.Fatal(e)
	}
	if len(w.pool.inUse) != inUse-1 {
		t.Errorf("Destroy returned %d frames, want 1", inUse-len(w.pool.inUse))
	}
	if e := w.ts.Destroy(5); e != abi.ESRCH {
		t.Errorf("second Destroy = %v, want ESRCH", e)
	}
}

func TestCheckCall(t *testing.T) {
	w := newWorld(t, Config{})
	for _, tc := range []struct {
		caller     abi.DomID
		cmd, count uint32
		op         uint32
		e          abi.Errno
	}{
		{d1, abi.GNTTABOP_map_grant_ref, 0, abi.GNTTABOP_map_grant_ref, 0},
		{d1, abi.GNTTABOP_map_grant_ref, 1 << 31, 0, abi.EINVAL},
		{d1, abi.GNTTABOP_map_grant_ref, 1<<31 - 1, abi.GNTTABOP_map_grant_ref, 0},
		{d1, abi.GNTTABOP_unmap_grant_ref, 5, abi.GNTTABOP_unmap_grant_ref, 0},
		{d1, abi.GNTTABOP_copy, 5, abi.GNTTABOP_copy, 0},
		{d1, abi.GNTTABOP_setup_table, 1, abi.GNTTABOP_setup_table, 0},
		{d1, abi.GNTTABOP_setup_table, 2, 0, abi.EINVAL},
		{d1, abi.GNTTABOP_query_size, 0, 0, abi.EINVAL},
		{d1, abi.GNTTABOP_set_version, 1, abi.GNTTABOP_set_version, 0},
		{d1, abi.GNTTABOP_get_version, 1, abi.GNTTABOP_get_version, 0},
		{d1, abi.GNTTABOP_copy | 1<<12, 1, 0, abi.EINVAL},
		{d1, abi.GNTTABOP_swap_grant_ref, 3, abi.GNTTABOP_swap_grant_ref, 0},
		{d1, abi.GNTTABOP_transfer, 1, 0, abi.ENOSYS},
		{d1, abi.GNTTABOP_get_status_frames, 1, abi.GNTTABOP_get_status_frames, 0},
		{d1, abi.GNTTABOP_get_status_frames, 2, 0, abi.EINVAL},
		{d1, abi.GNTTABOP_unmap_and_replace, 1, 0, abi.ENOSYS},
		{d1, abi.GNTTABOP_cache_flush | 1<<12, 1, 0, abi.ENOSYS},
		{d1, 13, 1, 0, abi.ENOSYS},
		{d1, CmdMask, 1, 0, abi.ENOSYS},
		{42, abi.GNTTABOP_map_grant_ref, 1, 0, abi.ENOSYS},
	} {
		op, e := w.ts.CheckCall(tc.caller, tc.cmd, tc.count)
		if op != tc.op || e != tc.e {
			t.Errorf("CheckCall(d%d, %#x, %d) = %d, %v; want %d, %v", tc.caller, tc.cmd, tc.count, op, e, tc.op, tc.e)
		}
	}
}

func TestStatusString(t *testing.T) {
	if GNTST_bad_copy_arg.String() != "GNTST_bad_copy_arg" || Status(1).String() != "GNTST(?)" ||
		Status(-14).Valid() || !GNTST_no_space.Valid() {
		t.Error("Status names or Valid are wrong")
	}
}
