/* qcount: a QEMU 7.2 TCG plugin (plugin API v1) that counts executed
 * instructions of a few kinds that are costly under TCG: MOV to CR3 (a
 * full soft-TLB flush), MOV to CR0/CR4, INVLPG, INVPCID, WRMSR, RDMSR,
 * HLT, port I/O, IRETQ, SYSRET, SYSCALL, INT; all instructions; and those
 * in Xen's hypervisor range (0xffff800000000000-0xffff87ffffffffff, where
 * both Xen's and gohv's text live). Declarations written from QEMU's
 * documented plugin API. It writes the counts at exit to out=FILE.
 *
 * Build: gcc -O2 -shared -fPIC -o qcount.so scripts/qcount.c
 * Use:   qemu-system-x86_64 -plugin ./qcount.so,out=/tmp/c.out -accel tcg \
 *            -icount shift=0,sleep=off ...
 * README's Status used it on the dom0 bench task (gohv.task=bench
 * gohv.getppids=0 gohv.vforks=0 gohv.forks=N) with N = 20 and 120 on gohv
 * and on Xen 4.17: the difference over 100 is one fork+exec+exit round. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

enum { K_ALL, K_CR3, K_CR0, K_CR4, K_INVLPG, K_INVPCID, K_WRMSR, K_RDMSR, K_HLT, K_IO, K_IRETQ, K_SYSRET, K_SYSCALL, K_INT, K_HIGH, K_N };
static const char *names[K_N] = {"all", "mov_cr3", "mov_cr0", "mov_cr4", "invlpg", "invpcid", "wrmsr", "rdmsr", "hlt", "port_io", "iretq", "sysret", "syscall", "int", "insns_upper_half"};
static uint64_t counts[K_N];
static char outpath[512] = "/tmp/qcount.out";

static int classify(const uint8_t *b, size_t n)
{
	size_t i = 0;
	int rexw = 0;
	while (i < n && (b[i] == 0x66 || b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0x2e || b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x36 || b[i] == 0x64 || b[i] == 0x65 || b[i] == 0xf0))
		i++;
	if (i < n && (b[i] & 0xf0) == 0x40) {
		rexw = b[i] & 8;
		i++;
	}
	if (i >= n)
		return -1;
	uint8_t op = b[i];
	if (op == 0x0f && i + 1 < n) {
		uint8_t op2 = b[i + 1];
		uint8_t modrm = i + 2 < n ? b[i + 2] : 0;
		int reg = (modrm >> 3) & 7;
		if (op2 == 0x22) {
			if (reg == 3) return K_CR3;
			if (reg == 0) return K_CR0;
			if (reg == 4) return K_CR4;
		}
		if (op2 == 0x01 && reg == 7 && (modrm >> 6) != 3) return K_INVLPG;
		if (op2 == 0x30) return K_WRMSR;
		if (op2 == 0x32) return K_RDMSR;
		if (op2 == 0x07) return K_SYSRET;
		if (op2 == 0x05) return K_SYSCALL;
		if (op2 == 0x38 && i + 2 < n && b[i + 2] == 0x82) return K_INVPCID;
		return -1;
	}
	if (op == 0xf4) return K_HLT;
	if (op == 0xe4 || op == 0xe5 || op == 0xe6 || op == 0xe7 || op == 0xec || op == 0xed || op == 0xee || op == 0xef) return K_IO;
	if (op == 0xcf && rexw) return K_IRETQ;
	if (op == 0xcd) return K_INT;
	return -1;
}

static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &counts[K_ALL], n);
	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		if (qemu_plugin_insn_vaddr(insn) >= 0xffff800000000000ULL && qemu_plugin_insn_vaddr(insn) < 0xffff880000000000ULL)
			qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counts[K_HIGH], 1);
		int k = classify(qemu_plugin_insn_data(insn), qemu_plugin_insn_size(insn));
		if (k >= 0)
			qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counts[k], 1);
	}
}

static void atexit_cb(qemu_plugin_id_t id, void *u)
{
	FILE *f = fopen(outpath, "w");
	if (!f)
		return;
	for (int k = 0; k < K_N; k++)
		fprintf(f, "%s %llu\n", names[k], (unsigned long long)counts[k]);
	fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			snprintf(outpath, sizeof outpath, "%s", argv[i] + 4);
	qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
	qemu_plugin_register_atexit_cb(id, atexit_cb, NULL);
	return 0;
}
