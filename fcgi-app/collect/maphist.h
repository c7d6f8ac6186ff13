/* maphist: the target's executable mappings by time, from the perf_event
 * sampler's MMAP2 and exec records (the ptrace sampler's: /proc/PID/maps
 * read when a sample lies outside every mapping it knew, and its exec
 * events; ptrace_maps.h), so a sample is named from the mapping
 * it was taken in even when that mapping is gone by the time the profile
 * is symbolized (a library dlopened and dlclosed within the window, an
 * image replaced by exec). munmap makes no record: a later mapping over
 * the same range ends the earlier one; exec ends them all.
 *
 * Samples' PCs in a recorded mapping are handed on as tagged addresses
 * (MAPHIST_BIT | entry << MAPHIST_SHIFT | offset into the mapping), which
 * stay unambiguous whatever is mapped at the address later; the
 * symbolizer turns them back into the process's addresses where the same
 * mapping is still there (symbolize_history). Shared by the collector's
 * thread (adds, tags) and the requests' (copies), under its own lock. */
#ifndef PF_MAPHIST_H
#define PF_MAPHIST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* above any user address (< 2^57), below any kernel one (0xffff8...) */
#define MAPHIST_BIT (1ULL << 62)
#define MAPHIST_SHIFT 40 /* offsets below 1 TiB; entries up to 2^20 */
#define MAPHIST_MAX 4096 /* entries kept for a pid; past it, PCs stay as they are */
#define MAPHIST_ID_MAX 20

struct maphist_entry {
	uint64_t start, len, pgoff;
	int64_t from_ns, to_ns; /* CLOCK_BOOTTIME; to_ns INT64_MAX while mapped */
	char *file;
	unsigned char build_id[MAPHIST_ID_MAX];
	size_t build_id_size; /* 0: the kernel gave none */
};

struct maphist {
	pthread_mutex_t lock;
	pid_t pid; /* the process the entries are of */
	struct maphist_entry *e;
	size_t n, cap;
};

void maphist_init(struct maphist *h);
void maphist_release(struct maphist *h);

/* A mapping of pid appeared at time t (a new pid forgets the old one's). */
void maphist_add(struct maphist *h, pid_t pid, const struct maphist_entry *m, int64_t t);
/* The executable mappings in /proc/PID/maps, as there from time t (before
 * any event is opened: what was mapped before has no record). */
void maphist_seed(struct maphist *h, pid_t pid, int64_t t);
/* pid's executable mappings are those in maps (the text of its
 * /proc/PID/maps): those not recorded are added as there from time from,
 * recorded ones no longer there end at time gone (-1: none end). For a
 * sampler that gets no mapping records (ptrace), which reads the maps when
 * a sample lies where it knows of no mapping. */
void maphist_sync(struct maphist *h, pid_t pid, const char *maps, int64_t from, int64_t gone);
/* pid exec'd at time t: every mapping recorded so far ends. */
void maphist_exec(struct maphist *h, pid_t pid, int64_t t);
/* Tags each of pcs that lies, at time t, in a recorded mapping of pid. */
void maphist_tag(struct maphist *h, pid_t pid, int64_t t, uint64_t *pcs, size_t n);

/* A copy of pid's entries (files duplicated) for a symbolizer; *n 0 and
 * NULL when there are none. Freed by maphist_free_copy. */
struct maphist_entry *maphist_copy(struct maphist *h, pid_t pid, size_t *n);
void maphist_free_copy(struct maphist_entry *e, size_t n);

static inline bool maphist_tagged(uint64_t pc)
{
	return (pc >> MAPHIST_SHIFT) >= (MAPHIST_BIT >> MAPHIST_SHIFT) &&
	       (pc >> MAPHIST_SHIFT) < ((MAPHIST_BIT >> MAPHIST_SHIFT) + MAPHIST_MAX);
}

#endif
