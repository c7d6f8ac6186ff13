/* sampler_pick: the choice of a CPU sampler (sampler_pick, in sampler.h)
 * and a perf_event_open refusal in words. */
#ifndef PF_SAMPLER_PICK_H
#define PF_SAMPLER_PICK_H

#include <sys/types.h>

struct err;

/* Fills e with why perf_event_open failed with errno err on pid; -1. */
int sampler_pick_refusal(int err, pid_t pid, struct err *e);

#endif
