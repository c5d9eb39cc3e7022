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

// layer places every package of the module in ARCHITECTURE.md's import
// order: a package may import project packages of a lower layer only (a
// package's own helper subpackages, e.g. mm/mmtest, sit at their parent's
// layer plus one half and are imported by _test files only). The metal
// (arch/...) is its own stack that only commands may import.
var layer = map[string]int{
	"abi":               0,
	"arch":              0,
	"internal/klog":     0,
	"internal/selftest": 0,
	"internal/image":    0,
	"mm":                1,
	"evtchn":            2,
	"pirq":              3,
	"grant":             2,
	"boot":              2,
	"kernel":            2,
	"sched":             3,
	"hypercall":         4,
	"hv":                5,
}

// metal packages may use unsafe and assembly; nothing pure may import them.
var metal = map[string]bool{"arch/amd64": true, "arch/amd64/rt": true}

type pkgInfo struct {
	ImportPath string
	Imports    []string
	GoFiles    []string
	SFiles     []string
	Dir        string
}

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

// TestImportRules holds ARCHITECTURE.md's rules with `go list`: pure
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
			t.Errorf("%s: no layer in tests/deps_test.go: place it in ARCHITECTURE.md's order", name)
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
