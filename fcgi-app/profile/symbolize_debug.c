#include "profile/symbolize.h"

#include "base/vec.h"
#include "profile/debugpkg.h"
#include "profile/profile.h"
#include "profile/symbolize_fetch.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "profile/symbolize_int.h" /* after libdwfl.h: it uses its types */

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PKGS_KEPT 64

void symbolize_debug_path(const struct symbolizer *s, const char *hex, char *out, size_t size)
{
	snprintf(out, size, "%s/.build-id/%.2s/%s.debug", s->debug_root, hex, hex + 2);
}

bool symbolize_debug_appeared(struct symbolizer *s)
{
	char path[PATH_MAX];
	for (size_t i = 0; i < s->nmissing; i++) {
		symbolize_debug_path(s, s->missing[i], path, sizeof path);
		if (access(path, R_OK) == 0 ||
		    (s->fetch && symbolize_fetch_state(s->fetch, s->missing[i], NULL, 0) == FETCH_DONE))
			return true;
	}
	return false;
}

int symbolize_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			     GElf_Addr base, const char *file_name, const char *debuglink_file,
			     GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	int fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
					      debuglink_file, debuglink_crc, debuginfo_file_name);
	const struct symbolizer *s = *userdata;
	if (fd >= 0 || !s || !s->fetch)
		return fd;
	char *hex = symbolize_build_id_hex(mod);
	char path[PATH_MAX];
	if (hex && symbolize_fetch_state(s->fetch, hex, path, sizeof path) == FETCH_DONE &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0 && !(*debuginfo_file_name = strdup(path)))
		abort();
	free(hex);
	return fd;
}

void symbolize_debug_free(struct symbolizer *s)
{
	for (size_t i = 0; i < s->npkgs; i++) {
		free(s->pkgs[i].file);
		free(s->pkgs[i].pkg);
	}
	free(s->pkgs);
	s->pkgs = NULL;
	s->npkgs = s->pkgs_cap = 0;
}

/* Whether mod has more than its dynamic symbols: DWARF or a symbol table,
 * in its file or a separate debug file. */
static bool has_symbols(Dwfl_Module *mod)
{
	Dwarf_Addr bias;
	if (dwfl_module_getdwarf(mod, &bias))
		return true;
	dwfl_module_getsymtab(mod); /* looks for a debug file with a symbol table */
	const char *debugfile = NULL;
	dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, &debugfile);
	if (debugfile)
		return true;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	for (Elf_Scn *scn = NULL; elf && (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			return true;
	}
	return false;
}

/* The Debian package that owns file (NULL: none), read once per file
 * (dpkg's lists are a few MB); *rc as debugpkg_owner's. */
static const char *owner_of(struct symbolizer *s, const char *file, int *rc)
{
	for (size_t i = 0; i < s->npkgs; i++)
		if (strcmp(s->pkgs[i].file, file) == 0) {
			*rc = s->pkgs[i].rc;
			return s->pkgs[i].pkg;
		}
	char pkg[256];
	*rc = debugpkg_owner("/var/lib/dpkg/info", file, pkg, sizeof pkg);
	if (s->npkgs >= PKGS_KEPT)
		return NULL;
	struct debug_pkg *d = VEC_PUSH(s->pkgs, s->npkgs, s->pkgs_cap, 8);
	d->file = strdup(file);
	d->pkg = *rc == 1 ? strdup(pkg) : NULL;
	d->rc = *rc;
	if (!d->file || (*rc == 1 && !d->pkg))
		abort();
	return d->pkg;
}

/* What would name the frames of file (build-id bid, or NULL) into out:
 * the debug package that has them (none for a file no package owns), the
 * path of its debug file, and DEBUGINFOD_URLS: unset, being fetched, or
 * why it gave none. */
static void remedy(struct symbolizer *s, const char *file, const char *bid, char *out,
		   size_t size)
{
	char debug[PATH_MAX] = "", pkg[300], why[512] = "", how[400] = "";
	if (bid)
		symbolize_debug_path(s, bid, debug, sizeof debug);
	int rc;
	const char *owner = owner_of(s, file, &rc);
	if (debugpkg_name(owner, file, pkg, sizeof pkg))
		snprintf(how, sizeof how, "install %s%s, ", pkg, strcmp(pkg, "libc6-dbg") ?
			 " (from Debian's debug archive)" : "");
	else if (rc < 0)
		snprintf(how, sizeof how, "install the distribution's debug package for it, ");
	enum symbolize_fetch_state st = s->fetch && bid ? symbolize_fetch_state(s->fetch, bid, why,
						sizeof why) : FETCH_NONE;
	const char *fetch = ", or set DEBUGINFOD_URLS for pprof-fcgi";
	if (st == FETCH_PENDING)
		fetch = "; its debug file is being fetched from DEBUGINFOD_URLS, and the next "
			"profile will name them";
	else if (st == FETCH_FAILED)
		fetch = "; DEBUGINFOD_URLS gave none: ";
	else if (s->fetch)
		fetch = "";
	snprintf(out, size, "%s%s%s%s%s%s", how, bid ? "put its debug file at " : "", debug,
		 rc == 0 ? " (no Debian package owns the file)" : "", fetch,
		 st == FETCH_FAILED ? why : "");
}

/* Remembers build-id bid of a module without symbols, so that a debug
 * file put in place for it is read at the next attach, and asks for it
 * from DEBUGINFOD_URLS. */
static void remember_missing(struct symbolizer *s, const char *bid)
{
	for (size_t i = 0; i < s->nmissing; i++)
		if (strcmp(s->missing[i], bid) == 0)
			return;
	/* fetched already and still without symbols: watching it would read
	 * the modules anew at every attach */
	if (s->fetch && symbolize_fetch_want(s->fetch, bid, NULL, 0) == FETCH_DONE)
		return;
	if (s->nmissing >= MISSING_KEPT)
		return;
	char **slot = VEC_PUSH(s->missing, s->nmissing, s->missing_cap, 8);
	if (!(*slot = strdup(bid)))
		abort();
}

/* Remembers its build-id, so that a debug file put in place or fetched is
 * read at the next attach. */
void symbolize_note_unnamed(struct symbolizer *s, struct profile *p, const struct exec_map *m,
			    size_t id)
{
	size_t frames = 0, unnamed = 0, samples = 0;
	for (size_t i = 0; i < p->nlocations; i++)
		if (p->locations[i].mapping == id) {
			frames++;
			unnamed += p->locations[i].nlines == 0;
		}
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, m->start);
	if (!unnamed || !mod || has_symbols(mod))
		return;
	for (size_t i = 0; i < p->nsamples; i++)
		for (size_t k = 0; k < p->samples[i].nlocs; k++) {
			const struct profile_location *l = &p->locations[p->samples[i].locs[k]];
			if (l->mapping == id && l->nlines == 0) {
				samples++;
				break;
			}
		}
	const char *bid = p->mappings[id - 1].build_id;
	if (bid)
		remember_missing(s, bid);
	char what[3 * PATH_MAX];
	remedy(s, m->file, bid, what, sizeof what);
	profile_add_comment(p, "no symbols for %s (build-id %s): %zu of its %zu frames, in %zu "
			    "samples, are unnamed; to name them %s; a debug file put in place is "
			    "read at the next request", m->file, bid ? bid : "none", unnamed, frames,
			    samples, what);
}

struct each_module {
	struct symbolizer *s;
	void (*fn)(void *arg, const struct symbolize_debug *d);
	void *arg;
};

static int describe_module(Dwfl_Module *mod, void **userdata, const char *name,
			   Dwarf_Addr start, void *arg)
{
	(void)userdata;
	(void)start;
	struct each_module *w = arg;
	Dwarf_Addr bias;
	/* [vdso] is the kernel's, named by its own symbols; a locale file
	 * mapped is no ELF and has no code */
	if (!name || name[0] != '/' || !dwfl_module_getelf(mod, &bias))
		return DWARF_CB_OK;
	struct symbolize_debug d = { .file = name, .named = has_symbols(mod) };
	char *bid = symbolize_build_id_hex(mod);
	d.build_id = bid;
	dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, &d.debug_file);
	char what[3 * PATH_MAX];
	if (!d.named) {
		if (bid)
			remember_missing(w->s, bid);
		remedy(w->s, name, bid, what, sizeof what);
		d.remedy = what;
	}
	w->fn(w->arg, &d);
	free(bid);
	return DWARF_CB_OK;
}

void symbolize_modules(struct symbolizer *s, void (*fn)(void *arg, const struct symbolize_debug *d),
		       void *arg)
{
	struct each_module w = { s, fn, arg };
	if (s->dwfl)
		dwfl_getmodules(s->dwfl, describe_module, &w, 0);
}
