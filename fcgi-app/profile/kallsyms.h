/* kallsyms: names of kernel frames from /proc/kallsyms, in a mapping of
 * their own named [kernel.kallsyms] as perf names it. The symbols are
 * kept across profiles, read again when the modules loaded change (or
 * were not readable): one read of ~120,000 lines otherwise per profile. */
#ifndef PF_KALLSYMS_H
#define PF_KALLSYMS_H

#include <stdint.h>

struct kallsyms;
struct profile;

struct kallsyms *kallsyms_new(void);
void kallsyms_free(struct kallsyms *k);

/* The lowest kernel address (x86-64's upper half): frames at or above it
 * are the kernel's. */
#define KALLSYMS_LOW 0xffff800000000000ULL

/* Names every frame of p at a kernel address that has no name yet: its
 * function from /proc/kallsyms, or "[kernel]" where kallsyms shows no
 * addresses (kernel.kptr_restrict, no CAP_SYSLOG) or cannot be read, with
 * a comment saying why and what grants the names. k: the symbols kept
 * (not thread-safe: the caller serializes). */
void kallsyms_name(struct kallsyms *k, struct profile *p);

#endif
