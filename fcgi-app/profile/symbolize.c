#include "profile/symbolize.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/vec.h"
#include "collect/proc.h"
#include "profile/modfile.h"
#include "profile/profile.h"
#include "profile/symbolize_dwarf.h"
#include "profile/symbolize_fetch.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "profile/symbolize_int.h" /* after libdwfl.h: it uses its types */

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
		    char **file_name, Elf **elfp);

struct symbolizer *symbolizer_new(void)
{
	struct symbolizer *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->callbacks = (Dwfl_Callbacks){
		.find_elf = find_elf,
		.find_debuginfo = symbolize_find_debuginfo, /* also DEBUG_ROOT/.build-id */
		.debuginfo_path = &s->debuginfo_path,
	};
	symbolizer_set_debug_root(s, "/usr/lib/debug");
	return s;
}

static void missing_free(struct symbolizer *s)
{
	for (size_t i = 0; i < s->nmissing; i++)
		free(s->missing[i]);
	s->nmissing = 0;
}

static void maps_free(struct symbolizer *s)
{
	for (size_t i = 0; i < s->nmaps; i++)
		free(s->maps[i].file);
	free(s->maps);
	s->maps = NULL;
	s->nmaps = 0;
}

static void unloaded_free(struct symbolizer *s)
{
	for (size_t i = 0; i < UNLOADED_KEPT; i++)
		if (s->unloaded[i].dwfl)
			dwfl_end(s->unloaded[i].dwfl);
	memset(s->unloaded, 0, sizeof s->unloaded);
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	if (s->dwfl)
		dwfl_end(s->dwfl);
	maps_free(s);
	unloaded_free(s);
	missing_free(s);
	free(s->missing);
	symbolize_debug_free(s);
	symbolize_fetch_free(s->fetch);
	free(s->debuginfo_path);
	free(s);
}

/* Executable file-backed mappings: what pprof calls mappings. */
static void parse_maps(struct symbolizer *s, const char *text)
{
	maps_free(s);
	size_t cap = 0;
	struct proc_map m;
	for (const char *l = text; proc_maps_next(&l, &m);) {
		if (m.perms[2] != 'x' || !m.path_len || m.path[0] != '/')
			continue;
		VEC_RESERVE(s->maps, cap, s->nmaps + 1, 32);
		s->maps[s->nmaps].start = m.start;
		s->maps[s->nmaps].end = m.end;
		s->maps[s->nmaps].offset = m.offset;
		s->maps[s->nmaps].file = strndup(m.path, m.path_len);
		if (!s->maps[s->nmaps].file)
			abort();
		s->nmaps++;
	}
}

static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	const struct symbolizer *s = *userdata;
	if (s && name[0] == '/') {
		int fd = modfile_open_mapped(s->pid, name, base);
		if (fd >= 0) {
			/* the path as the process named it: separate debug
			 * files are looked up next to it and by build-id */
			char *plain = strdup(name);
			if (!plain)
				abort();
			proc_strip_deleted(plain);
			*file_name = plain;
			return fd;
		}
	}
	return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

/* Each module learns its symbolizer (for find_elf) and, unless its ELF is
 * loaded already, the build-id its memory holds: libdwfl then refuses a
 * file at the same path whose build-id differs (a library rewritten in
 * place) instead of naming functions from it. */
static int prepare_module(Dwfl_Module *mod, void **userdata, const char *name,
			  Dwarf_Addr start, void *arg)
{
	(void)name;
	struct symbolizer *s = arg;
	*userdata = s;
	const unsigned char *bits;
	GElf_Addr at;
	if (dwfl_module_build_id(mod, &bits, &at) > 0)
		return DWARF_CB_OK;
	unsigned char id[64];
	size_t len = sizeof id;
	uint64_t vaddr;
	if (modfile_memory_build_id(s->pid, start, id, &len, &vaddr) == 0)
		dwfl_module_report_build_id(mod, id, len, vaddr);
	return DWARF_CB_OK;
}

int symbolizer_attach(struct symbolizer *s, pid_t pid, struct err *e)
{
	struct buf maps;
	struct err re = { 0 };
	uint64_t h;
	if (proc_maps_read(pid, &maps, &h, &re) < 0) {
		buf_release(&maps);
		if (s->dwfl && s->pid == pid)
			return 0; /* gone since: what it had mapped last still names it */
		if (e && e->kind == ERR_NONE)
			*e = re;
		return -1;
	}
	int rc = 0;
	bool same = s->dwfl && s->pid == pid;
	bool appeared = same && symbolize_debug_appeared(s);
	if (same && s->maps_hash == h && !appeared)
		goto out; /* nothing changed: keep every module and its caches */
	if (s->dwfl && (!same || appeared)) {
		/* another process, or a module without symbols has them now:
		 * its failed lookup is kept in its module, so start over */
		dwfl_end(s->dwfl);
		s->dwfl = NULL;
		missing_free(s);
		if (!same)
			unloaded_free(s);
	}
	if (!s->dwfl && !(s->dwfl = dwfl_begin(&s->callbacks))) {
		rc = err_set(e, ERR_INTERNAL, "dwfl_begin: %s", dwfl_errmsg(-1));
		goto out;
	}
	/* a new report keeps the modules that are still there */
	dwfl_report_begin(s->dwfl);
	int r = dwfl_linux_proc_report(s->dwfl, pid);
	dwfl_report_end(s->dwfl, NULL, NULL);
	if (r != 0) {
		rc = r > 0 ? err_errno(e, r == ENOENT ? ERR_TARGET : ERR_INTERNAL, r,
				       "dwfl_linux_proc_report pid %d", (int)pid)
			   : err_set(e, ERR_INTERNAL, "dwfl_linux_proc_report pid %d: %s",
				     (int)pid, dwfl_errmsg(-1));
		dwfl_end(s->dwfl);
		s->dwfl = NULL;
		goto out;
	}
	parse_maps(s, buf_cstr(&maps));
	s->pid = pid;
	s->maps_hash = h;
	dwfl_getmodules(s->dwfl, prepare_module, s, 0);
out:
	buf_release(&maps);
	return rc;
}

static const struct exec_map *find_map(const struct symbolizer *s, uint64_t addr)
{
	for (size_t i = 0; i < s->nmaps; i++)
		if (addr >= s->maps[i].start && addr < s->maps[i].end)
			return &s->maps[i];
	return NULL;
}

static char *hex_of(const unsigned char *bits, size_t n)
{
	char *hex = malloc(n * 2 + 1);
	if (!hex)
		abort();
	hex[0] = '\0';
	for (size_t i = 0; i < n; i++)
		sprintf(hex + i * 2, "%02x", bits[i]);
	return hex;
}

char *symbolize_build_id_hex(Dwfl_Module *mod)
{
	GElf_Addr bias;
	dwfl_module_getelf(mod, &bias); /* the build-id is read with the ELF */
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(mod, &bits, &vaddr);
	return n > 0 ? hex_of(bits, (size_t)n) : NULL;
}

/* The profile's mapping id for executable mapping m, added on first use
 * (map_ids, by index into s->maps, remembers them) with the name file
 * (NULL: m's file); mod is m's module, for its build-id. */
static size_t mapping_id(const struct symbolizer *s, struct profile *p, size_t *map_ids,
			 const struct exec_map *m, Dwfl_Module *mod, const char *file)
{
	size_t mi = (size_t)(m - s->maps);
	if (!map_ids[mi]) {
		char *bid = mod ? symbolize_build_id_hex(mod) : NULL;
		struct profile_mapping pm = {
			.start = m->start, .limit = m->end, .offset = m->offset,
			.file = (char *)(file ? file : m->file), .build_id = bid,
			.has_functions = true, .has_filenames = true,
			.has_line_numbers = true, .has_inline_frames = true,
		};
		map_ids[mi] = profile_add_mapping(p, &pm);
		free(bid);
	}
	return map_ids[mi];
}

int symbolize_profile(struct symbolizer *s, struct profile *p, struct err *e)
{
	if (!s->dwfl)
		return err_set(e, ERR_INTERNAL, "symbolizer not attached");
	/* one profile mapping per executable mapping that has samples; the
	 * program's own first, as in Go's profiles: pprof takes the first
	 * mapping for the main binary (its "File:" line) */
	size_t *map_ids = calloc(s->nmaps + 1, sizeof *map_ids);
	if (!map_ids)
		abort();
	char exe[PATH_MAX], known[PATH_MAX];
	/* named as it was run (Debian's redis-server is a symlink to
	 * redis-check-rdb): pprof's "File:" and the name it saves under */
	bool renamed = modfile_exec_name(s->pid, known);
	if (modfile_exe_path(s->pid, exe))
		for (size_t i = 0; i < p->nlocations; i++) {
			const struct exec_map *m = find_map(s, p->locations[i].address);
			if (m && strcmp(m->file, exe) == 0) {
				mapping_id(s, p, map_ids, m,
					   dwfl_addrmodule(s->dwfl, p->locations[i].address),
					   renamed ? known : NULL);
				break;
			}
		}
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *loc = &p->locations[i];
		const struct exec_map *m = find_map(s, loc->address);
		Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, loc->address);
		if (m)
			loc->mapping = mapping_id(s, p, map_ids, m, mod, NULL);
		if (mod && loc->nlines == 0)
			symbolize_location(mod, loc, loc->address);
	}
	for (size_t mi = 0; mi < s->nmaps; mi++)
		if (map_ids[mi])
			symbolize_note_unnamed(s, p, &s->maps[mi], map_ids[mi]);
	free(map_ids);
	return 0;
}

/* For a library loaded nowhere now: its file only (the frames' addresses
 * are given as they were), and its separate debug file. */
static const Dwfl_Callbacks unloaded_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

/* The ELF in fd (named file) reported at m's bias in a Dwfl of its own,
 * if its build-id is m's; why not in e otherwise. Consumes fd. */
static int open_unloaded(int fd, const char *file, const struct symbolize_module *m,
			 struct unloaded *out, struct err *e)
{
	Dwfl *dwfl = dwfl_begin(&unloaded_callbacks);
	if (!dwfl) {
		close(fd);
		return err_set(e, ERR_INTERNAL, "dwfl_begin: %s", dwfl_errmsg(-1));
	}
	dwfl_report_begin(dwfl);
	/* add_p_vaddr: addresses are bias + the ELF's own, as the loader put them */
	Dwfl_Module *mod = dwfl_report_elf(dwfl, file, file, fd, m->bias, true);
	dwfl_report_end(dwfl, NULL, NULL);
	if (!mod) {
		close(fd); /* consumed only on success */
		int rc = err_set(e, ERR_TARGET, "%s: %s", file, dwfl_errmsg(-1));
		dwfl_end(dwfl);
		return rc;
	}
	const unsigned char *bits;
	GElf_Addr at;
	int n = dwfl_module_build_id(mod, &bits, &at);
	if (n <= 0 || (size_t)n != m->build_id_size || memcmp(bits, m->build_id, (size_t)n) != 0) {
		dwfl_end(dwfl);
		return err_set(e, ERR_TARGET, "%s is not the file that was loaded (%s)", file,
			       n > 0 ? "another build-id: rebuilt or replaced since" : "no build-id");
	}
	*out = (struct unloaded){ .dwfl = dwfl, .mod = mod, .bias = m->bias,
				  .id_size = m->build_id_size };
	memcpy(out->id, m->build_id, m->build_id_size);
	return 0;
}

/* m's file, opened before or now: the file at its path, or its separate
 * debug file by build-id (the same addresses, symbols and DWARF). */
static struct unloaded *find_unloaded(struct symbolizer *s, const struct symbolize_module *m,
				      struct err *e)
{
	if (!m->build_id_size || m->build_id_size > sizeof s->unloaded[0].id) {
		err_set(e, ERR_TARGET, "no build-id was recorded, so no file can be checked");
		return NULL;
	}
	for (size_t i = 0; i < UNLOADED_KEPT; i++) {
		struct unloaded *u = &s->unloaded[i];
		if (u->dwfl && u->id_size == m->build_id_size &&
		    memcmp(u->id, m->build_id, u->id_size) == 0)
			return u;
	}
	struct unloaded u;
	struct err first = { 0 };
	int rc = -1;
	int fd;
	if (m->file[0] != '/')
		err_set(&first, ERR_TARGET, "its file name was not recorded");
	else if ((fd = modfile_open_as_target(m->pid, m->file, &first)) >= 0)
		rc = open_unloaded(fd, m->file, m, &u, &first);
	if (rc < 0) {
		/* found by build-id, on this machine: the content is vouched for */
		char debug[PATH_MAX];
		char *hex = hex_of(m->build_id, m->build_id_size);
		symbolize_debug_path(s, hex, debug, sizeof debug);
		free(hex);
		struct err ignored = { 0 };
		if ((fd = modfile_open_as_target(0, debug, &ignored)) >= 0)
			rc = open_unloaded(fd, debug, m, &u, &ignored);
	}
	if (rc < 0) {
		if (e && e->kind == ERR_NONE)
			*e = first;
		return NULL;
	}
	struct unloaded *slot = &s->unloaded[s->unloaded_next];
	s->unloaded_next = (s->unloaded_next + 1) % UNLOADED_KEPT;
	if (slot->dwfl)
		dwfl_end(slot->dwfl);
	*slot = u;
	return slot;
}

void symbolizer_set_debug_root(struct symbolizer *s, const char *dir)
{
	s->debug_root = dir;
	free(s->debuginfo_path);
	/* libdwfl's default with dir for /usr/lib/debug: next to the file,
	 * in its .debug/, then dir/.build-id/ and dir/PATH */
	if (asprintf(&s->debuginfo_path, ":.debug:%s", dir) < 0)
		abort();
}

void symbolizer_set_debuginfod(struct symbolizer *s, const char *urls)
{
	symbolize_fetch_free(s->fetch);
	s->fetch = urls && urls[0] ? symbolize_fetch_new(urls) : NULL;
}

int symbolize_unloaded(struct symbolizer *s, struct profile *p, const struct symbolize_module *m,
		       struct err *e)
{
	struct unloaded *u = find_unloaded(s, m, e);
	char *bid = m->build_id_size ? hex_of(m->build_id, m->build_id_size) : NULL;
	struct profile_mapping pm = {
		.start = m->start, .limit = m->limit, .offset = m->offset,
		.file = (char *)(m->file[0] ? m->file : "[unloaded library]"), .build_id = bid,
		.has_functions = u != NULL, .has_filenames = u != NULL,
		.has_line_numbers = u != NULL, .has_inline_frames = u != NULL,
	};
	size_t id = 0;
	int named = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *loc = &p->locations[i];
		if (loc->address < m->start || loc->address >= m->limit || loc->mapping)
			continue;
		if (!id)
			id = profile_add_mapping(p, &pm);
		loc->mapping = id;
		if (u && loc->nlines == 0) {
			/* the process's address, moved to where the file was
			 * reported (one build loaded at several places is opened
			 * once) */
			uint64_t at = m->lo + (loc->address - m->start);
			symbolize_location(u->mod, loc, at - m->bias + u->bias);
			named += loc->nlines > 0;
		}
	}
	free(bid);
	return u ? named : -1;
}

int symbolize_name(struct symbolizer *s, uint64_t addr, struct buf *out, struct err *e)
{
	if (!s->dwfl)
		return err_set(e, ERR_INTERNAL, "symbolizer not attached");
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	GElf_Sym sym;
	GElf_Off off;
	const char *name = mod ? dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL) : NULL;
	if (!name)
		return -1;
	char *d = symbolize_demangle(name);
	buf_puts(out, d);
	free(d);
	return 0;
}

struct find_symbol {
	const char *module, *name;
	int type;          /* STT_OBJECT, STT_FUNC */
	uint64_t addr;
	uint64_t lo, hi; /* the module's address range */
};

static int find_symbol_in(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr start, void *arg)
{
	(void)userdata;
	struct find_symbol *f = arg;
	if (!modname || !strstr(modname, f->module))
		return DWARF_CB_OK;
	int n = dwfl_module_getsymtab(mod);
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
		/* a symbol table names versioned symbols "dlopen@@GLIBC_2.34" */
		size_t len = strlen(f->name);
		/* an undefined symbol (a module calling it) is not where it is */
		if (name && GELF_ST_TYPE(sym.st_info) == f->type && sym.st_shndx != SHN_UNDEF &&
		    strncmp(name, f->name, len) == 0 &&
		    (name[len] == '\0' || name[len] == '@')) {
			Dwarf_Addr end;
			dwfl_module_info(mod, NULL, NULL, &end, NULL, NULL, NULL, NULL);
			f->addr = addr;
			f->lo = start;
			f->hi = end;
			return DWARF_CB_ABORT;
		}
	}
	return DWARF_CB_OK;
}

static int find_symbol(struct symbolizer *s, const char *module, const char *name, int type,
		       uint64_t *addr, uint64_t *module_lo, uint64_t *module_hi, struct err *e)
{
	if (!s->dwfl)
		return err_set(e, ERR_INTERNAL, "symbolizer not attached");
	struct find_symbol f = { module, name, type, 0, 0, 0 };
	dwfl_getmodules(s->dwfl, find_symbol_in, &f, 0);
	if (!f.addr)
		return 1;
	*addr = f.addr;
	*module_lo = f.lo;
	*module_hi = f.hi;
	return 0;
}

int symbolize_find_object(struct symbolizer *s, const char *module, const char *name,
			  uint64_t *addr, uint64_t *module_lo, uint64_t *module_hi, struct err *e)
{
	return find_symbol(s, module, name, STT_OBJECT, addr, module_lo, module_hi, e);
}

int symbolize_find_function(struct symbolizer *s, const char *module, const char *name,
			    uint64_t *addr, struct err *e)
{
	uint64_t lo, hi;
	return find_symbol(s, module, name, STT_FUNC, addr, &lo, &hi, e);
}
