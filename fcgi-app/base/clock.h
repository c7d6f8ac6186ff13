/* clock.h: the time, in nanoseconds, from one of the kernel's clocks. */
#ifndef PF_CLOCK_H
#define PF_CLOCK_H

#include <stdint.h>
#include <time.h>

/* clk's time in ns: CLOCK_MONOTONIC for durations and deadlines,
 * CLOCK_BOOTTIME for sample timestamps (the clock perf and Perfetto use),
 * CLOCK_REALTIME for a profile's time_nanos. */
int64_t clock_ns(clockid_t clk);

#endif
