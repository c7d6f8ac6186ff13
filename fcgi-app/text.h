/* text: Go's text formats of stack profiles (debug=1 and debug=2), from a
 * symbolized profile model. */
#ifndef PF_TEXT_H
#define PF_TEXT_H

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

/* One block per thread, as Go's goroutine?debug=2: a header with tid, name,
 * state, wait and CPU time, then "function(...)" and "\tfile:line +0xOFF"
 * per frame; p's sample i is thread i of d. */
void text_threads(struct buf *out, const struct thread_dump *d, const struct profile *p);

#endif
