/* symbolize_int: the symbolizer's state, shared by symbolize.c (modules,
 * maps, the unloaded libraries) and symbolize_debug.c (what names a
 * module's frames, and what to say when nothing does). Internal to
 * profile/symbolize*.c, which include it after elfutils/libdwfl.h (the
 * only includers of that header). */
#ifndef PF_SYMBOLIZE_INT_H
#define PF_SYMBOLIZE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct profile;
struct symbolize_fetch;

#define UNLOADED_KEPT 16
#define MISSING_KEPT 64

struct symbolizer {
	Dwfl *dwfl;
	pid_t pid;
	uint64_t maps_hash; /* of /proc/PID/maps when last reported */
	/* executable mappings of the process, from /proc/PID/maps */
	struct exec_map {
		uint64_t start, end, offset;
		char *file;
	} *maps;
	size_t nmaps;
	/* libraries the target unloaded, opened for naming frames in them,
	 * by build-id (at the bias of the first seen): kept across requests
	 * (up to UNLOADED_KEPT, the oldest replaced) */
	struct unloaded {
		Dwfl *dwfl;
		Dwfl_Module *mod;
		uint64_t bias;
		unsigned char id[64];
		size_t id_size;
	} unloaded[UNLOADED_KEPT];
	size_t unloaded_next;
	const char *debug_root; /* where .build-id/ is: /usr/lib/debug */
	char *debuginfo_path;   /* libdwfl's search path, ending in debug_root */
	Dwfl_Callbacks callbacks; /* .debuginfo_path points at debuginfo_path */
	/* build-ids (hex) of modules that left frames unnamed for lack of
	 * symbols: libdwfl keeps a module's failure to find a debug file, so
	 * one appearing for any of these makes the next attach report anew */
	char **missing;
	size_t nmissing, missing_cap;
	/* debug files fetched from DEBUGINFOD_URLS, or NULL */
	struct symbolize_fetch *fetch;
	/* the Debian package of each file named in a remedy: read once */
	struct debug_pkg {
		char *file, *pkg; /* pkg NULL: no package owns the file */
		int rc;           /* debugpkg_owner's: -1 no dpkg lists */
	} *pkgs;
	size_t npkgs, pkgs_cap;
};


/* The build-id of mod in lowercase hex, or NULL; the caller frees. */
char *symbolize_build_id_hex(Dwfl_Module *mod);

/* symbolize_debug.c */
/* Where a separate debug file for build-id hex is looked up first. */
void symbolize_debug_path(const struct symbolizer *s, const char *hex, char *out, size_t size);
/* Whether a debug file was put in place, or fetched, for a module that
 * had none: the next attach then reports the modules anew. */
bool symbolize_debug_appeared(struct symbolizer *s);
/* Says in p, once for executable mapping m (profile mapping id), how
 * many of its frames no symbol names and what would name them. */
void symbolize_note_unnamed(struct symbolizer *s, struct profile *p, const struct exec_map *m,
			    size_t id);
/* libdwfl's find_debuginfo: its standard search (never debuginfod: its
 * URLs were taken from the environment), then the file fetched for the
 * module's build-id. */
int symbolize_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			     GElf_Addr base, const char *file_name, const char *debuglink_file,
			     GElf_Word debuglink_crc, char **debuginfo_file_name);
/* Frees what symbolize_debug.c keeps in s (the missing list, packages). */
void symbolize_debug_free(struct symbolizer *s);

#endif
