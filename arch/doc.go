// Package arch is the backend-neutral vocabulary between the pure core and
// the metal: a PV vCPU's register file (Regs), why a guest stopped running
// (Exit), x86 vector numbers, and which virtual addresses are canonical
// (Canonical, LowerHalfEnd). The metal (arch/amd64/rt) fills Regs and Exit on
// every guest exit; hv reads and edits them in ordinary Go.
//
// Pure: imports nothing from the project; no unsafe, no assembly.
package arch
