/* text: Go's text formats of stack profiles (debug=1 and debug=2), from a
 * symbolized profile model. */
#ifndef PF_TEXT_H
#define PF_TEXT_H

#include <stdint.h>

struct buf;
struct profile;
struct thread_dump;

/* "NAME profile: total N", then per sample, most frequent first,
 * "COUNT @ 0xADDR ..." (return addresses, as Go) and one
 * "#\t0xPC\tfunction+0xOFF\tfile:line" line per frame, inlined ones included.
 * go tool pprof reads this and asks /symbol for the names. */
void text_counts(struct buf *out, const char *name, const struct profile *p);

/* Go's legacy contention text: "--- HEADER:", "cycles/second=1000000000"
 * (so cycles are nanoseconds), then per sample, longest delay first,
 * "DELAY COUNT @ 0xADDR ..." and the same "#" frame lines. Values: type 0
 * the count, type 1 the delay. */
void text_contention(struct buf *out, const char *header, const struct profile *p);

/* Go's legacy heap text: "heap profile: INUSE_N: INUSE_B [ALLOC_N: ALLOC_B]
 * @ heap/2*rate", then per sample, most bytes in use first, the same four
 * values, "@ 0xADDR ..." (all return addresses) and the "#" frame lines.
 * Values: types 0-3 alloc_objects, alloc_space, inuse_objects, inuse_space,
 * as sampled (the reader scales by the rate in the header). */
void text_heap(struct buf *out, const struct profile *p, int64_t rate);
/* The memory map that ends a legacy text profile, as pprof's parser reads
 * it: "--- Memory map: ---", then one "START-END r-xp FILE (@OFFSET)
 * BUILDID" line per mapping of p, so that a saved text profile can be
 * symbolized later from the binaries (the "#" lines are comments to it). */
void text_memory_map(struct buf *out, const struct profile *p);

/* One block per thread, as Go's goroutine?debug=2: a header with tid, name,
 * state, wait and CPU time, then "function(...)" and "\tfile:line +0xOFF"
 * per frame; p's sample i is thread i of d. */
void text_threads(struct buf *out, const struct thread_dump *d, const struct profile *p);

#endif
