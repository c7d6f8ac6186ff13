/* sampler_pick: the choice of a CPU sampler (sampler_pick, in sampler.h)
 * and a perf_event_open refusal in words. */
#ifndef PF_SAMPLER_PICK_H
#define PF_SAMPLER_PICK_H

#include <stddef.h>
#include <sys/types.h>

struct err;

/* Fills e with why perf_event_open failed with errno err on pid; -1. */
int sampler_pick_refusal(int err, pid_t pid, struct err *e);
struct collector_config;
struct sampler_ops;
/* Which sampler ran, in words: "perf_event", or "ptrace (...)" with why
 * perf_event did not (why: sampler_pick's; empty: ptrace was asked for). */
void sampler_pick_said(const struct sampler_ops *ops, const char *why, char *out, size_t size);
/* The same for the sampler a window of pid would get now (a probe), or
 * "none (why)" when the one asked for is refused. */
void sampler_pick_name(const struct collector_config *cc, pid_t pid, char *out, size_t size);
/* Why perf_event_open refused kernel frames (exclude_kernel = 0) with
 * errno err, in words a user can act on, into out. */
void sampler_pick_kernel_refusal(int err, char *out, size_t size);

#endif
