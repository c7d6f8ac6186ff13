/* ptrace_waits: the ptrace sampler's snapshot and off-CPU passes, its
 * ops' .snapshot and .waits (see ptrace_waits.c). */
#ifndef PF_PTRACE_WAITS_H
#define PF_PTRACE_WAITS_H

#include "collect/sampler.h"

#include <stdbool.h>

/* Every thread's stack and state now, one collector_sample each, with a
 * stop only where the stack cannot be read otherwise. */
void ptrace_waits_snapshot(struct sampler *pt, struct sampler_stats *st);

/* Every thread's waiting since its last look, credited to where it waits;
 * settle: no thread skipped (a window begins or ends). */
void ptrace_waits_offcpu(struct sampler *pt, bool settle, struct sampler_stats *st);

#endif
