/* profile: the pprof data model, knowing nothing of protobuf.
 *
 * Samples are stacks of addresses (leaf first) with one value per sample
 * type and a thread label; identical (stack, labels) samples are merged as
 * they are added. Each distinct address becomes one location, which the
 * symbolizer fills (mapping, function, file, line, inlined frames) before
 * the encoder writes it. The profile owns every string and array in it. */
#ifndef PF_PROFILE_H
#define PF_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROFILE_MAX_VALUES 4
#define PROFILE_MAX_DEPTH 128

struct profile_value_type {
	const char *type; /* static strings: "cpu", "samples", ... */
	const char *unit;
};

struct profile_mapping {
	uint64_t start, limit, offset;
	char *file;
	char *build_id;   /* lowercase hex, or NULL */
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct profile_line {
	char *function;    /* demangled */
	char *system_name; /* as in the symbol table */
	char *file;        /* NULL when unknown */
	int64_t line;
};

struct profile_location {
	uint64_t address;
	uint64_t sym_offset;         /* address - start of its symbol, for func+0xOFF */
	size_t mapping;              /* index + 1 into mappings; 0: none */
	struct profile_line *lines;  /* innermost (inlined) first */
	size_t nlines;
};

struct profile_sample {
	size_t *locs;   /* indices into locations, leaf first */
	size_t nlocs;
	int64_t values[PROFILE_MAX_VALUES];
	pid_t tid;      /* 0: no thread_id label */
	char thread_name[16]; /* "": no thread_name label */
	char wait[64];  /* "": no wait label (off-CPU: what the thread waited in) */
	int64_t bytes;  /* 0: no bytes label (heap: each block's size, as Go's) */
	int64_t ticks;  /* CPU: samples whose time its thread's settling gives */
};

struct profile {
	struct profile_value_type types[PROFILE_MAX_VALUES];
	size_t ntypes;
	int default_type;            /* index into types, -1: none */
	struct profile_value_type period_type;
	int64_t period;
	int64_t time_nanos, duration_nanos;

	struct profile_sample *samples;
	size_t nsamples, samples_cap;
	struct profile_location *locations;
	size_t nlocations, locations_cap;
	struct profile_mapping *mappings;
	size_t nmappings, mappings_cap;
	char **comments;
	size_t ncomments;
	bool drop_zero;              /* leave out samples whose values are all 0 (deltas) */
	bool split_inlines;          /* encode with profile_split_inlines (inlines=split) */

	/* hash indexes: address -> location, (stack, thread) -> sample */
	size_t *loc_index, loc_index_cap;
	size_t *sample_index, sample_index_cap;
	/* samples with ticks awaiting their thread's CPU time */
	size_t *unsettled, nunsettled, unsettled_cap;
};

/* An empty profile of no kind (a table of locations to symbolize). */
void profile_init(struct profile *p);
/* The kinds, each with its sample types, default and period as Go's:
 * CPU: samples/count, cpu/nanoseconds (the default), period 1e9/hz ns. */
void profile_init_cpu(struct profile *p, long hz);
/* Off-CPU waits (/block, /mutex): contentions/count, delay/nanoseconds. */
void profile_init_contention(struct profile *p);
/* Sampled allocations: alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes, the default inuse_space
 * (inuse true) or alloc_space; period type space/bytes, period rate. */
void profile_init_heap(struct profile *p, bool inuse, int64_t rate);
/* One count per stack (goroutine, threadcreate): name/count, period 1. */
void profile_init_count(struct profile *p, const char *name);
void profile_release(struct profile *p);
void profile_add_type(struct profile *p, const char *type, const char *unit);
/* Adds values to the sample for (pcs, tid); pcs leaf first, n bounded by
 * PROFILE_MAX_DEPTH (deeper stacks are cut at the root end). */
void profile_add_sample(struct profile *p, const uint64_t *pcs, size_t n,
			const int64_t *values, pid_t tid, const char *thread_name);
/* The same with a wait label. */
void profile_add_wait_sample(struct profile *p, const uint64_t *pcs, size_t n,
			     const int64_t *values, pid_t tid, const char *thread_name,
			     const char *wait);
/* The same with a bytes label and no thread: samples of one stack with
 * other sizes stay apart, as Go's heap profile keeps them. */
void profile_add_sized_sample(struct profile *p, const uint64_t *pcs, size_t n,
			      const int64_t *values, int64_t bytes);
/* CPU samples that each weigh one tick of their thread, whose CPU time
 * is known only when its window ends (the ptrace sampler): a tick adds 1
 * to samples/count of (pcs, tid), and settling tid shares cpu_ns out
 * over the ticks added since its last settling, in proportion, the sum
 * exact; a tid reused later settles apart. */
void profile_add_tick(struct profile *p, const uint64_t *pcs, size_t n, pid_t tid,
		      const char *thread_name);
void profile_settle_thread(struct profile *p, pid_t tid, int64_t cpu_ns);
/* The index of location address (created without symbols if new). */
size_t profile_location(struct profile *p, uint64_t address);
/* Adds an inlined-or-not frame to a location (innermost first). */
void profile_location_add_line(struct profile_location *loc, const char *function,
			       const char *system_name, const char *file, int64_t line);
/* Adds a mapping; returns its index + 1 for profile_location.mapping. */
size_t profile_add_mapping(struct profile *p, const struct profile_mapping *m);
void profile_add_comment(struct profile *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Makes the sample type named type the default (-sample_index in go tool
 * pprof); -1 when p has no such type. */
int profile_set_default_type(struct profile *p, const char *type);
/* Writes out p's sample types as "a, b, c" into out (size bytes). */
void profile_type_names(const struct profile *p, char *out, size_t size);
/* Gives each inlined frame a location of its own, innermost first, same
 * address and mapping, and the samples' stacks through them: for viewers
 * that read one line per location. After symbolizing; p takes no more
 * samples after it. */
void profile_split_inlines(struct profile *p);

#endif
