package hv

import (
	"testing"

	"github.com/gohv/gohv/ioport"
)

// portsLog is machine ports that log every access and answer reads of
// CONFIG_DATA with 0x12345678, of others with 0xAB.
type portsLog struct{ acc []string }

func (p *portsLog) In(port uint16, size int) uint32 {
	p.acc = append(p.acc, "in")
	if port&^3 == 0xCFC {
		return 0x12345678
	}
	return 0xAB
}
func (p *portsLog) Out(port uint16, size int, v uint32) { p.acc = append(p.acc, "out") }

// TestDomainPorts: the hardware domain reaches ports but the denied ones
// and PCI configuration through its CONFIG_ADDRESS latch; other domains
// reach no port.
func TestDomainPorts(t *testing.T) {
	base, _, _ := testMachine(t)
	cfg := base.cfg
	pl := &portsLog{}
	cfg.Ports, cfg.DeniedPorts = pl, ioport.Dom0Denied(0x608, 0x3F8, true)
	m := NewMachine(cfg)
	d0, err := m.CreateDomain(DomainConfig{ID: 0, VCPUs: 1, Hardware: true})
	if err != nil {
		t.Fatal(err)
	}
	d1, err := m.CreateDomain(DomainConfig{ID: 1, VCPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := pvDomain{d0.VCPU(0)}, pvDomain{d1.VCPU(0)}
	if got := p0.In(0x80, 1); got != 0xAB {
		t.Fatalf("dom0 port 0x80 reads %#x", got)
	}
	if got := p0.In(0x3F8, 1); got != 0xFF {
		t.Fatalf("dom0 reads the console UART: %#x", got)
	}
	p0.Out(0xCF8, 4, 0x80000000)
	if got := p0.In(0xCF8, 4); got != 0x80000000 {
		t.Fatalf("dom0's CONFIG_ADDRESS latch reads %#x", got)
	}
	if got := p0.In(0xCFC, 4); got != 0x12345678 {
		t.Fatalf("dom0's CONFIG_DATA reads %#x", got)
	}
	n := len(pl.acc)
	if got := p1.In(0x80, 1); got != 0xFF {
		t.Fatalf("domU port 0x80 reads %#x", got)
	}
	p1.Out(0xCF8, 4, 0x80000000)
	if got := p1.In(0xCFC, 4); got != 0xFFFFFFFF {
		t.Fatalf("domU CONFIG_DATA reads %#x", got)
	}
	p1.Out(0x80, 1, 0)
	if len(pl.acc) != n {
		t.Fatalf("domU reached the machine's ports: %v", pl.acc[n:])
	}
	// Without machine ports every port reads as all ones.
	if got := (pvDomain{mustDom(t, base)}).In(0x80, 1); got != ^uint32(0) {
		t.Fatalf("port 0x80 without machine ports reads %#x", got)
	}
}

func mustDom(t *testing.T, m *Machine) *VCPU {
	t.Helper()
	d, err := m.CreateDomain(DomainConfig{ID: 2, VCPUs: 1, Hardware: true})
	if err != nil {
		t.Fatal(err)
	}
	return d.VCPU(0)
}
