/* pprof-agent.h: the layout the preload agent publishes in the target's
 * memory and pprof-fcgi reads from outside with process_vm_readv.
 *
 * The agent exports one object, pprof_agent (struct pprof_agent_header).
 * Its tables live in anonymous mappings the header points to, so nothing
 * is left behind when the target dies, and reading needs no more than the
 * ptrace access the rest of pprof-fcgi needs.
 *
 * Consistency without locks on the reader's side: a bucket (a stack) is
 * written in full before nbuckets (a release store) counts it, and it never
 * changes afterwards. Its counters are kept apart, in one array per shard:
 * the agent shards its sampled blocks by address (a thread's heap arena
 * falls in shards of its own), so that a sample touches no cache line
 * another core writes. A block's allocation and its free are counted in
 * the same shard; a reader sums the shards. Each counter is a single
 * aligned 64-bit word, so a reader sees it whole (alloc and free counts of
 * one bucket may be one update apart, never torn). A target stopped or
 * killed mid-update cannot wedge a reader: there is nothing to wait for.
 *
 * Only fixed-size types, so the agent and pprof-fcgi agree whatever built
 * them; version changes when this layout does. */
#ifndef PPROF_AGENT_H
#define PPROF_AGENT_H

#include <stdint.h>

#define PPROF_AGENT_MAGIC 0x31656761666f7270ULL /* "profage1" little-endian */
#define PPROF_AGENT_VERSION 7
#define PPROF_AGENT_SYMBOL "pprof_agent"
#define PPROF_AGENT_DEPTH 64
#define PPROF_AGENT_SHARDS 64

enum pprof_agent_kind {
	PPROF_AGENT_ALLOC = 0,  /* sampled allocations from this stack */
	PPROF_AGENT_THREAD = 1, /* a pthread_create call stack */
};

/* How the agent came into the target: preloaded (LD_PRELOAD, its symbols
 * interpose the allocator's from the start) or loaded into the running
 * process by pprof-fcgi (it routes the allocator through itself then, and
 * knows only the blocks allocated since). */
enum pprof_agent_origin {
	PPROF_AGENT_PRELOADED = 0,
	PPROF_AGENT_LOADED = 1,
};

enum pprof_agent_state {
	PPROF_AGENT_SAMPLING = 0,
	PPROF_AGENT_OFF = 1,    /* PPROF_MEMRATE=0 */
	PPROF_AGENT_FAILED = 2, /* see message; the target runs on unsampled */
};

/* An allocation bucket is a (stack, size class) pair, as Go's: the class
 * is the size asked for rounded up to 4 significant bits (16 classes a
 * doubling, at most 1/16 apart), so that a call site of many sizes takes a
 * bounded number of buckets. The counters hold the bytes the allocator
 * handed out (malloc_usable_size of each sampled block) and the bytes
 * asked for, whose average sets the blocks' chance of being sampled, by
 * which the reader scales the bucket. */
struct pprof_agent_bucket {
	uint64_t hash;
	uint32_t depth;          /* frames in pcs */
	uint32_t kind;           /* enum pprof_agent_kind */
	uint64_t size;           /* the size class of its blocks; 0 for a thread */
	uint64_t stamp;          /* the latest unload (its number, 1-based)
				  * whose range held one of pcs when the stack
				  * was taken; 0: none. A pc inside an unload
				  * numbered above stamp was in a library
				  * unloaded since: the reader must not name it
				  * by what is mapped there now. */
	uint64_t pcs[PPROF_AGENT_DEPTH]; /* return addresses, innermost first,
					  * the agent's own frames left out */
};

/* One bucket's counters in one shard; sampled, unscaled: the reader sums
 * the shards and scales as Go does. Bytes are the bytes the allocator
 * holds for each block (malloc_usable_size), a free taking off what its
 * allocation added; alloc_asked the bytes asked for. A thread stack counts
 * its threads in alloc_objects of shard 0. */
struct pprof_agent_counts {
	uint64_t alloc_objects, alloc_bytes;
	uint64_t free_objects, free_bytes;
	uint64_t alloc_asked;
};

struct pprof_agent_thread {
	int32_t tid;             /* 0: empty slot */
	uint32_t bucket;         /* index into buckets */
	uint64_t seq;            /* creation order: of two slots naming one tid
				  * (a tid reused), the higher is current */
};

#define PPROF_AGENT_BUILD_ID 40  /* bytes of a build-id kept (SHA-1's is 20) */
#define PPROF_AGENT_FILE 256      /* bytes of a file name kept, NUL included */

/* A library the target unloaded (dlclose), the nth of unloads[]: the
 * address range its segments covered, and what the reader needs to name
 * frames in it from its file (if the file is still the one that was
 * loaded: the build-id says). */
struct pprof_agent_unload {
	uint64_t lo, hi;
	uint64_t bias;           /* load bias: address = bias + ELF vaddr */
	uint64_t offset;         /* file offset of the segment at lo */
	uint32_t build_id_size;  /* 0: none found */
	uint8_t build_id[PPROF_AGENT_BUILD_ID];
	char file[PPROF_AGENT_FILE]; /* as the loader named it; "" if too long */
};

struct pprof_agent_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size, bucket_size, thread_size, counts_size;
	int32_t pid;             /* the process these tables describe (set
				  * again in a forked child) */
	uint32_t state;          /* enum pprof_agent_state */
	uint32_t shards;         /* entries of counts[] in use */
	int64_t rate;            /* mean bytes between samples; 1: every one */
	uint64_t buckets;        /* address of struct pprof_agent_bucket[max_buckets] */
	uint64_t nbuckets;       /* published buckets */
	uint64_t max_buckets;
	uint64_t threads;        /* address of struct pprof_agent_thread[max_threads] */
	uint64_t max_threads;
	/* Counters every sample would write are left out (a shared line
	 * bouncing between cores on each sample): samples recorded are the
	 * sum of the counts' alloc_objects, live ones alloc minus free. */
	uint64_t max_live;       /* sampled blocks that can be live at once */
	uint64_t dropped;        /* samples lost: a table was full, or no
				  * unwinder yet (before the constructor) */
	uint64_t table_bytes;    /* address space the agent's tables reserve */
	uint64_t unloads;        /* published entries of unload_table */
	uint64_t max_unloads;
	uint64_t unload_table;   /* address of struct pprof_agent_unload[max_unloads] */
	uint64_t unloads_lost;   /* unloads not recorded (the table was full) */
	uint64_t counts[PPROF_AGENT_SHARDS]; /* shard i's struct pprof_agent_counts
					      * [max_buckets], 0 until it counts */
	uint32_t origin;         /* enum pprof_agent_origin */
	uint32_t reserved;
	uint64_t since_ns;       /* CLOCK_REALTIME when it began to count: the
				  * start of the process for a preloaded agent,
				  * the load for a loaded one */
	char message[128];       /* why state is FAILED */
};

/* Exported by the agent for pprof-fcgi's loader, which dlopens it into a
 * running process (RTLD_LOCAL, where its allocator functions interpose
 * nothing) and calls this once, on a thread it interrupted in a wait, with
 * that thread's signals blocked. It routes the process's allocator and
 * pthread_create, dlopen and dlclose through the agent by rewriting the
 * modules' GOT entries, and counts from then on, sampling at rate (as
 * PPROF_MEMRATE: mean bytes between samples, 1 every block, 0 dormant:
 * the late agent cannot read the process's environment). 0: it counts now,
 * or did already (a second call, or a preloaded agent); -1: refused, the
 * reason in pprof_agent.message (state FAILED), nothing routed. */
#define PPROF_AGENT_ATTACH "pprof_agent_attach"
int pprof_agent_attach(int64_t rate);

#endif
