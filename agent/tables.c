/* tables.c: the published header and the mapping of the agent's tables. */
#define _GNU_SOURCE
#include "tables.h"
#include "unload.h"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

/* The published header: the one object pprof-fcgi looks up by name. */
EXPORT struct pprof_agent_header pprof_agent;

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uintptr_t here = (uintptr_t)data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (here >= lo && here < hi) {
			A.self_lo = lo;
			A.self_hi = hi;
			return 1;
		}
	}
	return 0;
}

void *tables_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	__atomic_fetch_add(&pprof_agent.table_bytes, bytes, __ATOMIC_RELAXED);
	return p;
}

void tables_unmap(void *p, size_t bytes)
{
	munmap(p, bytes);
	__atomic_fetch_sub(&pprof_agent.table_bytes, bytes, __ATOMIC_RELAXED);
}

void tables_make(void)
{
	pprof_agent.magic = PPROF_AGENT_MAGIC;
	pprof_agent.version = PPROF_AGENT_VERSION;
	pprof_agent.header_size = sizeof pprof_agent;
	pprof_agent.bucket_size = sizeof(struct pprof_agent_bucket);
	pprof_agent.thread_size = sizeof(struct pprof_agent_thread);
	pprof_agent.counts_size = sizeof(struct pprof_agent_counts);
	pprof_agent.shards = NSHARDS;
	pprof_agent.pid = (int32_t)getpid();
	pprof_agent.rate = DEFAULT_RATE;
	pprof_agent.origin = PPROF_AGENT_PRELOADED;
	pprof_agent.since_ns = agent_now_ns();
	pprof_agent.max_buckets = MAX_BUCKETS;
	pprof_agent.max_threads = MAX_THREADS;
	/* an upper bound: tables are grown at 3/4 full, and to twice their
	 * size while the old one is still mapped */
	pprof_agent.max_live = LIVE_BUDGET / sizeof(struct live) * 3 / 4;
	void *b = tables_map(MAX_BUCKETS * sizeof(struct pprof_agent_bucket));
	void *t = tables_map(MAX_THREADS * sizeof(struct pprof_agent_thread));
	A.index = tables_map(INDEX_CAP * sizeof *A.index);
	A.unloads = tables_map(MAX_UNLOADS * sizeof *A.unloads);
	/* here rather than at the first dlclose: no mapping of ours appears
	 * beside the libraries a program loads and unloads (its hole then
	 * fits the next library of the same size as well as before) */
	A.dl_lists = tables_map(sizeof *A.dl_lists);
	pprof_agent.table_bytes += sizeof Z.bits + sizeof Z.counts;
	if (!b || !t || !A.index || !A.unloads) {
		agent_fail("mmap of the agent's tables failed");
		return;
	}
	A.buckets = b;
	pprof_agent.buckets = (uintptr_t)b;
	pprof_agent.threads = (uintptr_t)t;
	pprof_agent.unload_table = (uintptr_t)A.unloads;
	pprof_agent.max_unloads = MAX_UNLOADS;
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&tables_make);
	__atomic_store_n(&A.tables, 1, __ATOMIC_RELEASE);
}
