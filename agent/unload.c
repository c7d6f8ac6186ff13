/* unload.c: the libraries a dlclose unloads, published. */
#define _GNU_SOURCE
#include "unload.h"

#include <errno.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

struct modules {
	struct module *m;        /* the list, before a dlclose; or */
	struct range *r;         /* the list, after it */
	uint32_t n;
	bool overflow, has_subs;
	unsigned long long subs; /* the C library's count of unloads */
};

/* The GNU build-id among the notes of a loaded object, as mapped. */
static uint32_t note_build_id(const struct dl_phdr_info *info, uint8_t *id)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const unsigned char *at = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
		const unsigned char *end = at + ph->p_memsz;
		while (at + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)at;
			const unsigned char *name = at + sizeof *nh;
			const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
			const unsigned char *next = desc + ((nh->n_descsz + 3) & ~3u);
			if (next > end || next <= at)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && nh->n_descsz > 0 &&
			    nh->n_descsz <= PPROF_AGENT_BUILD_ID) {
				memcpy(id, desc, nh->n_descsz);
				return nh->n_descsz;
			}
			at = next;
		}
	}
	return 0;
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
	struct modules *m = data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		m->subs = info->dlpi_subs;
		m->has_subs = true;
	}
	uint64_t lo = UINT64_MAX, hi = 0, offset = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < lo) {
			lo = a;
			offset = ph->p_offset;
		}
		hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
	}
	if (lo >= hi)
		return 0;
	if (m->n == MAX_MODULES) {
		m->overflow = true;
		return 0;
	}
	if (m->r) {
		m->r[m->n++] = (struct range){ lo, hi };
		return 0;
	}
	struct module *o = &m->m[m->n++];
	*o = (struct module){ .lo = lo, .hi = hi };
	o->bias = info->dlpi_addr;
	o->offset = offset;
	o->build_id_size = note_build_id(info, o->build_id);
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	size_t len = strlen(name), dir = 0;
	/* a name relative to the working directory (dlopen("lib/x.so")),
	 * made absolute as the reader cannot: that directory may have
	 * changed since, but the reader checks the build-id of what it opens */
	if (name[0] && name[0] != '/' && getcwd(o->file, sizeof o->file)) {
		dir = strlen(o->file);
		o->file[dir++] = '/';
	}
	if (dir + len < sizeof o->file)
		memcpy(o->file + dir, name, len + 1);
	else
		o->file[0] = '\0';
	return 0;
}

/* Publishes the objects of before that after lacks, but for those that
 * a dlclose in another thread, its window overlapping this one's, has
 * published since the since-th unload. (A dlclose within a destructor
 * unloads nothing itself: glibc leaves that to the outer one.) */
static void record_unloads(const struct modules *before, const struct modules *after,
			   uint64_t since)
{
	pthread_mutex_lock(&A.lock);
	for (uint32_t i = 0; i < before->n; i++) {
		bool gone = true;
		const struct module *b = &before->m[i];
		for (uint32_t j = 0; j < after->n && gone; j++)
			gone = after->r[j].lo != b->lo || after->r[j].hi != b->hi;
		for (uint64_t k = since; k < pprof_agent.unloads && gone; k++)
			gone = A.unloads[k].lo != b->lo || A.unloads[k].hi != b->hi;
		if (!gone)
			continue;
		uint64_t n = pprof_agent.unloads;
		if (n >= MAX_UNLOADS) {
			pprof_agent.unloads_lost++;
			continue;
		}
		struct pprof_agent_unload *u = &A.unloads[n];
		*u = (struct pprof_agent_unload){
			.lo = b->lo, .hi = b->hi, .bias = b->bias, .offset = b->offset,
			.build_id_size = b->build_id_size,
		};
		memcpy(u->build_id, b->build_id, sizeof u->build_id);
		memcpy(u->file, b->file, sizeof u->file);
		/* the entry is whole before a sample or the reader sees it */
		__atomic_store_n(&pprof_agent.unloads, n + 1, __ATOMIC_RELEASE);
		__atomic_store_n(&A.unw.unloads, n + 1, __ATOMIC_RELEASE);
	}
	if (before->overflow || after->overflow)
		pprof_agent.unloads_lost++; /* some objects were not compared */
	pthread_mutex_unlock(&A.lock);
}

/* Stacks are kept as addresses and named when read: an unloaded library's
 * range is recorded. Rare: the two lists of loaded objects come from a
 * mapping of their own. */
EXPORT int dlclose(void *handle)
{
	agent_init();
	if (!A.real.dlclose) {
		errno = ENOSYS;
		return -1;
	}
	if (!__atomic_load_n(&A.tables, __ATOMIC_ACQUIRE))
		return A.real.dlclose(handle);
	/* The lists go in the kept mapping, unless another dlclose uses it
	 * (in another thread, or in a destructor this one runs): in a mapping
	 * of their own then. Never waited for: one dlclose holds it while it
	 * takes the loader's lock, which another may hold while it wants
	 * this. */
	size_t bytes = sizeof(struct dl_lists);
	bool kept = !__atomic_exchange_n(&A.dl_busy, 1, __ATOMIC_ACQUIRE);
	struct dl_lists *lists = kept ? A.dl_lists : NULL;
	bool own = !lists;
	if (own) {
		lists = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (lists == MAP_FAILED) {
			if (kept)
				__atomic_store_n(&A.dl_busy, 0, __ATOMIC_RELEASE);
			__atomic_fetch_add(&pprof_agent.unloads_lost, 1, __ATOMIC_RELAXED);
			return A.real.dlclose(handle);
		}
	}
	struct modules before = { .m = lists->before }, after = { .r = lists->after };
	uint64_t since = __atomic_load_n(&pprof_agent.unloads, __ATOMIC_ACQUIRE);
	dl_iterate_phdr(add_module, &before);
	int rc = A.real.dlclose(handle);
	int saved = errno;
	dl_iterate_phdr(add_module, &after);
	/* most dlclose calls only drop a reference: nothing to compare */
	if (!before.has_subs || after.subs != before.subs)
		record_unloads(&before, &after, since);
	if (own)
		munmap(lists, bytes);
	if (kept)
		__atomic_store_n(&A.dl_busy, 0, __ATOMIC_RELEASE);
	if (A.late)
		got_tick(&A.got);
	errno = saved;
	return rc;
}
OWN(dlclose);
