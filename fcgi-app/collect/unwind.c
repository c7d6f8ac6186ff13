#include "collect/unwind.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/vec.h"
#include "collect/proc.h"
#include "collect/regs.h"

#include <libunwind.h>

#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define STACK_COPY (32 * 1024)
#define PAGE 4096u
#define PAGE_SLOTS 512 /* 2 MiB of cached unwind-table pages */

/* libunwind's own binary search over an .eh_frame_hdr table, exported but
 * not declared in its headers; Linux perf declares it the same way. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

/* An executable mapping and where its unwind table is in the target. */
struct module {
	uint64_t start, end, pgoff;
	char path[PATH_MAX];      /* file, or "[vdso]" */
	int state;                /* 0: not looked at, 1: di valid, -1: no table */
	unw_dyn_info_t di;
};

struct ro_range {
	uint64_t start, end;
};

struct unwinder {
	pid_t pid;
	unw_addr_space_t as;
	uint64_t maps_hash;
	struct module *mods;       /* sorted by start */
	size_t nmods;
	struct ro_range *ro;       /* read-only mappings: safe to cache */
	size_t nro;
	/* the sample being unwound */
	pid_t tid;
	struct regs regs;   /* as captured */
	unsigned char *stack;      /* our copy of a live thread's stack top */
	const unsigned char *view; /* [stack_base, stack_base + stack_len): stack, or a sample's copy */
	uint64_t stack_base;
	size_t stack_len;
	/* direct-mapped cache of read-only pages */
	struct page_slot {
		uint64_t addr;     /* page address + 1; 0: empty */
		unsigned char data[PAGE];
	} *pages;
};

static bool read_remote(pid_t tid, uint64_t addr, void *out, size_t len)
{
	struct iovec local = { out, len }, remote = { (void *)(uintptr_t)addr, len };
	return process_vm_readv(tid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

static bool is_read_only(const struct unwinder *u, uint64_t addr)
{
	for (size_t i = 0; i < u->nro; i++)
		if (addr >= u->ro[i].start && addr < u->ro[i].end)
			return true;
	return false;
}

static int read_word(struct unwinder *u, uint64_t addr, unw_word_t *val)
{
	if (addr >= u->stack_base && addr + sizeof *val <= u->stack_base + u->stack_len) {
		memcpy(val, u->view + (addr - u->stack_base), sizeof *val);
		return 0;
	}
	uint64_t page = addr & ~(uint64_t)(PAGE - 1);
	if (addr + sizeof *val <= page + PAGE && is_read_only(u, addr)) {
		struct page_slot *slot = &u->pages[(page / PAGE) % PAGE_SLOTS];
		if (slot->addr != page + 1) {
			/* any thread's view of a read-only page is the process's */
			if (!read_remote(u->pid, page, slot->data, PAGE)) {
				slot->addr = 0;
				return -UNW_EINVAL;
			}
			slot->addr = page + 1;
		}
		memcpy(val, slot->data + (addr - page), sizeof *val);
		return 0;
	}
	if (!u->tid)
		return -UNW_EINVAL; /* a copy handed in: nothing of it is read live */
	return read_remote(u->tid, addr, val, sizeof *val) ? 0 : -UNW_EINVAL;
}

/* Reads the ELF image of m: the file (through /proc/PID/root, so a target
 * in a container is read from its own tree) or, for the vDSO, which has no
 * file, its bytes in the target. Fills m->di from PT_GNU_EH_FRAME. */
static void module_load(struct unwinder *u, struct module *m)
{
	m->state = -1;
	unsigned char *image = NULL;
	int fd = -1;
	Elf *elf = NULL;
	if (strcmp(m->path, "[vdso]") == 0) {
		size_t len = (size_t)(m->end - m->start);
		image = malloc(len);
		if (!image)
			abort();
		if (!read_remote(u->pid, m->start, image, len))
			goto out;
		elf = elf_memory((char *)image, len);
	} else {
		/* the file as mapped, even when replaced or deleted on disk since
		 * (never the new file at the same path); then the path as the
		 * target sees it, then as we do */
		char path[PATH_MAX + 64];
		fd = proc_open_mapped(u->pid, m->start, m->end);
		char file[PATH_MAX];
		snprintf(file, sizeof file, "%s", m->path);
		if (fd < 0 && !proc_strip_deleted(file)) {
			snprintf(path, sizeof path, "/proc/%d/root%s", (int)u->pid, file);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				fd = open(file, O_RDONLY | O_CLOEXEC);
		}
		if (fd < 0)
			goto out;
		elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	}
	size_t nph, raw_len;
	const unsigned char *raw = elf ? (const unsigned char *)elf_rawfile(elf, &raw_len) : NULL;
	if (!raw || elf_getphdrnum(elf, &nph) != 0)
		goto out;
	GElf_Phdr ph, eh = { 0 };
	bool have_eh = false, have_load = false;
	uint64_t bias = 0;
	for (size_t i = 0; i < nph; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_GNU_EH_FRAME) {
			eh = ph;
			have_eh = true;
		} else if (ph.p_type == PT_LOAD && !have_load &&
			   (ph.p_offset & ~(uint64_t)(PAGE - 1)) == m->pgoff) {
			/* the segment this mapping maps: where its vaddrs landed */
			bias = m->start - (ph.p_vaddr & ~(uint64_t)(PAGE - 1));
			have_load = true;
		}
	}
	if (!have_eh || !have_load || eh.p_offset + 12 > raw_len)
		goto out;
	const unsigned char *hdr = raw + eh.p_offset;
	/* version 1; eh_frame_ptr pcrel|sdata4, fde_count udata4, table
	 * datarel|sdata4: what every GNU toolchain writes */
	if (hdr[0] != 1 || hdr[1] != 0x1b || hdr[2] != 0x03 || hdr[3] != 0x3b)
		goto out;
	uint32_t fde_count;
	memcpy(&fde_count, hdr + 8, sizeof fde_count);
	uint64_t hdr_addr = bias + eh.p_vaddr;
	memset(&m->di, 0, sizeof m->di);
	m->di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	m->di.start_ip = m->start;
	m->di.end_ip = m->end;
	m->di.u.rti.segbase = hdr_addr;
	m->di.u.rti.table_data = hdr_addr + 12;
	m->di.u.rti.table_len = fde_count * 8 / sizeof(unw_word_t);
	m->state = 1;
out:
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	free(image);
}

static struct module *module_find(struct unwinder *u, uint64_t ip)
{
	size_t lo = 0, hi = u->nmods;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ip < u->mods[mid].start)
			hi = mid;
		else if (ip >= u->mods[mid].end)
			lo = mid + 1;
		else
			return &u->mods[mid];
	}
	return NULL;
}

static int acc_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			      int need_unwind_info, void *arg)
{
	struct unwinder *u = arg;
	struct module *m = module_find(u, ip);
	if (!m)
		return -UNW_ENOINFO;
	if (m->state == 0)
		module_load(u, m);
	if (m->state < 0)
		return -UNW_ENOINFO;
	return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &m->di, pi, need_unwind_info, arg);
}

static void acc_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	/* libunwind frees table-based unwind info itself */
	(void)as;
	(void)pi;
	(void)arg;
}

static int acc_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	(void)as;
	(void)addr;
	(void)arg;
	return -UNW_ENOINFO; /* no JIT registration */
}

static int acc_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
			  void *arg)
{
	(void)as;
	if (write)
		return -UNW_EINVAL; /* never write into the target */
	return read_word(arg, addr, val);
}

static int acc_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write,
			  void *arg)
{
	(void)as;
	const struct unwinder *u = arg;
	if (write || reg < 0 || reg >= REGS_N)
		return -UNW_EBADREG;
	*val = u->regs.r[reg];
	return 0;
}

static int acc_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val,
			    int write, void *arg)
{
	(void)as;
	(void)reg;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EBADREG;
}

static int acc_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as;
	(void)c;
	(void)arg;
	return -UNW_EINVAL;
}

static int acc_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			     unw_word_t *off, void *arg)
{
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)off;
	(void)arg;
	return -UNW_ENOINFO; /* names come from libdw */
}

static unw_accessors_t accessors = {
	.find_proc_info = acc_find_proc_info,
	.put_unwind_info = acc_put_unwind_info,
	.get_dyn_info_list_addr = acc_get_dyn_info_list_addr,
	.access_mem = acc_access_mem,
	.access_reg = acc_access_reg,
	.access_fpreg = acc_access_fpreg,
	.resume = acc_resume,
	.get_proc_name = acc_get_proc_name,
};

struct unwinder *unwind_new(pid_t pid, struct err *e)
{
	struct unwinder *u = calloc(1, sizeof *u);
	if (!u)
		abort();
	u->pid = pid;
	u->stack = malloc(STACK_COPY);
	u->view = u->stack;
	u->pages = calloc(PAGE_SLOTS, sizeof *u->pages);
	if (!u->stack || !u->pages)
		abort();
	elf_version(EV_CURRENT);
	u->as = unw_create_addr_space(&accessors, 0);
	if (!u->as) {
		err_set(e, ERR_INTERNAL, "libunwind: cannot create an address space for pid %d", (int)pid);
		unwind_free(u);
		return NULL;
	}
	/* only the collector thread unwinds: a per-thread cache needs no lock
	 * (the global one blocks signals with two syscalls per frame) */
	unw_set_caching_policy(u->as, UNW_CACHE_PER_THREAD);
	if (unwind_refresh(u, e) < 0) {
		unwind_free(u);
		return NULL;
	}
	return u;
}

void unwind_free(struct unwinder *u)
{
	if (!u)
		return;
	if (u->as)
		unw_destroy_addr_space(u->as);
	free(u->mods);
	free(u->ro);
	free(u->stack);
	free(u->pages);
	free(u);
}

int unwind_refresh(struct unwinder *u, struct err *e)
{
	struct buf maps;
	uint64_t h;
	if (proc_maps_read(u->pid, &maps, &h, e) < 0) {
		buf_release(&maps);
		return -1;
	}
	if (h != u->maps_hash) {
		/* something was mapped or unmapped: nothing cached can be trusted */
		u->maps_hash = h;
		unw_flush_cache(u->as, 0, 0);
		for (size_t i = 0; i < PAGE_SLOTS; i++)
			u->pages[i].addr = 0;
		free(u->ro);
		free(u->mods);
		u->ro = NULL;
		u->mods = NULL;
		u->nro = u->nmods = 0;
		size_t cap = 0, mcap = 0;
		struct proc_map pm;
		for (const char *l = buf_cstr(&maps); proc_maps_next(&l, &pm);) {
			if (pm.perms[0] != 'r' || pm.perms[1] != '-')
				continue;
			struct ro_range *r = VEC_PUSH(u->ro, u->nro, cap, 64);
			*r = (struct ro_range){ pm.start, pm.end };
			if (pm.perms[2] == 'x' && pm.path_len > 0 && pm.path_len < PATH_MAX &&
			    (pm.path[0] == '/' || strncmp(pm.path, "[vdso]", 6) == 0)) {
				struct module *m = VEC_PUSH(u->mods, u->nmods, mcap, 32);
				m->start = pm.start;
				m->end = pm.end;
				m->pgoff = pm.offset;
				memcpy(m->path, pm.path, pm.path_len);
				m->path[pm.path_len] = '\0';
			}
		}
	}
	buf_release(&maps);
	/* read every module's table now, not while a thread waits stopped */
	for (size_t i = 0; i < u->nmods; i++)
		if (u->mods[i].state == 0)
			module_load(u, &u->mods[i]);
	return 0;
}

void unwind_capture(struct unwinder *u, pid_t tid, const struct regs *regs)
{
	u->tid = tid;
	u->regs = *regs;
	/* one copy of the top of the stack serves the unwind's reads of it */
	uint64_t sp = regs->r[REGS_SP];
	struct iovec local = { u->stack, STACK_COPY }, remote = { (void *)(uintptr_t)sp, STACK_COPY };
	ssize_t got = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	u->view = u->stack;
	u->stack_base = sp;
	u->stack_len = got > 0 ? (size_t)got : 0;
}

int unwind_copy(struct unwinder *u, const struct regs *regs, const void *stack, size_t size,
		uint64_t *pcs, size_t max, size_t *n)
{
	u->tid = 0;
	u->regs = *regs;
	/* read where it is (a ring buffer's record stays put until its room
	 * is freed, after this returns): a copy cost ~9% of the sampler */
	u->view = stack;
	u->stack_len = size;
	u->stack_base = regs->r[REGS_SP];
	int rc = unwind_captured(u, pcs, max, n);
	u->view = u->stack;
	u->stack_len = 0; /* the caller's copy is not ours to read later */
	return rc;
}

int unwind_stack(struct unwinder *u, pid_t tid, const struct regs *regs,
		 uint64_t *pcs, size_t max, size_t *n)
{
	unwind_capture(u, tid, regs);
	return unwind_captured(u, pcs, max, n);
}

int unwind_captured(struct unwinder *u, uint64_t *pcs, size_t max, size_t *n)
{
	*n = 0;
	if (max == 0)
		return 0;
	unw_cursor_t c;
	if (unw_init_remote(&c, u->as, u) < 0) {
		pcs[(*n)++] = u->regs.r[REGS_IP];
		return 0;
	}
	bool after_signal = true; /* the leaf's IP is exact, not a return address */
	unw_word_t prev_sp = 0, prev_ip = 0;
	do {
		unw_word_t ip = 0, fsp = 0;
		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		unw_get_reg(&c, UNW_REG_SP, &fsp);
		/* no progress, or the same address again outside any code (a
		 * thread caught at its first instruction in clone3 gave 127
		 * copies of one): garbage. Recursion repeats addresses in code. */
		if (*n > 0 && ip == prev_ip && (fsp == prev_sp || !module_find(u, ip)))
			break;
		pcs[(*n)++] = after_signal ? ip : ip - 1;
		after_signal = unw_is_signal_frame(&c) > 0;
		prev_ip = ip;
		prev_sp = fsp;
	} while (*n < max && unw_step(&c) > 0);
	return 0;
}

size_t unwind_code_prefix(struct unwinder *u, const uint64_t *pcs, size_t n)
{
	size_t i = 0;
	/* callers are stored minus one: still inside their mapping */
	while (i < n && module_find(u, pcs[i]))
		i++;
	return i;
}
