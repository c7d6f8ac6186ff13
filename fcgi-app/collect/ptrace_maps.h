/* ptrace_maps: the mapping history (maphist.h) for the ptrace sampler,
 * which gets no mapping records from the kernel. Every sample is taken
 * with its thread stopped, so where one of its frames lies in no
 * executable mapping of the last read of /proc/PID/maps, the maps are
 * read again (once a tick at most, and not again for a frame that was in
 * nothing after a read: garbage from a broken unwind) and the history is
 * brought up to date: what is new is there from the tick's start, what
 * is gone ends at the read. A library unmapped and another mapped over
 * the same range between two reads, with no frame outside the known
 * ranges to prompt one, is taken for the first (docs/sampling.md). */
#ifndef PF_PTRACE_MAPS_H
#define PF_PTRACE_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct maphist;

#define PTRACE_MAPS_MISSED 64

struct ptrace_maps {
	uint64_t hash;            /* of the maps last read; 0: none read yet */
	struct ptrace_range { uint64_t start, end; } *x; /* their executable ranges, sorted */
	size_t nx, xcap;
	uint64_t missed[PTRACE_MAPS_MISSED]; /* frames in none of them after that read, */
	size_t nmissed;                      /* the newest (a ring) */
	int64_t exec_ns;          /* CLOCK_BOOTTIME of the target's last exec: no new
				   * mapping is older */
};

void ptrace_maps_release(struct ptrace_maps *m);

/* Whether one of pcs lies in no executable mapping of the last read (and
 * was not already looked for after it), or nothing was read yet. */
bool ptrace_maps_miss(const struct ptrace_maps *m, const uint64_t *pcs, size_t n);

/* Reads pid's maps into h: new mappings as there from from (CLOCK_BOOTTIME,
 * a time no later than the samples to be tagged), gone ones ended now.
 * true when the maps changed since the last read (the unwinder's view is
 * stale too). */
bool ptrace_maps_read(struct ptrace_maps *m, struct maphist *h, pid_t pid, int64_t from);

/* After a read: pcs in no executable mapping prompt no other read until
 * the maps change (a broken unwind's garbage would read them every tick). */
void ptrace_maps_note(struct ptrace_maps *m, const uint64_t *pcs, size_t n);

/* The target exec'd at t (CLOCK_BOOTTIME): the old image's mappings end,
 * and the next tick reads the new ones. Nothing before the first read:
 * a sampler that does not tick (lent to perf_event for waits) keeps out
 * of the history perf_event's records make. */
void ptrace_maps_exec(struct ptrace_maps *m, struct maphist *h, pid_t pid, int64_t t);

#endif
