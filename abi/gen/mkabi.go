// Copyright 2026 The gohv Authors. All rights reserved.

//go:build ignore

// mkabi generates the Xen public ABI files of package abi from the Xen 4.17
// public headers installed by Debian's libxen-dev (/usr/include/xen):
//
//	ztypes_amd64.go  structures, from gen/types.go via `go tool cgo -godefs`
//	zconst.go        constants (macros and enum constants), via cgo -godefs
//	zerrno.go        the Errno set of xen/errno.h, via cgo -godefs
//	zlayout_amd64_test.go  the C sizeof/offsetof of every structure and
//	                 field, evaluated by cgo -godefs, for TestGeneratedLayout
//
// Run it from the abi directory (go generate does this):
//
//	go run gen/mkabi.go
//
// How it works, in the manner of golang.org/x/sys/unix (types_linux.go fed
// to cgo -godefs, then mkpost.go):
//
//  1. The C preamble of gen/types.go is preprocessed by gcc twice: with -dM
//     to list every macro, and plainly to list enum constants, the guest
//     handle typedefs and the header each structure is declared in.
//  2. Macros and enum constants are kept when their Go name matches one of
//     the prefix rules in constGroups and gcc accepts them as integer
//     constant expressions (a _Static_assert probe); strings, types and
//     function-like macros are left out.
//  3. cgo -godefs evaluates the structures (gen/types.go, plus a
//     "+godefs map __guest_handle_X GuestHandle" line per guest handle
//     typedef) and the selected constants.
//  4. Post-processing renames fields to CamelCase of their full C names
//     (cgo drops a prefix common to all fields, e.g. evtchn_ in vcpu_info;
//     the full names are read from the DWARF of a gcc -g compile and
//     matched by offset), keeps the C name and offset in a comment, turns
//     char arrays into byte arrays, names all padding "_" and makes every
//     implicit padding gap explicit (offsets from go/types with the gc
//     amd64 sizes), so that encoding/binary.Size of each structure equals
//     the C sizeof.
//  5. The C sizeof of every structure and offsetof of every field are
//     evaluated by cgo too and written to zlayout_amd64_test.go, which
//     checks them against reflect and encoding/binary.
//
// The generator fails, rather than emitting something wrong, when a C type
// has no Go name, a field has no C member at its offset, two names collide,
// or a selected constant is not an integer constant expression.
//
// Name rules (documented in ../doc.go):
//   - constants keep Xen's names; a leading "__" is dropped
//     (__HYPERVISOR_xen_version -> HYPERVISOR_xen_version); a leading single
//     "_" marks a bit number in Xen and becomes a "_bit" suffix
//     (_GTF_reading -> GTF_reading_bit);
//   - struct types are named in gen/types.go (CamelCase of the C tag);
//   - fields are CamelCase of the C name: split at "_", capitalise each part
//     (nr_pages -> NrPages, evtchn_pending_sel -> EvtchnPendingSel).
package main

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"go/types"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const typesInput = "gen/types.go"

// constGroups selects constants by Go name (after the leading-underscore
// rule). The first matching rule wins; each becomes one const block.
var constGroups = []struct {
	doc string
	re  string
}{
	{"Hypercall numbers (xen.h __HYPERVISOR_*).", `^HYPERVISOR_[a-z]`},
	{"Virtual interrupts (xen.h).", `^(VIRQ_|NR_VIRQS$)`},
	{"mmu_update commands and update_va_mapping flags (xen.h).", `^(MMU_|UVMF_)`},
	{"mmuext_op commands (xen.h).", `^MMUEXT_`},
	{"vm_assist types (xen.h).", `^(VMASST_|MAX_VMASST_TYPE$)`},
	{"Domain ids (xen.h).", `^DOMID_`},
	{"start_info flags and limits (xen.h).", `^(SIF_|MAX_GUEST_CMDLINE$|XEN_LEGACY_MAX_VCPUS$|XEN_VGATYPE_)`},
	{"console_io commands (xen.h).", `^CONSOLEIO_`},
	{"vcpu_time_info flags (xen.h).", `^XEN_PVCLOCK_`},
	{"x86-64 address space, selectors and GDT (arch-x86/xen.h, arch-x86/xen-x86_64.h).", `^(HYPERVISOR_VIRT_|HYPERVISOR_COMPAT_|MACH2PHYS_|FLAT_|FIRST_RESERVED_GDT_|XEN_HAVE_|XEN_X86_|XEN_HVM_DEBUGCONS_IOPORT$)`},
	{"set_segment_base selectors (arch-x86/xen-x86_64.h).", `^SEGBASE_`},
	{"vcpu_guest_context flags (arch-x86/xen.h).", `^VGCF_`},
	{"Event channel operations and flags (event_channel.h).", `^(EVTCHNOP_|BIND_PIRQ__)`},
	{"Event channel status (event_channel.h).", `^EVTCHNSTAT_`},
	{"FIFO event channels (event_channel.h).", `^(EVTCHN_FIFO_|EVTCHN_2L_)`},
	{"Grant table operations (grant_table.h).", `^GNTTABOP_`},
	{"Grant entry flags (grant_table.h).", `^GTF_`},
	{"Grant map flags (grant_table.h).", `^(GNTMAP_|GNTCOPY_|GNTTAB_)`},
	{"Grant status codes (grant_table.h). Per-operation status, not errno values.", `^GNTST_`},
	{"memory_op commands and flags (memory.h).", `^(XENMEM_|XENMAPSPACE_|XENMAPIDX_|XENMEMF_)`},
	{"sched_op commands and shutdown reasons (sched.h).", `^(SCHEDOP_|SHUTDOWN_)`},
	{"vcpu_op commands (vcpu.h).", `^(VCPUOP_|VCPU_SSHOTTMR_|RUNSTATE_|XEN_RUNSTATE_|XEN_VCPU_)`},
	{"physdev_op commands (physdev.h).", `^(PHYSDEVOP_|MAP_PIRQ_|XEN_PCI_|PHYSDEV_|XENIRQSTAT_)`},
	{"xen_version commands and buffer sizes (version.h).", `^(XENVER_|XEN_[A-Z_]+_LEN$)`},
	{"Feature flags (features.h).", `^XENFEAT_`},
	{"callback_op (callback.h).", `^(CALLBACKOP_|CALLBACKTYPE_|CALLBACKF_)`},
	{"nmi_op (nmi.h).", `^(XENNMI_|_?XEN_NMIREASON)`},
	{"ELF notes (elfnote.h).", `^XEN_ELFNOTE_`},
	{"platform_op (platform.h).", `^(XENPF_|XEN_FW_|XEN_PX_|XEN_PROCESSOR_|XEN_CORE_PARKING_|XEN_RESOURCE_OP_|XEN_PM_|XEN_CPU_PERF|XEN_PCPU_)`},
	{"Xenstore wire protocol (io/xs_wire.h).", `^(XS_|XSD_|XENSTORE_)`},
}

// cconst is a selected constant: its C name and its Go name.
type cconst struct{ c, goName string }

func main() {
	if _, err := os.Stat(typesInput); err != nil {
		fatalf("run from the abi directory: %v", err)
	}
	src, err := os.ReadFile(typesInput)
	check(err)
	preamble, cflags := extractPreamble(string(src))

	tmp, err := os.MkdirTemp("", "mkabi")
	check(err)
	if os.Getenv("MKABI_KEEP") == "" {
		defer os.RemoveAll(tmp)
	}

	cfile := filepath.Join(tmp, "preamble.c")
	check(os.WriteFile(cfile, []byte(preamble), 0o644))
	macroText := run("gcc", append(append([]string{}, cflags...), "-E", "-dM", cfile)...)
	preText := run("gcc", append(append([]string{}, cflags...), "-E", cfile)...)

	macros := parseMacros(macroText)
	enums, enumOrder := parseEnums(preText)
	handles := parseHandles(preText)
	origins := parseOrigins(preText)

	// Select constants.
	var cands []cconst
	seen := map[string]string{}
	add := func(c string) {
		g := goConstName(c)
		if g == "" || groupOf(g) < 0 {
			return
		}
		if prev, ok := seen[g]; ok {
			if prev != c {
				fatalf("constants %s and %s both map to %s", prev, c, g)
			}
			return
		}
		seen[g] = c
		cands = append(cands, cconst{c, g})
	}
	for _, m := range sortedKeys(macros) {
		if strings.Contains(macros[m], `"`) {
			continue
		}
		add(m)
	}
	for _, e := range enumOrder {
		if enums[e] == "xen_errno" {
			continue
		}
		add(e)
	}
	var names []string
	for _, c := range cands {
		names = append(names, c.c)
	}
	ok := probeConstants(tmp, preamble, cflags, names)
	var consts []cconst
	for _, c := range cands {
		if ok[c.c] {
			consts = append(consts, c)
		}
	}

	// Errno values: the enum xen_errno constants XEN_Exxx, in header order.
	var errnoC []string
	for _, e := range enumOrder {
		if enums[e] == "xen_errno" {
			errnoC = append(errnoC, e)
		}
	}
	if len(errnoC) == 0 {
		fatalf("no xen_errno enum constants found")
	}

	// cgo -godefs for the types.
	var tb strings.Builder
	tb.WriteString(string(src))
	tb.WriteString("\n// Guest handles are 64-bit guest virtual addresses.\n")
	for _, h := range handles {
		fmt.Fprintf(&tb, "// +godefs map %s GuestHandle\n", h)
	}
	typesGo := filepath.Join(tmp, "types.go")
	check(os.WriteFile(typesGo, []byte(tb.String()), 0o644))
	typeOut := godefs(tmp, cflags, typesGo)

	typesText, layout := postTypes(typeOut, src, origins, func(ctypes []string) map[string][]cMember {
		return dwarfMembers(tmp, preamble, cflags, ctypes)
	})

	// cgo -godefs for the constants, and for the C sizes and offsets of
	// the structures (for the generated layout test).
	layoutPre := layoutPreamble(layout)
	var cb strings.Builder
	cb.WriteString("package abi\n\n/*\n" + preamble + layoutPre + "*/\nimport \"C\"\n\nconst (\n")
	for _, c := range consts {
		fmt.Fprintf(&cb, "\t%s = C.%s\n", c.goName, c.c)
	}
	for _, e := range errnoC {
		fmt.Fprintf(&cb, "\tERRNO_%s = C.%s\n", strings.TrimPrefix(e, "XEN_"), e)
	}
	for i := range layout {
		fmt.Fprintf(&cb, "\tLAYOUT_%d = C.gohv_layout_%d\n", i, i)
	}
	cb.WriteString(")\n")
	constsGo := filepath.Join(tmp, "consts.go")
	check(os.WriteFile(constsGo, []byte(cb.String()), 0o644))
	constOut := godefs(tmp, cflags, constsGo)
	values := parseConstValues(constOut)

	version := strings.TrimSpace(run("dpkg-query", "-W", "-f=${Version}", "libxen-dev"))
	header := func(what string) string {
		return "// Code generated by gen/mkabi.go; DO NOT EDIT.\n" +
			"// Command: go run gen/mkabi.go (in abi/; go generate runs it via gen/mkabi.sh)\n" +
			"// which runs: go tool cgo -godefs -- " + strings.Join(cflags, " ") + " " + what + "\n" +
			"// Headers: /usr/include/xen from libxen-dev " + version + ", __XEN_INTERFACE_VERSION__ 0x00040e00.\n\n"
	}

	writeGo("ztypes_amd64.go", header("gen/types.go (+ one \"+godefs map __guest_handle_* GuestHandle\" line per guest handle)")+
		typesText)
	writeGo("zlayout_amd64_test.go", header("<sizeof and offsetof of every structure and field of ztypes_amd64.go>")+
		genLayoutTest(layout, values))
	writeGo("zconst.go", header("<constants selected from gen/types.go's preamble by the rules in gen/mkabi.go>")+
		genConsts(consts, values))
	writeGo("zerrno.go", header("<C.XEN_Exxx of enum xen_errno, xen/errno.h>")+
		genErrno(errnoC, values))
}

// extractPreamble returns the cgo preamble of src without #cgo lines, and the
// CFLAGS given by its #cgo lines.
func extractPreamble(src string) (string, []string) {
	i := strings.Index(src, "/*\n#cgo")
	j := strings.Index(src, "*/\nimport \"C\"")
	if i < 0 || j < 0 || j < i {
		fatalf("%s: no cgo preamble found", typesInput)
	}
	var pre strings.Builder
	var flags []string
	for _, line := range strings.Split(src[i+3:j], "\n") {
		if rest, ok := strings.CutPrefix(line, "#cgo CFLAGS:"); ok {
			flags = append(flags, strings.Fields(rest)...)
			continue
		}
		pre.WriteString(line + "\n")
	}
	return pre.String(), flags
}

var defineRE = regexp.MustCompile(`^#define ([A-Za-z_][A-Za-z0-9_]*)(\(?)\s*(.*)$`)

// parseMacros returns the object-like macros of gcc -dM output.
func parseMacros(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		s := defineRE.FindStringSubmatch(line)
		if s == nil || s[2] == "(" {
			continue
		}
		m[s[1]] = s[3]
	}
	return m
}

var enumRE = regexp.MustCompile(`enum\s*([A-Za-z_0-9]*)\s*\{([^}]*)\}`)

// parseEnums returns enum constant -> enum tag, and the constants in order.
func parseEnums(text string) (map[string]string, []string) {
	tags := map[string]string{}
	var order []string
	var clean strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "#") {
			clean.WriteString(line + "\n")
		}
	}
	for _, s := range enumRE.FindAllStringSubmatch(clean.String(), -1) {
		for _, item := range strings.Split(s[2], ",") {
			name := strings.TrimSpace(item)
			if k := strings.Index(name, "="); k >= 0 {
				name = strings.TrimSpace(name[:k])
			}
			if name == "" {
				continue
			}
			if _, dup := tags[name]; !dup {
				order = append(order, name)
			}
			tags[name] = s[1]
		}
	}
	return tags, order
}

var handleRE = regexp.MustCompile(`typedef\s+struct\s*\{[^}]*\}\s*(__guest_handle_[A-Za-z0-9_]+)\s*;`)

func parseHandles(text string) []string {
	set := map[string]bool{}
	for _, s := range handleRE.FindAllStringSubmatch(text, -1) {
		set[s[1]] = true
	}
	return sortedKeys(set)
}

var (
	lineMarkRE  = regexp.MustCompile(`^# \d+ "([^"]+)"`)
	structDefRE = regexp.MustCompile(`^\s*(?:typedef\s+)?(struct|union)\s+([A-Za-z_0-9]+)\s*\{?\s*$`)
)

// parseOrigins maps "struct_x"/"union_x" to the header declaring it.
func parseOrigins(text string) map[string]string {
	out := map[string]string{}
	file := ""
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if s := lineMarkRE.FindStringSubmatch(line); s != nil {
			file = s[1]
			continue
		}
		s := structDefRE.FindStringSubmatch(line)
		if s == nil || !strings.HasPrefix(file, "/usr/include/xen/") {
			continue
		}
		if !strings.HasSuffix(strings.TrimSpace(line), "{") {
			if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "{" {
				continue
			}
		}
		key := s[1] + "_" + s[2]
		if _, ok := out[key]; !ok {
			out[key] = strings.TrimPrefix(file, "/usr/include/xen/")
		}
	}
	return out
}

// goConstName applies the constant name rule.
func goConstName(c string) string {
	switch {
	case strings.HasPrefix(c, "__HYPERVISOR_") && len(c) > 13 && c[13] >= 'a' && c[13] <= 'z':
		return c[2:] // hypercall numbers
	case strings.HasPrefix(c, "__"):
		return ""
	case strings.HasPrefix(c, "_"):
		return c[1:] + "_bit"
	}
	return c
}

var groupREs []*regexp.Regexp

func groupOf(goName string) int {
	if groupREs == nil {
		for _, g := range constGroups {
			groupREs = append(groupREs, regexp.MustCompile(g.re))
		}
	}
	name := strings.TrimSuffix(goName, "_bit")
	for i, re := range groupREs {
		if re.MatchString(name) {
			return i
		}
	}
	return -1
}

var errLineRE = regexp.MustCompile(`probe\.c:(\d+):\d+: error`)

// probeConstants returns the names gcc accepts as integer constant
// expressions.
func probeConstants(tmp, preamble string, cflags, names []string) map[string]bool {
	ok := map[string]bool{}
	for _, n := range names {
		ok[n] = true
	}
	for iter := 0; iter < 20; iter++ {
		var b strings.Builder
		b.WriteString(preamble)
		first := strings.Count(preamble, "\n") + 1
		lineOf := map[int]string{}
		k := 0
		for _, n := range names {
			if !ok[n] {
				continue
			}
			fmt.Fprintf(&b, "_Static_assert((%s) || 1, \"%s\");\n", n, n)
			lineOf[first+k] = n
			k++
		}
		p := filepath.Join(tmp, "probe.c")
		check(os.WriteFile(p, []byte(b.String()), 0o644))
		cmd := exec.Command("gcc", append(append([]string{}, cflags...), "-fsyntax-only", "-w", p)...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return ok
		}
		bad := 0
		for _, s := range errLineRE.FindAllStringSubmatch(string(out), -1) {
			ln, _ := strconv.Atoi(s[1])
			if n, found := lineOf[ln]; found && ok[n] {
				ok[n] = false
				bad++
			}
		}
		if bad == 0 {
			fatalf("constant probe failed without attributable errors:\n%s", out)
		}
	}
	fatalf("constant probe did not converge")
	return nil
}

func godefs(tmp string, cflags []string, file string) string {
	args := append([]string{"tool", "cgo", "-godefs", "-objdir", tmp + string(filepath.Separator), "--"}, cflags...)
	args = append(args, file)
	return run("go", args...)
}

var constLineRE = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)\s*$`)

func parseConstValues(out string) map[string]*big.Int {
	vals := map[string]*big.Int{}
	for _, line := range strings.Split(out, "\n") {
		s := constLineRE.FindStringSubmatch(line)
		if s == nil {
			continue
		}
		v, ok := new(big.Int).SetString(s[2], 0)
		if !ok {
			fatalf("cannot parse value of %s: %q", s[1], s[2])
		}
		vals[s[1]] = v
	}
	return vals
}

func formatValue(v *big.Int) string {
	if v.Sign() < 0 {
		return v.String()
	}
	if v.Cmp(big.NewInt(1024)) < 0 {
		return v.String()
	}
	return "0x" + v.Text(16)
}

func genConsts(consts []cconst, vals map[string]*big.Int) string {
	var b strings.Builder
	b.WriteString("package abi\n")
	byGroup := make([][]cconst, len(constGroups))
	for _, c := range consts {
		g := groupOf(c.goName)
		byGroup[g] = append(byGroup[g], c)
	}
	for g, list := range byGroup {
		if len(list) == 0 {
			continue
		}
		sort.Slice(list, func(i, j int) bool {
			vi, vj := vals[list[i].goName], vals[list[j].goName]
			if vi == nil || vj == nil {
				fatalf("no value for %s or %s", list[i].goName, list[j].goName)
			}
			if c := vi.Cmp(vj); c != 0 {
				return c < 0
			}
			return list[i].goName < list[j].goName
		})
		fmt.Fprintf(&b, "\n// %s\nconst (\n", constGroups[g].doc)
		for _, c := range list {
			fmt.Fprintf(&b, "\t%s = %s", c.goName, formatValue(vals[c.goName]))
			if c.c != c.goName {
				fmt.Fprintf(&b, " // %s", c.c)
			}
			b.WriteString("\n")
		}
		b.WriteString(")\n")
	}
	return b.String()
}

func genErrno(errnoC []string, vals map[string]*big.Int) string {
	var b strings.Builder
	b.WriteString("package abi\n\n")
	b.WriteString("// Xen's errno values (xen/errno.h), the only error values a guest sees.\n")
	b.WriteString("// EINTR and ERESTART are hypervisor-internal (defined only for __XEN__):\n")
	b.WriteString("// they must never reach a guest.\nconst (\n")
	firstName := map[int64]string{}
	var order []int64
	for _, e := range errnoC {
		name := strings.TrimPrefix(e, "XEN_")
		v := vals["ERRNO_"+name]
		if v == nil {
			fatalf("no value for %s", e)
		}
		fmt.Fprintf(&b, "\t%s Errno = %s\n", name, v.String())
		if _, ok := firstName[v.Int64()]; !ok {
			firstName[v.Int64()] = name
			order = append(order, v.Int64())
		}
	}
	b.WriteString(")\n\n")
	b.WriteString("// errnoValues lists each distinct value once, in header order.\n")
	b.WriteString("var errnoValues = [...]Errno{")
	for i, v := range order {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(firstName[v])
	}
	b.WriteString("}\n\n")
	b.WriteString("// errnoName returns the first name of e in xen/errno.h (aliases such\n")
	b.WriteString("// as EWOULDBLOCK and EDEADLOCK share the value of an earlier name). A\n")
	b.WriteString("// switch, not a map: no allocation at package initialisation.\n")
	b.WriteString("func errnoName(e Errno) (string, bool) {\n\tswitch e {\n")
	for _, v := range order {
		fmt.Fprintf(&b, "\tcase %s:\n\t\treturn %q, true\n", firstName[v], firstName[v])
	}
	b.WriteString("\t}\n\treturn \"\", false\n}\n")
	return b.String()
}

// cName recovers the C field name from cgo's Go field name.
func cName(goField string) (name string, pad bool) {
	switch {
	case strings.HasPrefix(goField, "Pad_cgo_"):
		return "", true
	case strings.HasPrefix(goField, "X_"):
		return "_" + goField[2:], true
	case goField == "_":
		return "", true
	}
	return strings.ToLower(goField[:1]) + goField[1:], false
}

// camel is the field name rule: split at "_", capitalise each part.
func camel(c string) string {
	var b strings.Builder
	for _, part := range strings.Split(c, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

var int8ArrayRE = regexp.MustCompile(`^(\[\d+\])+int8$`)

// postTypes rewrites cgo's output for the structures. members gives the
// C members (name, offset) of C types, read from DWARF: cgo -godefs drops a
// prefix common to all field names (evtchn_upcall_pending becomes
// upcall_pending), so the C names are recovered by offset.
func postTypes(out string, src []byte, origins map[string]string, members func([]string) map[string][]cMember) (string, []layoutRec) {
	var layout []layoutRec

	// The C name of each Go type, from gen/types.go.
	cOf := map[string]string{}
	var typeOrder []string
	sfset := token.NewFileSet()
	sf, err := parser.ParseFile(sfset, typesInput, src, 0)
	check(err)
	for _, d := range sf.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, s := range gd.Specs {
			ts := s.(*ast.TypeSpec)
			if sel, ok := ts.Type.(*ast.SelectorExpr); ok {
				cOf[ts.Name.Name] = sel.Sel.Name
				typeOrder = append(typeOrder, ts.Name.Name)
			}
		}
	}
	ctypeOf := func(name string) string {
		c := cOf[name]
		if strings.HasPrefix(c, "gohv_field__") {
			return c
		}
		return strings.Replace(c, "_", " ", 1)
	}

	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "godefs.go", out, 0)
	check(err)
	exprs := map[string]ast.Expr{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, s := range gd.Specs {
			ts := s.(*ast.TypeSpec)
			exprs[ts.Name.Name] = ts.Type
		}
	}

	// Anonymous structure types of fields, named in gen/types.go by
	// typedefs gohv_field__<struct tag>__<field>.
	type anonField struct{ field, goName string }
	anon := map[string][]anonField{}
	for goName, c := range cOf {
		if rest, ok := strings.CutPrefix(c, "gohv_field__"); ok {
			st, field, _ := strings.Cut(rest, "__")
			anon["struct_"+st] = append(anon["struct_"+st], anonField{field, goName})
		}
	}

	// Normalise field types: char arrays become byte arrays; anonymous
	// structure types get their names.
	for _, name := range typeOrder {
		st, ok := exprs[name].(*ast.StructType)
		if !ok {
			continue
		}
		for _, fl := range st.Fields.List {
			if len(fl.Names) != 1 {
				fatalf("%s: unexpected field list", name)
			}
			if int8ArrayRE.MatchString(exprString(fset, fl.Type)) {
				fl.Type = byteArray(fl.Type)
			}
			if id, ok := fl.Type.(*ast.Ident); ok && strings.HasPrefix(id.Name, "_Ctype_struct___") {
				short, _ := cName(fl.Names[0].Name)
				for _, a := range anon[cOf[name]] {
					if strings.HasSuffix(a.field, short) {
						fl.Type = ast.NewIdent(a.goName)
					}
				}
			}
		}
	}

	// Every C type must now have a Go name.
	var bad []string
	for _, name := range typeOrder {
		e := exprs[name]
		if e == nil {
			fatalf("cgo produced no type %s", name)
		}
		if strings.Contains(exprString(fset, e), "_Ctype") {
			bad = append(bad, name+": "+exprString(fset, e))
		}
	}
	if len(bad) > 0 {
		fatalf("unmapped C types in cgo output (name anonymous field types in gen/types.go):\n%s", strings.Join(bad, "\n"))
	}

	// Lay the structures out as gc does on amd64: cgo made the Go layout
	// equal to the C one, padding included; the offsets find the C names
	// and the implicit padding.
	var rendered strings.Builder
	rendered.WriteString("package abi\n\ntype GuestHandle uint64\n\n")
	for _, name := range typeOrder {
		fmt.Fprintf(&rendered, "type %s %s\n", name, exprString(fset, exprs[name]))
	}
	lfset := token.NewFileSet()
	lf, err := parser.ParseFile(lfset, "layout.go", rendered.String(), 0)
	check(err)
	conf := types.Config{Sizes: types.SizesFor("gc", "amd64")}
	pkg, err := conf.Check("abi", lfset, []*ast.File{lf}, nil)
	check(err)
	sizes := conf.Sizes

	var ctypes []string
	for _, name := range typeOrder {
		ctypes = append(ctypes, ctypeOf(name))
	}
	cmembers := members(ctypes)

	var b strings.Builder
	b.WriteString("package abi\n")
	for _, name := range typeOrder {
		e := exprs[name]
		t := pkg.Scope().Lookup(name).Type()
		size := sizes.Sizeof(t.Underlying())
		ckey := cOf[name]
		ctype := ctypeOf(name)
		ctag := ctype
		if rest, ok := strings.CutPrefix(ckey, "gohv_field__"); ok {
			st, field, _ := strings.Cut(rest, "__")
			ckey = "struct_" + st
			ctag = "the anonymous type of field " + field + " of struct " + st
		}
		where := origins[ckey]
		if where != "" {
			where = " (" + where + ")"
		}
		layout = append(layout, layoutRec{goType: name, cType: ctype})
		st, isStruct := e.(*ast.StructType)
		if !isStruct {
			fmt.Fprintf(&b, "\n// %s is %s%s, %d bytes; cgo gives unions as byte arrays.\ntype %s %s\n",
				name, ctag, where, size, name, exprString(fset, e))
			continue
		}
		fmt.Fprintf(&b, "\n// %s is %s%s, %d bytes.\ntype %s struct {\n", name, ctag, where, size, name)
		ts := t.Underlying().(*types.Struct)
		var vars []*types.Var
		for i := 0; i < ts.NumFields(); i++ {
			vars = append(vars, ts.Field(i))
		}
		offs := sizes.Offsetsof(vars)
		var end int64
		used := map[string]string{}
		for i, fl := range st.Fields.List {
			if offs[i] > end {
				fmt.Fprintf(&b, "\t_ [%d]byte\n", offs[i]-end)
			}
			typ := exprString(fset, fl.Type)
			short, pad := cName(fl.Names[0].Name)
			if pad {
				fmt.Fprintf(&b, "\t_ %s\n", typ)
			} else {
				c := ""
				for _, m := range cmembers[ctype] {
					if m.off == offs[i] && (m.name == short || strings.HasSuffix(m.name, "_"+short)) {
						c = m.name
						break
					}
				}
				if c == "" {
					fatalf("%s: no C member of %s at offset %d for cgo field %s", name, ctype, offs[i], fl.Names[0].Name)
				}
				g := camel(c)
				if prev, dup := used[g]; dup {
					fatalf("%s: fields %s and %s both map to %s", name, prev, c, g)
				}
				used[g] = c
				fmt.Fprintf(&b, "\t%s %s // %s @%d\n", g, typ, c, offs[i])
				layout = append(layout, layoutRec{goType: name, cType: ctype, goField: g, cField: c})
			}
			end = offs[i] + sizes.Sizeof(vars[i].Type())
		}
		if size > end {
			fmt.Fprintf(&b, "\t_ [%d]byte\n", size-end)
		}
		b.WriteString("}\n")
	}
	return b.String(), layout
}

// cMember is a member of a C structure, from DWARF.
type cMember struct {
	name string
	off  int64
}

// dwarfMembers compiles the preamble with one variable of each C type and
// returns each type's direct members from the DWARF debug information.
func dwarfMembers(tmp, preamble string, cflags, ctypes []string) map[string][]cMember {
	var b strings.Builder
	b.WriteString(preamble)
	for i, t := range ctypes {
		fmt.Fprintf(&b, "%s gohv_var_%d;\n", t, i)
	}
	c := filepath.Join(tmp, "dwarf.c")
	o := filepath.Join(tmp, "dwarf.o")
	check(os.WriteFile(c, []byte(b.String()), 0o644))
	run("gcc", append(append([]string{}, cflags...), "-g", "-c", "-o", o, c)...)
	ef, err := elf.Open(o)
	check(err)
	defer ef.Close()
	d, err := ef.DWARF()
	check(err)
	out := map[string][]cMember{}
	r := d.Reader()
	for {
		e, err := r.Next()
		check(err)
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagVariable {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		idx, ok := strings.CutPrefix(name, "gohv_var_")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(idx)
		check(err)
		off, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
		typ, err := d.Type(off)
		check(err)
		for {
			td, ok := typ.(*dwarf.TypedefType)
			if !ok {
				break
			}
			typ = td.Type
		}
		st, ok := typ.(*dwarf.StructType)
		if !ok {
			fatalf("%s: not a struct or union in DWARF", ctypes[i])
		}
		var ms []cMember
		for _, fl := range st.Field {
			ms = append(ms, cMember{fl.Name, fl.ByteOffset})
		}
		out[ctypes[i]] = ms
	}
	return out
}

// layoutRec is one structure (goField == "") or one named field, for the
// generated layout test.
type layoutRec struct {
	goType, cType   string
	goField, cField string
}

// layoutPreamble declares enum constants gohv_layout_<i> holding the C
// sizeof of each structure and the C offsetof of each field.
func layoutPreamble(layout []layoutRec) string {
	var b strings.Builder
	b.WriteString("#include <stddef.h>\n")
	for i, r := range layout {
		if r.goField == "" {
			fmt.Fprintf(&b, "enum { gohv_layout_%d = sizeof(%s) };\n", i, r.cType)
		} else {
			fmt.Fprintf(&b, "enum { gohv_layout_%d = offsetof(%s, %s) };\n", i, r.cType, r.cField)
		}
	}
	return b.String()
}

func genLayoutTest(layout []layoutRec, vals map[string]*big.Int) string {
	var b strings.Builder
	b.WriteString("package abi\n\n")
	b.WriteString("// cLayout holds the C compiler's sizeof of every structure (field \"\")\n")
	b.WriteString("// and offsetof of every named field of ztypes_amd64.go.\n")
	b.WriteString("var cLayout = []struct {\n\tv     any\n\tfield string\n\tc     string\n\tval   uintptr\n}{\n")
	for i, r := range layout {
		v := vals[fmt.Sprintf("LAYOUT_%d", i)]
		if v == nil {
			fatalf("no layout value for %s.%s", r.cType, r.cField)
		}
		c := r.cType
		if r.cField != "" {
			c += "." + r.cField
		}
		fmt.Fprintf(&b, "\t{%s{}, %q, %q, %s},\n", r.goType, r.goField, c, v.String())
	}
	b.WriteString("}\n")
	return b.String()
}

func byteArray(e ast.Expr) ast.Expr {
	if at, ok := e.(*ast.ArrayType); ok {
		return &ast.ArrayType{Len: at.Len, Elt: byteArray(at.Elt)}
	}
	return ast.NewIdent("byte")
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b bytes.Buffer
	check(printer.Fprint(&b, fset, e))
	return b.String()
}

func writeGo(name, text string) {
	src, err := format.Source([]byte(text))
	if err != nil {
		os.WriteFile(name+".broken", []byte(text), 0o644)
		fatalf("%s: %v (unformatted text in %s.broken)", name, err, name)
	}
	check(os.WriteFile(name, src, 0o644))
}

func run(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mkabi: "+format+"\n", args...)
	os.Exit(1)
}
