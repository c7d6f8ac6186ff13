/* kallsyms: names of kernel frames from /proc/kallsyms, in a mapping of
 * their own named [kernel.kallsyms] as perf names it. Read once per
 * profile that has kernel frames (sampled by perf_event where permitted). */
#ifndef PF_KALLSYMS_H
#define PF_KALLSYMS_H

#include <stdint.h>

struct profile;

/* The lowest kernel address (x86-64's upper half): frames at or above it
 * are the kernel's. */
#define KALLSYMS_LOW 0xffff800000000000ULL

/* Names every frame of p at a kernel address that has no name yet: its
 * function from /proc/kallsyms, or "[kernel]" where kallsyms shows no
 * addresses (kernel.kptr_restrict, no CAP_SYSLOG) or cannot be read, with
 * a comment saying why and what grants the names. */
void kallsyms_name(struct profile *p);

#endif
