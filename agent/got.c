/* got.c: the GOT rewriting of an agent loaded into a running process
 * (got.h).
 *
 * What dl_iterate_phdr's callbacks do is bounded by the loader's lock they
 * run under: no dlsym or dladdr there (another thread's dlopen holds the
 * loader's main lock and waits for this one), only reading the modules'
 * dynamic sections, mprotect and stores. */
#define _GNU_SOURCE
#include "got.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *const got_names[GOT_N] = {
	[GOT_MALLOC] = "malloc",
	[GOT_FREE] = "free",
	[GOT_CALLOC] = "calloc",
	[GOT_REALLOC] = "realloc",
	[GOT_REALLOCARRAY] = "reallocarray",
	[GOT_POSIX_MEMALIGN] = "posix_memalign",
	[GOT_ALIGNED_ALLOC] = "aligned_alloc",
	[GOT_MEMALIGN] = "memalign",
	[GOT_VALLOC] = "valloc",
	[GOT_PVALLOC] = "pvalloc",
	[GOT_MALLOC_USABLE_SIZE] = "malloc_usable_size",
	[GOT_PTHREAD_CREATE] = "pthread_create",
	[GOT_DLOPEN] = "dlopen",
	[GOT_DLCLOSE] = "dlclose",
};

/* One module's tables, from its PT_DYNAMIC. */
struct dyn {
	const ElfW(Sym) *symtab;
	const char *strtab;
	size_t strsz;
	const ElfW(Rela) *jmprel, *rela;
	size_t njmprel, nrela;
	bool paths;             /* DT_RPATH or DT_RUNPATH */
	uintptr_t relro_lo, relro_hi; /* the pages the loader made read-only */
};

static bool in_module(const struct dl_phdr_info *info, uintptr_t a)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && a >= lo && a - lo < ph->p_memsz)
			return true;
	}
	return false;
}

/* glibc rewrites the d_ptr values of a writable dynamic section to
 * addresses when it loads a module, and leaves a read-only one's (the
 * vDSO's) as offsets: an offset is below the load address. */
static uintptr_t dyn_addr(const struct dl_phdr_info *info, uintptr_t v)
{
	return v < info->dlpi_addr ? info->dlpi_addr + v : v;
}

static bool read_dyn(const struct dl_phdr_info *info, struct dyn *d)
{
	const ElfW(Dyn) *dyn = NULL;
	long page = sysconf(_SC_PAGESIZE);
	*d = (struct dyn){ 0 };
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_DYNAMIC) {
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
		} else if (ph->p_type == PT_GNU_RELRO) {
			/* as the loader protects it: the last partial page stays
			 * writable */
			uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
			d->relro_lo = lo & ~(uintptr_t)(page - 1);
			d->relro_hi = (lo + ph->p_memsz) & ~(uintptr_t)(page - 1);
		}
	}
	if (!dyn)
		return false;
	size_t pltrelsz = 0, relasz = 0;
	bool rela_plt = true;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: d->symtab = (const ElfW(Sym) *)dyn_addr(info, dyn->d_un.d_ptr); break;
		case DT_STRTAB: d->strtab = (const char *)dyn_addr(info, dyn->d_un.d_ptr); break;
		case DT_STRSZ: d->strsz = dyn->d_un.d_val; break;
		case DT_JMPREL: d->jmprel = (const ElfW(Rela) *)dyn_addr(info, dyn->d_un.d_ptr); break;
		case DT_PLTRELSZ: pltrelsz = dyn->d_un.d_val; break;
		case DT_PLTREL: rela_plt = dyn->d_un.d_val == DT_RELA; break;
		case DT_RELA: d->rela = (const ElfW(Rela) *)dyn_addr(info, dyn->d_un.d_ptr); break;
		case DT_RELASZ: relasz = dyn->d_un.d_val; break;
		case DT_RPATH: case DT_RUNPATH: d->paths = true; break;
		default: break;
		}
	}
	if (!d->symtab || !d->strtab || !rela_plt)
		return false;
	d->njmprel = d->jmprel ? pltrelsz / sizeof(ElfW(Rela)) : 0;
	d->nrela = d->rela ? relasz / sizeof(ElfW(Rela)) : 0;
	return true;
}

/* The routed function r names, or -1. */
static int fn_of(const struct dyn *d, const ElfW(Rela) *r)
{
	unsigned type = ELF64_R_TYPE(r->r_info), sym = ELF64_R_SYM(r->r_info);
	if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || sym == 0)
		return -1;
	size_t at = d->symtab[sym].st_name;
	if (d->strsz && at >= d->strsz)
		return -1;
	const char *name = d->strtab + at;
	/* most imports are none of these: one byte rules them out */
	if (!strchr("mcrpavfd", name[0]))
		return -1;
	for (int f = 0; f < GOT_N; f++)
		if (strcmp(name, got_names[f]) == 0)
			return f;
	return -1;
}

/* False for a module seen before the loader relocated it (dlopen lists
 * it first): its slots still hold the link-time addresses of its PLT
 * stubs, below the end of its unrelocated image, and the loader is about
 * to write them (and protect its RELRO pages). Checked on the last PLT
 * slot, which the loader relocates last. */
static bool relocated(const struct dl_phdr_info *info, const struct dyn *d)
{
	if (!info->dlpi_addr || !d->njmprel)
		return true;
	uintptr_t end = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && ph->p_vaddr + ph->p_memsz > end)
			end = ph->p_vaddr + ph->p_memsz;
	}
	const ElfW(Rela) *last = &d->jmprel[d->njmprel - 1];
	uintptr_t v = __atomic_load_n((uintptr_t *)(info->dlpi_addr + last->r_offset), __ATOMIC_RELAXED);
	return v >= end;
}

/* The visit of one slot: f the function it names, at its address. */
typedef void (*slot_fn)(struct got *g, const struct dl_phdr_info *info, const struct dyn *d,
			int f, bool plt, uintptr_t *at, void *ctx);

struct walk {
	struct got *g;
	slot_fn visit;
	void *ctx;
	uintptr_t skip;         /* an address in a module left out too; 0: none */
	bool counters;
	unsigned long long adds, subs;
};

static int walk_module(struct dl_phdr_info *info, size_t size, void *data)
{
	struct walk *w = data;
	if (!w->counters && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		w->adds = info->dlpi_adds;
		w->subs = info->dlpi_subs;
		w->counters = true;
	}
	struct dyn d;
	if (in_module(info, w->g->self) || (w->skip && in_module(info, w->skip)) || !read_dyn(info, &d))
		return 0;
	if (!relocated(info, &d)) {
		w->g->pending = 1;
		return 0;
	}
	for (size_t i = 0; i < d.njmprel + d.nrela; i++) {
		bool plt = i < d.njmprel;
		const ElfW(Rela) *r = plt ? &d.jmprel[i] : &d.rela[i - d.njmprel];
		int f = fn_of(&d, r);
		if (f >= 0)
			w->visit(w->g, info, &d, f, plt, (uintptr_t *)(info->dlpi_addr + r->r_offset), w->ctx);
	}
	return 0;
}

static void walk(struct got *g, uintptr_t skip, slot_fn visit, void *ctx, struct walk *out)
{
	*out = (struct walk){ .g = g, .visit = visit, .ctx = ctx, .skip = skip };
	g->pending = 0;
	dl_iterate_phdr(walk_module, out);
}

/* ---- collecting: what each function's slots point to ---- */

struct seen {
	int only;               /* the function looked at, or -1: all */
	uintptr_t value[GOT_N];
	char module[GOT_N][96]; /* the first module seen pointing there */
	int clash;              /* a function two modules disagree on, or -1 */
	bool twin;              /* a slot calls another copy of the agent */
	char other[96];
};

static void module_name(const struct dl_phdr_info *info, char *out, size_t len)
{
	const char *n = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "the program";
	snprintf(out, len, "%s", n);
}

static void collect_slot(struct got *g, const struct dl_phdr_info *info, const struct dyn *d,
			 int f, bool plt, uintptr_t *at, void *ctx)
{
	(void)d;
	struct seen *s = ctx;
	uintptr_t v = __atomic_load_n(at, __ATOMIC_RELAXED);
	/* another copy of this build (loaded from another memfd) has the
	 * same code, byte for byte, at another address */
	if (v && v != (uintptr_t)g->wrap[f] && !(plt && in_module(info, v)) &&
	    memcmp((const void *)v, g->wrap[f], 32) == 0)
		s->twin = true;
	/* an unbound PLT slot points into its own module's PLT: it names
	 * what the loader will bind, nothing yet */
	if ((s->only >= 0 && f != s->only) || s->clash >= 0 || !v || (plt && in_module(info, v)))
		return;
	if (!s->value[f]) {
		s->value[f] = v;
		module_name(info, s->module[f], sizeof s->module[f]);
	} else if (s->value[f] != v) {
		s->clash = f;
		module_name(info, s->other, sizeof s->other);
	}
}

int got_collect(struct got *g, char *why, size_t len)
{
	struct seen s = { .only = GOT_MALLOC, .clash = -1 };
	struct walk w;
	/* the allocator first: its own module is left out of the rest */
	walk(g, 0, collect_slot, &s, &w);
	if (s.clash < 0) {
		uintptr_t m = s.value[GOT_MALLOC];
		memset(&s, 0, sizeof s);
		s.only = -1;
		s.clash = -1;
		s.value[GOT_MALLOC] = m;
		walk(g, m, collect_slot, &s, &w);
	}
	if (s.twin)
		return 1;
	if (s.clash >= 0) {
		snprintf(why, len, "%s and %s call different %s functions: not routed", s.module[s.clash],
			 s.other, got_names[s.clash]);
		return -1;
	}
	for (int f = 0; f < GOT_N; f++) {
		g->real[f] = s.value[f] ? (void *)s.value[f] : dlsym(RTLD_DEFAULT, got_names[f]);
		if (!g->real[f] && f <= GOT_FREE) {
			snprintf(why, len, "no %s in the process: not routed", got_names[f]);
			return -1;
		}
	}
	g->adds = w.adds;
	g->subs = w.subs;
	return 0;
}

/* ---- routing ---- */

static void store(const struct dyn *d, uintptr_t *at, void *v)
{
	uintptr_t a = (uintptr_t)at;
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t p = a & ~(uintptr_t)(page - 1);
	bool ro = a >= d->relro_lo && a < d->relro_hi;
	if (ro && mprotect((void *)p, (size_t)page, PROT_READ | PROT_WRITE) != 0)
		return;
	/* one aligned store: a thread calling through the slot meanwhile
	 * gets the old function or the new, whole */
	__atomic_store_n(at, (uintptr_t)v, __ATOMIC_RELEASE);
	if (ro)
		mprotect((void *)p, (size_t)page, PROT_READ);
}

static void route_slot(struct got *g, const struct dl_phdr_info *info, const struct dyn *d,
		       int f, bool plt, uintptr_t *at, void *ctx)
{
	(void)ctx;
	uintptr_t v = __atomic_load_n(at, __ATOMIC_RELAXED);
	if (v == (uintptr_t)g->wrap[f])
		return;
	/* an unbound PLT slot is bound here, to the agent: the loader would
	 * have bound it to real (the same lookup), and binding it later would
	 * store over the agent's */
	if (v != (uintptr_t)g->real[f] && !(plt && in_module(info, v))) {
		g->foreign++;
		return;
	}
	store(d, at, g->wrap[f]);
	g->routed++;
}

void got_route(struct got *g)
{
	if (__atomic_exchange_n(&g->busy, 1, __ATOMIC_ACQUIRE)) {
		/* the running pass may have walked past a module this caller
		 * knows to be there: it runs once more */
		__atomic_store_n(&g->again, 1, __ATOMIC_RELEASE);
		return;
	}
	do {
		__atomic_store_n(&g->again, 0, __ATOMIC_RELAXED);
		struct walk w;
		walk(g, (uintptr_t)g->real[GOT_MALLOC], route_slot, NULL, &w);
		g->adds = w.adds;
		g->subs = w.subs;
		__atomic_store_n(&g->busy, 0, __ATOMIC_RELEASE);
	} while (__atomic_load_n(&g->again, __ATOMIC_ACQUIRE) &&
		 !__atomic_exchange_n(&g->busy, 1, __ATOMIC_ACQUIRE));
}

static int read_counters(struct dl_phdr_info *info, size_t size, void *data)
{
	struct walk *w = data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		w->adds = info->dlpi_adds;
		w->subs = info->dlpi_subs;
		w->counters = true;
	}
	return 1; /* the first module has them all */
}

void got_tick(struct got *g)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	uint64_t next = __atomic_load_n(&g->next_ms, __ATOMIC_RELAXED);
	if (now < next || !__atomic_compare_exchange_n(&g->next_ms, &next, now + 50, false,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	struct walk w = { .g = g };
	dl_iterate_phdr(read_counters, &w);
	if (!w.counters || w.adds != g->adds || w.subs != g->subs || g->pending)
		got_route(g);
}

struct caller {
	uintptr_t pc;
	bool found, paths;
};

static int find_caller(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct caller *c = data;
	struct dyn d;
	if (!in_module(info, c->pc))
		return 0;
	c->found = true;
	c->paths = read_dyn(info, &d) && d.paths;
	return 1;
}

bool got_caller_has_paths(uintptr_t pc)
{
	struct caller c = { .pc = pc };
	dl_iterate_phdr(find_caller, &c);
	return !c.found || c.paths;
}
