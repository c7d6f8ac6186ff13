/* sampler_pick: the choice of a CPU sampler (sampler_pick, in sampler.h)
 * and a perf_event_open refusal in words. */
#ifndef PF_SAMPLER_PICK_H
#define PF_SAMPLER_PICK_H

#include <stddef.h>
#include <sys/types.h>

struct err;

/* Fills e with why perf_event_open failed with errno err on pid; -1. */
int sampler_pick_refusal(int err, pid_t pid, struct err *e);
/* Why perf_event_open refused kernel frames (exclude_kernel = 0) with
 * errno err, in words a user can act on, into out. */
void sampler_pick_kernel_refusal(int err, char *out, size_t size);

#endif
