/* symbolize: addresses of a live process to mapping, build-id, function
 * (demangled C++ and Rust), file, line and inlined frames, with elfutils
 * libdw. The only includer of libdwfl.h. Kept per target across requests;
 * re-reports the process's modules when /proc/PID/maps changed. Not
 * thread-safe: one user at a time (the owner locks). */
#ifndef PF_SYMBOLIZE_H
#define PF_SYMBOLIZE_H

#include <stdbool.h>
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

struct maphist_entry;
/* symbolize_profile with the target's mappings by time (h, nh: maphist.h):
 * frames sampled in a mapping still there as recorded are given back their
 * address; those in one gone since are named from its file (by build-id)
 * or said in a comment of p. */
int symbolize_profile_history(struct symbolizer *s, struct profile *p,
			      const struct maphist_entry *h, size_t nh, struct err *e);

/* A library the target has unloaded, as it was loaded. */
struct symbolize_module {
	uint64_t start, limit; /* the addresses p's locations give its frames */
	uint64_t lo;           /* the process's address that start stands for */
	uint64_t bias, offset; /* its load bias; the file offset at lo */
	const char *file;      /* as the loader named it, or "" */
	pid_t pid;             /* whose root file is in and who must be able
				* to read it; 0: as pprof-fcgi sees it */
	const unsigned char *build_id;
	size_t build_id_size;
};

/* The directory whose .build-id/ holds separate debug files
 * (/usr/lib/debug unless set; dir must outlive s). A module that left
 * frames unnamed for lack of symbols is said in a comment of the profile,
 * with the path its debug file would have here; once that file exists,
 * the next symbolizer_attach reads the modules anew. */
void symbolizer_set_debug_root(struct symbolizer *s, const char *dir);

/* Fetches the debug files of modules without symbols from urls
 * (DEBUGINFOD_URLS, taken from the environment by
 * symbolize_fetch_take_env; NULL or "": none), in the background: a
 * profile goes on with what is local and says the file is being fetched;
 * once it is in debuginfod's cache, the next symbolizer_attach reads the
 * modules anew, as for a debug file put in the debug root. */
void symbolizer_set_debuginfod(struct symbolizer *s, const char *urls);

/* Adds m as a mapping of p for the locations in [m->start, m->limit)
 * that have none, and names them from m's file if it is the one that was
 * loaded (same build-id), else from its separate debug file found by
 * build-id. Returns how many were named, or -1 with why none could be. */
int symbolize_unloaded(struct symbolizer *s, struct profile *p, const struct symbolize_module *m,
		       struct err *e);

/* What a module of the attached process has to name its frames with. */
struct symbolize_debug {
	const char *file;
	const char *build_id;   /* lowercase hex, or NULL */
	bool named;             /* it has a symbol table or DWARF */
	const char *debug_file; /* the separate debug file read, or NULL */
	const char *remedy;     /* what would name its frames, when !named */
};

/* Calls fn for each file-backed module of the attached process (reading
 * each one's symbols and debug file once; kept across calls). A module
 * without symbols is watched for its debug file as in a profile. */
void symbolize_modules(struct symbolizer *s, void (*fn)(void *arg, const struct symbolize_debug *d),
		       void *arg);

/* The outermost function name at addr (demangled), or -1 when none. */
int symbolize_name(struct symbolizer *s, uint64_t addr, struct buf *out, struct err *e);

/* The address of the data object name in the first module whose file name
 * contains module, and that module's address range; 1 when there is none
 * (not loaded), -1 on error. */
int symbolize_find_object(struct symbolizer *s, const char *module, const char *name,
			  uint64_t *addr, uint64_t *module_lo, uint64_t *module_hi, struct err *e);
/* The same for a function (an STT_FUNC symbol: not an IFUNC's resolver). */
int symbolize_find_function(struct symbolizer *s, const char *module, const char *name,
			    uint64_t *addr, struct err *e);

/* A symbol name demangled (C++, Rust) and stripped of its @VERSION; the
 * caller frees. */
char *symbolize_demangle(const char *name);

#endif
