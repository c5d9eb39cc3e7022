package hypercall

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/grant"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/pirq"
	"github.com/gohv/gohv/sched"
)

// NrHypercalls is the size of the dispatch table: every number Xen 4.17
// defines (0..55, arch_0..arch_7 included) fits; numbers at or above it
// return -ENOSYS, as do empty slots.
const NrHypercalls = 64

// Args are a 64-bit PV hypercall's five arguments, in the order of the
// registers that carry them: RDI, RSI, RDX, R10, R8 (R10 replaces RCX,
// which SYSCALL destroys). A multicall entry's args[0..4] are the same five
// values; its args[5] is never passed (Xen's PV64 handlers take at most
// five).
type Args [5]uint64

// Result is what a handler hands back to the vCPU's exit path.
//
// A finished call returns Ret, the value for RAX: a non-negative result, or
// -errno as a 64-bit two's complement value (abi.Errno.Ret).
//
// A preempted call (Xen's hypercall_create_continuation) sets Continue and
// puts the arguments of the rest of the work in Args. The caller applies it
// with Regs.Apply: RAX gets the hypercall number back, the argument
// registers get Args and RIP moves back over the 2-byte SYSCALL, so the
// guest re-issues the call when it next runs (after pending events, which
// is the point of preempting). Inside a multicall the continuation is
// stored into the entry instead and the multicall itself continues.
//
// Three words, so a handler returns it in registers (Go's ABI puts arrays
// in memory): the continuation's arguments sit behind a pointer.
type Result struct {
	// Ret is RAX for a finished call; ignored when Continue is set.
	Ret uint64
	// Continue marks a continuation; Args then holds its arguments.
	Continue bool
	// Args are the continuation's arguments (only with Continue).
	Args *Args
}

// Errno returns the Result of a call that finished with e (0: success).
func Errno(e abi.Errno) Result {
	if e == 0 {
		return Result{}
	}
	return Result{Ret: e.Ret()}
}

// Value returns the Result of a call that finished returning v (v >= 0 as
// a signed value).
func Value(v uint64) Result { return Result{Ret: v} }

// Continuation returns the Result of a call preempted with a as the
// arguments of the rest of its work.
func Continuation(a Args) Result { return Result{Continue: true, Args: &a} }

// Regs is the part of a vCPU's saved registers a hypercall reads and
// writes. hv copies it from and back to the vCPU's frame around Dispatch.
type Regs struct {
	// RAX holds the hypercall number on entry and the result on return;
	// RDI, RSI, RDX, R10, R8 are the five arguments.
	RAX, RDI, RSI, RDX, R10, R8 uint64
	// RIP is the address after the guest's SYSCALL.
	RIP uint64
}

// syscallLen is the length of the SYSCALL instruction (0f 05): a
// continuation backs RIP up by it.
const syscallLen = 2

// Args returns the argument registers of the hypercall in r.
func (r *Regs) Args() Args { return Args{r.RDI, r.RSI, r.RDX, r.R10, r.R8} }

// Apply stores res into r for hypercall nr: RAX = Ret for a finished call;
// for a continuation RAX = nr, the argument registers = res.Args and RIP
// backed up over the SYSCALL so it executes again.
func (r *Regs) Apply(nr uint64, res Result) {
	if !res.Continue {
		r.RAX = res.Ret
		return
	}
	r.RAX = nr
	r.RDI, r.RSI, r.RDX, r.R10, r.R8 = res.Args[0], res.Args[1], res.Args[2], res.Args[3], res.Args[4]
	r.RIP -= syscallLen
}

// Guest is guest memory as the calling vCPU sees it: copies through its
// current page tables (Xen's copy_from_guest / copy_to_guest). A copy that
// cannot be completed (an address that is not mapped, not a guest address,
// or, for CopyToGuest, not writable) reports false; the handler then
// returns -EFAULT. Bytes before the failing one may have been copied.
type Guest interface {
	CopyFromGuest(dst []byte, va mm.GuestVA) (ok bool)
	CopyToGuest(va mm.GuestVA, src []byte) (ok bool)
}

// Domain is a domain as the hypercall layer sees it: the caller, or a
// domain a privileged caller names. hv implements it.
type Domain interface {
	// ID is the domain's id (never a reserved id).
	ID() abi.DomID
	// Privileged reports the control domain: XSM's dummy-policy XSM_PRIV
	// (and XSM_DM_PRIV, XSM_TARGET on others) checks pass for it.
	Privileged() bool
	// HardwareDomain reports the hardware domain (dom0): XENFEAT_dom0,
	// raw console output, and its shutdown stops the machine.
	HardwareDomain() bool
	// State is the domain's one record of its hypercall-visible state,
	// the same for the domain's whole lifetime.
	State() *DomainState
	// Shutdown tells hv that the domain shuts down with code (already
	// recorded in State): pause its vCPUs (the calling vCPU must not
	// re-enter the guest), send VIRQ_DOM_EXC to the toolstack, and for the
	// hardware domain power off or reboot the machine. Called on the
	// first shutdown request, and on every one for the hardware domain
	// (Xen's hwdom_shutdown runs each time). Goroutine context; it must not
	// call back into this package for the same domain.
	Shutdown(code uint8)
}

// VCPU is the calling vCPU. hv implements it.
type VCPU interface {
	// ID is the vCPU's id within its domain.
	ID() int
	// Waiter is the vCPU's scheduler state (block, poll, timers), nil if
	// the vCPU has none (sched_op block/poll and set_timer_op then return
	// -ENOSYS).
	Waiter() *sched.Waiter
	// Tables is the vCPU's PV page-table state for mmuext_op and
	// update_va_mapping.
	Tables() *mm.VCPUTables
	// Flusher performs the TLB and cache flushes the PV MMU ops ask for on
	// behalf of this vCPU.
	Flusher() mm.Flusher
	// Preempt reports whether a long hypercall should stop and continue
	// later (Xen's hypercall_preempt_check: work pending on this CPU, or
	// an event to deliver to the vCPU).
	Preempt() bool
}

// Caller is everything a handler learns about who called it. hv builds one
// per vCPU; handlers use it only for the duration of the call.
type Caller struct {
	// Mem is guest memory through the calling vCPU's page tables.
	Mem Guest
	// Domain is the calling domain.
	Domain Domain
	// VCPU is the calling vCPU.
	VCPU VCPU

	// inMulticall is set while a multicall runs the vCPU's entries: a
	// nested multicall gets -EINVAL (Xen's _MCSF_in_multicall).
	inMulticall bool

	// Scratch buffers for the hot paths' guest copies: a buffer passed to
	// Guest (an interface) would otherwise escape to the heap on every
	// call. Used only by the calling vCPU's goroutine, one owner at a
	// time: mc by multicall for its entry; arg by the handler running an
	// entry or a direct call for its argument structure; word for 4- and
	// 8-byte values, never held across a nested Dispatch.
	mc   [mcEntrySize]byte
	arg  [argScratch]byte
	word [8]byte
	// ports is SCHEDOP_poll's port list.
	ports [sched.MaxPollPorts * 4]byte
	// mcArgs holds the arguments of the multicall entry being dispatched
	// (a handler's *Args must not point into a stack: it would escape).
	mcArgs Args
}

// argScratch is the size of Caller.arg: the largest argument structure a
// hot path copies (gnttab_copy, 40 bytes), rounded up.
const argScratch = 64

// Console is the hypervisor console as console_io sees it. hv implements
// it over the serial port and its input ring.
type Console interface {
	// WriteRaw emits the hardware domain's bytes as they are (Xen's
	// direct console output for the hardware domain).
	WriteRaw(dom abi.DomID, p []byte)
	// WriteLine emits one line of another domain's output: printable
	// characters and tabs only, without its newline. hv prefixes it
	// "(dN) " and rate-limits it.
	WriteLine(dom abi.DomID, line []byte)
	// PeekInput copies up to len(p) bytes of pending serial input, oldest
	// first, without consuming them, and returns how many it copied.
	PeekInput(p []byte) int
	// DiscardInput consumes n bytes of serial input that PeekInput
	// returned and the guest received.
	DiscardInput(n int)
}

// Directory finds domains by id for operations that name another domain
// (remote_shutdown, foreign mmu_update). hv keeps the domain list.
type Directory interface {
	// Lookup returns domain id, or false if there is none. id is never a
	// reserved id (DOMID_SELF and friends are resolved by the caller).
	Lookup(id abi.DomID) (Domain, bool)
}

// Handler serves one hypercall number. It decodes a (and guest memory
// through c.Mem), calls a worker with Go values, and encodes the results.
// Handlers never panic on guest input and return only guest-visible Xen
// errno values, non-negative results or continuations.
type Handler func(d *Dispatcher, c *Caller, a *Args) Result

// Config is the machine-wide part of the hypercall layer.
type Config struct {
	// Console is the hypervisor console. nil: console_io returns -ENOSYS.
	Console Console
	// Domains resolves other domains. nil: operations naming another
	// domain return -ESRCH.
	Domains Directory
	// Grants holds every domain's grant table. nil: grant_table_op
	// returns -ENOSYS.
	Grants *grant.Tables
	// Version is what xen_version reports; zero fields get defaults (see
	// VersionInfo).
	Version VersionInfo
	// IRQs is the machine's interrupt state for physdev_op. nil: the
	// commands that need it return -ENOSYS.
	IRQs *pirq.Machine
	// Platform is the machine as platform_op sees it. nil: platform_op
	// returns -ENOSYS after its version and privilege checks.
	Platform Platform
}

// Dispatcher is the one hypercall table plus the machine-wide services its
// handlers use. One Dispatcher serves the whole machine; it is safe for
// concurrent use by every vCPU once Register calls are done (they are boot
// time only).
type Dispatcher struct {
	table    [NrHypercalls]Handler // by hypercall number; nil = -ENOSYS
	console  Console
	domains  Directory
	grants   *grant.Tables
	version  VersionInfo // defaults filled in; immutable
	irqs     *pirq.Machine
	platform Platform
}

// New returns a dispatcher whose table holds this package's handlers (see
// docs/hypercall-status.md and doc.go for the list).
func New(c Config) *Dispatcher {
	d := &Dispatcher{
		table:    defaultTable,
		console:  c.Console,
		domains:  c.Domains,
		grants:   c.Grants,
		version:  c.Version.withDefaults(),
		irqs:     c.IRQs,
		platform: c.Platform,
	}
	return d
}

// Errors of Register.
var (
	ErrBadNumber = errors.New("hypercall: number outside the table")
	ErrTaken     = errors.New("hypercall: slot already has a handler")
)

// Register installs h for hypercall nr, for the handlers that live outside
// this package because they change the vCPU's architectural state
// (set_trap_table, stack_switch, set_callbacks, iret, set_segment_base, ...:
// hv/pv's Register). Boot time only: it is not safe concurrently with Dispatch. A slot
// this package already serves cannot be replaced.
func (d *Dispatcher) Register(nr int, h Handler) error {
	if nr < 0 || nr >= NrHypercalls || h == nil {
		return ErrBadNumber
	}
	if d.table[nr] != nil {
		return ErrTaken
	}
	d.table[nr] = h
	return nil
}

// Dispatch runs hypercall nr (the guest's RAX) with arguments a for
// caller c. Unknown numbers and empty slots return -ENOSYS.
func (d *Dispatcher) Dispatch(c *Caller, nr uint64, a *Args) Result {
	if nr >= NrHypercalls {
		return Errno(abi.ENOSYS)
	}
	h := d.table[nr]
	if h == nil {
		return Errno(abi.ENOSYS)
	}
	return h(d, c, a)
}

// defaultTable is this package's part of the one table (Xen's
// hypercall-defs.c pv64 column for the calls implemented here). It is
// filled by init because multicall refers back to the table.
var defaultTable [NrHypercalls]Handler

func init() {
	defaultTable = [NrHypercalls]Handler{
		abi.HYPERVISOR_mmu_update:                    doMMUUpdate,
		abi.HYPERVISOR_sched_op_compat:               doSchedOpCompat,
		abi.HYPERVISOR_multicall:                     doMulticall,
		abi.HYPERVISOR_update_va_mapping:             doUpdateVAMapping,
		abi.HYPERVISOR_set_timer_op:                  doSetTimerOp,
		abi.HYPERVISOR_memory_op:                     doMemoryOp,
		abi.HYPERVISOR_vcpu_op:                       doVCPUOp,
		abi.HYPERVISOR_event_channel_op_compat:       doEventChannelOpCompat,
		abi.HYPERVISOR_xen_version:                   doXenVersion,
		abi.HYPERVISOR_console_io:                    doConsoleIO,
		abi.HYPERVISOR_grant_table_op:                doGrantTableOp,
		abi.HYPERVISOR_vm_assist:                     doVMAssist,
		abi.HYPERVISOR_update_va_mapping_otherdomain: doUpdateVAMappingOtherDomain,
		abi.HYPERVISOR_mmuext_op:                     doMMUExtOp,
		abi.HYPERVISOR_sched_op:                      doSchedOp,
		abi.HYPERVISOR_event_channel_op:              doEventChannelOp,
		abi.HYPERVISOR_physdev_op:                    doPhysdevOp,
		abi.HYPERVISOR_platform_op:                   doPlatformOp,
	}
}

// DomainConfig is the per-domain setup of DomainState, fixed at domain
// creation.
type DomainConfig struct {
	// Handle is the domain's 16-byte handle (UUID), for
	// XENVER_guest_handle.
	Handle [16]byte
	// ConsoleWrite lets a domain that is not privileged use
	// CONSOLEIO_write (see doc.go: a deliberate deviation from Xen's
	// release-build XSM policy).
	ConsoleWrite bool
	// Events is the domain's event-channel table (event_channel_op,
	// sched_op block/poll). nil: event_channel_op returns -ENOSYS.
	Events *evtchn.Table
	// Space is the domain's PV memory model (mmu_update, mmuext_op,
	// update_va_mapping). nil: those return -ENOSYS.
	Space *mm.Space
	// VMAssist is the initial vm_assist set (bit n = type n), as the
	// domain builder chooses it.
	VMAssist uint64
	// PIRQs is the domain's PIRQ table (physdev_op). nil: the commands
	// on the domain's PIRQs return -ENOSYS.
	PIRQs *pirq.Table
}

// DomainState is the one record of a domain's state outside its memory
// model and vCPUs: the vm_assist set, the shutdown state (the only copy:
// hv's run loop stops on ShuttingDown), the console line buffer, the
// handle, and the domain's event-channel table and PV memory model. hv
// creates one per domain with NewDomainState when it creates the domain,
// keeps it for the domain's whole lifetime and returns it from
// Domain.State; this package changes it only through hypercalls.
type DomainState struct {
	// Immutable after NewDomainState.
	handle       [16]byte
	consoleWrite bool
	events       *evtchn.Table
	space        *mm.Space
	pirqs        *pirq.Table

	// vmAssist is the enabled vm_assist set, bit n = VMASST_TYPE n (Xen's
	// d->vm_assist). Atomic: read by any vCPU of the domain, changed by
	// vm_assist.
	vmAssist atomic.Uint64

	// mu guards the shutdown and console fields (Xen's shutdown_lock and
	// pbuf_lock).
	mu sync.Mutex
	// shutdownCode is the recorded SHUTDOWN_* code, or noShutdownCode
	// (Xen's SHUTDOWN_CODE_INVALID). Guarded by mu.
	shutdownCode int16
	// shuttingDown is Xen's is_shutting_down: written with mu held, read
	// without it (hv's run loop asks on every exit).
	shuttingDown atomic.Bool
	// pbuf holds the domain's console output up to its next newline
	// (Xen's pbuf, DOMAIN_PBUF_SIZE bytes); pbufLen bytes are in use.
	// Guarded by mu.
	pbuf    [pbufSize]byte
	pbufLen int
}

// noShutdownCode marks "no shutdown code recorded".
const noShutdownCode = -1

// NewDomainState returns the hypercall-layer state of a new domain.
func NewDomainState(c DomainConfig) *DomainState {
	s := &DomainState{
		handle:       c.Handle,
		consoleWrite: c.ConsoleWrite,
		events:       c.Events,
		space:        c.Space,
		pirqs:        c.PIRQs,
		shutdownCode: noShutdownCode,
	}
	s.vmAssist.Store(c.VMAssist & vmAssistValid)
	return s
}

// VMAssist reports whether vm_assist type t is enabled.
func (s *DomainState) VMAssist(t uint) bool {
	return t < 64 && s.vmAssist.Load()&(1<<t) != 0
}

// VMAssistSet returns the enabled vm_assist set (bit n = type n).
func (s *DomainState) VMAssistSet() uint64 { return s.vmAssist.Load() }

// ShutdownCode returns the recorded shutdown code, ok false if none.
func (s *DomainState) ShutdownCode() (code uint8, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdownCode == noShutdownCode {
		return 0, false
	}
	return uint8(s.shutdownCode), true
}

// ShuttingDown reports whether the domain has started shutting down.
func (s *DomainState) ShuttingDown() bool {
	return s.shuttingDown.Load()
}

// Resume clears the shutdown state (Xen's domain_resume, after a cancelled
// suspend or for XEN_DOMCTL_resumedomain); hv unpauses the vCPUs.
func (s *DomainState) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shuttingDown.Store(false)
	s.shutdownCode = noShutdownCode
}

// Events returns the domain's event-channel table (nil if none).
func (s *DomainState) Events() *evtchn.Table { return s.events }

// Space returns the domain's PV memory model (nil if none).
func (s *DomainState) Space() *mm.Space { return s.space }

// PIRQs returns the domain's PIRQ table (nil if none).
func (s *DomainState) PIRQs() *pirq.Table { return s.pirqs }
