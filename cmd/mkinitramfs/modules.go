package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// modName is a module's name as Linux compares them: '-' and '_' are the
// same character (modprobe's rule), so xen-evtchn.ko is xen_evtchn.
func modName(s string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(s), ".ko"), "-", "_")
}

// modinfoDepends returns the depends= field of a module's .modinfo section
// (NUL-separated key=value strings, written by modpost): the modules whose
// symbols it uses, the list depmod turns into modules.dep.
func modinfoDepends(modinfo []byte) []string {
	var deps []string
	for _, kv := range bytes.Split(modinfo, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("depends="))
		if !ok {
			continue
		}
		for _, d := range strings.Split(string(v), ",") {
			if d != "" {
				deps = append(deps, modName(d))
			}
		}
	}
	return deps
}

// moduleTree is a lib/modules/<release> directory as Debian's linux-image
// package ships it.
type moduleTree struct {
	dir     string
	path    map[string]string // module name -> path relative to dir
	builtin map[string]bool   // module names built into the kernel (modules.builtin)
}

func openTree(dir string) (*moduleTree, error) {
	t := &moduleTree{dir: dir, path: map[string]string{}, builtin: map[string]bool{}}
	f, err := os.Open(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		t.builtin[modName(sc.Text())] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	err = filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".ko") {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		t.path[modName(p)] = rel
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// depends reads the depends= list of a module file.
func (t *moduleTree) depends(name string) ([]string, error) {
	f, err := elf.Open(filepath.Join(t.dir, t.path[name]))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", t.path[name])
	}
	b, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", t.path[name], err)
	}
	return modinfoDepends(b), nil
}

// loadOrder returns the modules to put in the archive, each after the
// modules it depends on (the order insmod needs), and the wanted names that
// are built into the kernel. depends gives a module's direct dependencies;
// have says whether a name is a module file (a dependency that is not one
// and not builtin is an error, as is a cycle).
func loadOrder(want []string, depends func(string) ([]string, error), have, builtin func(string) bool) (order, inKernel []string, err error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(name, from string) error
	visit = func(name, from string) error {
		switch {
		case state[name] == done:
			return nil
		case state[name] == visiting:
			return fmt.Errorf("dependency cycle through %s", name)
		case builtin(name):
			state[name] = done
			if from == "" {
				inKernel = append(inKernel, name)
			}
			return nil
		case !have(name):
			if from == "" {
				return fmt.Errorf("module %s: not in the package", name)
			}
			return fmt.Errorf("module %s (needed by %s): not in the package", name, from)
		}
		state[name] = visiting
		deps, err := depends(name)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, w := range want {
		if err := visit(modName(w), ""); err != nil {
			return nil, nil, err
		}
	}
	return order, inKernel, nil
}
