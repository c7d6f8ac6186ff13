/* got.h: routing a running process's allocator calls through the agent by
 * rewriting the GOT entries (R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT) that
 * name them, for an agent loaded into the process after it started, where
 * symbol interposition no longer applies. */
#ifndef GOT_H
#define GOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The functions routed, in this order (got_names). */
enum got_fn {
	GOT_MALLOC,
	GOT_FREE,
	GOT_CALLOC,
	GOT_REALLOC,
	GOT_REALLOCARRAY,
	GOT_POSIX_MEMALIGN,
	GOT_ALIGNED_ALLOC,
	GOT_MEMALIGN,
	GOT_VALLOC,
	GOT_PVALLOC,
	GOT_MALLOC_USABLE_SIZE,
	GOT_PTHREAD_CREATE,
	GOT_DLOPEN,
	GOT_DLCLOSE,
	GOT_N
};

struct got {
	void *wrap[GOT_N];      /* the agent's function for each */
	void *real[GOT_N];      /* what the slots held: the calls forward there */
	uintptr_t self;         /* an address in the agent: its module is skipped */
	int busy, again;        /* a pass runs; another is due after it */
	uint8_t pending;        /* a module was seen before its relocation */
	uint64_t next_ms;       /* got_tick looks again from then */
	unsigned long long adds, subs; /* the loader's counters at the last pass */
	uint64_t routed, foreign; /* slots routed; slots left to another function */
};

/* 1 when the slots call another copy of the agent (it counts: nothing to
 * do). Else fills g->real from the slots of every loaded module but the agent's and
 * the allocator's (the one whose malloc the slots point to); a function no
 * slot names, or only unresolved ones, is what the loader binds it to now.
 * -1 with why (a sentence) when modules point one function at two places:
 * nothing is routed then. */
int got_collect(struct got *g, char *why, size_t len);

/* Points every slot naming a routed function at the agent's, in every
 * module but the agent's and the allocator's; a slot that holds another
 * function than real (a module with an allocator of its own) is left. A
 * pass already running in another thread runs once more for this one. */
void got_route(struct got *g);

/* got_route if a module was loaded or unloaded since the last pass;
 * looked at every 50 ms at most (a clock read otherwise). */
void got_tick(struct got *g);

/* Whether the dynamic loader resolves names for code at pc from other
 * directories or namespaces than for the agent's code: its module has a
 * DT_RPATH or DT_RUNPATH, or pc is in no module the agent sees. A dlopen
 * from there must reach the C library from its caller's own frame. */
bool got_caller_has_paths(uintptr_t pc);

#endif
