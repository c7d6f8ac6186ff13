/* symbolize: addresses of a live process to mapping, build-id, function
 * (demangled C++ and Rust), file, line and inlined frames, with elfutils
 * libdw. The only includer of libdwfl.h. Kept per target across requests;
 * re-reports the process's modules when /proc/PID/maps changed. Not
 * thread-safe: one user at a time (the owner locks). */
#ifndef PF_SYMBOLIZE_H
#define PF_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct profile;
struct buf;

struct symbolizer;

struct symbolizer *symbolizer_new(void);
void symbolizer_free(struct symbolizer *s);

/* Points the symbolizer at pid, (re)reading its modules when pid or its
 * maps changed since the last call. A target that exited since its last
 * call keeps the modules read then, so a partial profile is symbolized. */
int symbolizer_attach(struct symbolizer *s, pid_t pid, struct err *e);

/* Fills the mapping and lines of every location of p, and p's mappings.
 * Location addresses are looked up as they are: the unwinder already
 * stores a caller's return address minus one. */
int symbolize_profile(struct symbolizer *s, struct profile *p, struct err *e);

/* The outermost function name at addr (demangled), or -1 when none. */
int symbolize_name(struct symbolizer *s, uint64_t addr, struct buf *out, struct err *e);

/* The address of the data object name in the first module whose file name
 * contains module, and that module's address range; 1 when there is none
 * (not loaded), -1 on error. */
int symbolize_find_object(struct symbolizer *s, const char *module, const char *name,
			  uint64_t *addr, uint64_t *module_lo, uint64_t *module_hi, struct err *e);

/* A symbol name demangled (C++, Rust) and stripped of its @VERSION; the
 * caller frees. */
char *symbolize_demangle(const char *name);

#endif
