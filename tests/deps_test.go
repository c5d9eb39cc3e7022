package tests

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/gohv/gohv"

// layer places every package of the module in gohv's import order (the
// packages' doc.go files say what each may import): a package may import
// project packages of a lower layer only (a package's own helper
// subpackages, e.g. mm/mmtest, sit at their parent's layer and are
// imported by _test files only). The metal (arch/...) is its own stack
// that only commands may import.
var layer = map[string]int{
	"abi":               0,
	"arch":              0,
	"internal/klog":     0,
	"internal/selftest": 0,
	"internal/image":    0,
	"internal/chacha20": 0,
	"internal/testenv":  0,
	"mm":                1,
	"evtchn":            2,
	"pirq":              3,
	"pci":               1, // imports abi
	"ioport":            2, // imports pci
	"grant":             2,
	"boot":              2,
	"kernel":            2,
	"sched":             3,
	"hypercall":         4,
	"hv":                5,

	"internal/lockorder": 0, // evtchn's and grant's two-lock helper
	// The metal's pure parts (no unsafe, no assembly, host-tested):
	// descriptor, page-table and boot-memory arithmetic, and the Linux
	// system-call ABI the shim decodes. arch/amd64 and arch/amd64/rt
	// import them; hw imports only abi and arch (layer 0), linux nothing
	// of the project.
	"arch/amd64/hw":    1, // imports abi and arch (the guest ranges)
	"arch/amd64/linux": 0,
}

// metal packages may use unsafe and assembly; nothing pure may import them.
// arch/amd64/futex is the futex word a vCPU sleeps on (cmd/gohv gives it
// to hv as a sched.Parker).
var metal = map[string]bool{"arch/amd64": true, "arch/amd64/rt": true, "arch/amd64/futex": true}

type pkgInfo struct {
	ImportPath   string
	Imports      []string
	TestImports  []string // of the package's own _test files
	XTestImports []string // of its external (package x_test) _test files
	GoFiles      []string
	TestGoFiles  []string
	XTestGoFiles []string
	SFiles       []string
	Dir          string
}

// testHelpers are the project packages that exist for tests only: a
// package's helper subpackage named after it (mm/mmtest, sched/schedtest)
// and internal/testenv. Only _test files, other helpers and a helper's own
// subpackages (a go:generate command) import them.
// A new helper package is listed here.
var testHelpers = map[string]bool{
	"internal/testenv":            true,
	"mm/mmtest":                   true,
	"sched/schedtest":             true,
	"kernel/internal/testvectors": true, // and its go:generate command, testvectors/gen
}

func testHelper(name string) bool { return testHelpers[name] }

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	need(t, "go")
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = repoRoot
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=amd64")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

// layerOf returns the layer of a package, inheriting its nearest listed
// parent's (subpackages count as part of their parent).
func layerOf(p string) (int, bool) {
	for q := p; q != "." && q != ""; q = filepath.Dir(q) {
		if l, ok := layer[q]; ok {
			return l, true
		}
	}
	return 0, false
}

// TestImportRules holds gohv's import rules with `go list`: pure
// packages import no unsafe, have no assembly and never reach the metal
// (also transitively, through -deps); project imports run one way; only
// commands import arch/amd64/...; unsafe lives only in *_unsafe.go files.
func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		name := rel(p.ImportPath)
		isCmd := strings.HasPrefix(name, "cmd/")
		isMetal := metal[name]
		myLayer, layered := layerOf(name)
		if !isCmd && !isMetal && !layered && name != "tests" {
			t.Errorf("%s: no layer in tests/deps_test.go: place it in the import order", name)
			continue
		}
		for _, imp := range p.Imports {
			if imp == "unsafe" && !isMetal {
				t.Errorf("%s imports unsafe: only the metal (arch/amd64/...) may", name)
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := rel(imp)
			if metal[dep] && !isCmd && !isMetal {
				t.Errorf("%s imports the metal package %s: only cmd/... may", name, dep)
			}
			if isCmd || isMetal || name == "tests" {
				continue
			}
			depLayer, ok := layerOf(dep)
			isOwnSub := strings.HasPrefix(dep, name+"/")
			if ok && depLayer >= myLayer && !strings.HasPrefix(name, dep+"/") && !isOwnSub {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must go down the layers", name, myLayer, dep, depLayer)
			}
		}
		if len(p.SFiles) > 0 && !isMetal {
			t.Errorf("%s has assembly %v: only the metal may", name, p.SFiles)
		}
		for _, s := range p.SFiles {
			if !strings.HasSuffix(s, "_amd64.s") {
				t.Errorf("%s: assembly file %s must be named *_amd64.s", name, s)
			}
		}
		for _, f := range p.GoFiles {
			if strings.HasSuffix(f, "_unsafe.go") {
				continue
			}
			if importsUnsafe(t, filepath.Join(p.Dir, f)) {
				t.Errorf("%s/%s imports unsafe: unsafe lives only in *_unsafe.go files", name, f)
			}
		}
	}
}

// TestTestImportRules holds the same rules for the packages' _test files
// (internal and external): a pure package's tests import no unsafe and
// never the metal, and their project imports go down the layers as the
// package's own do, except for the package itself (external tests), its
// own subpackages and the test helpers (testHelper). Test helpers are
// imported by _test files (and other helpers) only, never by a package's
// own code.
func TestTestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	tested := 0
	listed := map[string]bool{}
	for _, p := range pkgs {
		listed[rel(p.ImportPath)] = true
	}
	for h := range testHelpers {
		if !listed[h] {
			t.Errorf("test helper %s (testHelpers) is not a package of the module", h)
		}
	}
	for _, p := range pkgs {
		name := rel(p.ImportPath)
		isCmd := strings.HasPrefix(name, "cmd/")
		isMetal := metal[name]
		for _, imp := range p.Imports {
			if dep := rel(imp); strings.HasPrefix(imp, module+"/") && testHelper(dep) && !testHelper(name) && !strings.HasPrefix(name, dep+"/") {
				t.Errorf("%s imports the test helper %s outside its _test files", name, dep)
			}
		}
		if isCmd || isMetal || name == "tests" {
			continue
		}
		myLayer, layered := layerOf(name)
		if !layered {
			continue // TestImportRules reports it
		}
		imports := append(append([]string(nil), p.TestImports...), p.XTestImports...)
		if len(p.TestGoFiles)+len(p.XTestGoFiles) > 0 {
			tested++
		}
		for _, imp := range imports {
			if imp == "unsafe" {
				t.Errorf("%s: a _test file imports unsafe: pure packages' tests may not", name)
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := rel(imp)
			if metal[dep] {
				t.Errorf("%s: a _test file imports the metal package %s", name, dep)
				continue
			}
			if dep == name || strings.HasPrefix(dep, name+"/") || testHelper(dep) {
				continue
			}
			if depLayer, ok := layerOf(dep); ok && depLayer >= myLayer && !strings.HasPrefix(name, dep+"/") {
				t.Errorf("%s (layer %d): a _test file imports %s (layer %d): imports must go down the layers", name, myLayer, dep, depLayer)
			}
		}
	}
	if tested == 0 {
		t.Fatal("no pure package has _test files: go list gave no test files")
	}
}

// TestPureDepsReachNoMetal checks the transitive closure too.
func TestPureDepsReachNoMetal(t *testing.T) {
	for _, p := range listPackages(t) {
		name := rel(p.ImportPath)
		if _, ok := layerOf(name); !ok || metal[name] {
			continue
		}
		cmd := exec.Command("go", "list", "-deps", p.ImportPath)
		cmd.Dir = repoRoot
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", name, err)
		}
		for _, d := range strings.Fields(string(out)) {
			if metal[rel(d)] || strings.Contains(d, "gvisor.dev/gvisor/pkg/ring0") {
				t.Errorf("%s depends on %s", name, d)
			}
		}
	}
}

func importsUnsafe(t *testing.T, file string) bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		if imp.Path.Value == `"unsafe"` {
			return true
		}
	}
	return false
}
