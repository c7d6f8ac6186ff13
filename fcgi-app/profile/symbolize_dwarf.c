#include "profile/symbolize_dwarf.h"

#include "profile/profile.h"
#include "profile/symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libiberty/demangle.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *symbolize_demangle(const char *name)
{
	char plain[1024];
	snprintf(plain, sizeof plain, "%s", name);
	plain[strcspn(plain, "@")] = '\0'; /* pthread_cond_wait@@GLIBC_2.3.2 */
	char *d = NULL;
	if (plain[0] == '_' && (plain[1] == 'Z' || plain[1] == 'R'))
		d = cplus_demangle(plain, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	if (!d)
		d = strdup(plain);
	if (!d)
		abort();
	return d;
}

/* dir/file with "." and ".." segments folded; file alone when it is
 * absolute or dir is not. The result is in out. */
static const char *join_path(const char *dir, const char *file, char *out, size_t size)
{
	if (!file)
		return NULL;
	/* a relative dir (glibc records one) says nothing reliable */
	if (file[0] == '/' || !dir || dir[0] != '/')
		snprintf(out, size, "%s", file);
	else
		snprintf(out, size, "%s/%s", dir, file);
	/* fold in place: segments are copied over one by one */
	char *w = out;
	for (const char *r = out; *r;) {
		const char *end = strchr(r, '/');
		size_t len = end ? (size_t)(end - r) : strlen(r);
		if (len == 1 && r[0] == '.') {
			/* drop */
		} else if (len == 2 && r[0] == '.' && r[1] == '.' && w > out + 1) {
			w--; /* the slash before */
			while (w > out && w[-1] != '/')
				w--;
		} else if (len > 0 || r == out) {
			memmove(w, r, len);
			w += len;
			if (end)
				*w++ = '/';
		}
		if (!end)
			break;
		r = end + 1;
	}
	*w = '\0';
	return out;
}

static const char *comp_dir(Dwarf_Die *cudie)
{
	Dwarf_Attribute attr;
	return cudie && dwarf_attr(cudie, DW_AT_comp_dir, &attr) ? dwarf_formstring(&attr) : NULL;
}

/* DW_AT_linkage_name (demangled) or DW_AT_name, following abstract origins. */
static char *die_function_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *n = NULL;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		n = dwarf_formstring(&attr);
	if (!n && dwarf_attr_integrate(die, DW_AT_name, &attr))
		n = dwarf_formstring(&attr);
	return n ? symbolize_demangle(n) : NULL;
}

static const char *call_file(Dwarf_Die *cudie, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	Dwarf_Word idx;
	Dwarf_Files *files;
	size_t nfiles;
	if (!dwarf_attr(die, DW_AT_call_file, &attr) || dwarf_formudata(&attr, &idx) != 0 ||
	    dwarf_getsrcfiles(cudie, &files, &nfiles) != 0 || idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

static int64_t call_line(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	Dwarf_Word line;
	if (!dwarf_attr(die, DW_AT_call_line, &attr) || dwarf_formudata(&attr, &line) != 0)
		return 0;
	return (int64_t)line;
}

/* Fills loc with its frames at addr in mod, innermost first. */
void symbolize_location(Dwfl_Module *mod, struct profile_location *loc, uint64_t addr)
{
	GElf_Sym sym;
	GElf_Off off;
	const char *symname = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
	if (symname)
		loc->sym_offset = off;
	const char *file = NULL;
	int lineno = 0;
	Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
	if (line)
		file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);

	Dwarf_Addr bias;
	Dwarf_Die *cudie = dwfl_module_addrdie(mod, addr, &bias);
	Dwarf_Die *scopes = NULL;
	int nscopes = cudie ? dwarf_getscopes(cudie, addr - bias, &scopes) : 0;
	const char *dir = comp_dir(cudie);
	char path[2][PATH_MAX];
	int64_t cur_line = lineno;
	const char *cur_file = join_path(dir, file, path[0], sizeof path[0]);
	for (int i = 0; i < nscopes; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		if (tag == DW_TAG_subprogram) {
			/* the symbol table names it with its class and namespace */
			char *name = symname ? symbolize_demangle(symname) : die_function_name(&scopes[i]);
			profile_location_add_line(loc, name ? name : "??", symname, cur_file, cur_line);
			free(name);
			free(scopes);
			return;
		}
		char *name = die_function_name(&scopes[i]);
		profile_location_add_line(loc, name ? name : "??", NULL, cur_file, cur_line);
		free(name);
		cur_file = join_path(dir, call_file(cudie, &scopes[i]), path[(i + 1) % 2], sizeof path[0]);
		cur_line = call_line(&scopes[i]);
	}
	free(scopes);
	/* no subprogram scope (or no DWARF at all): the symbol table names the
	 * outermost function, at the call site of any inlined frames above */
	if (symname) {
		char *name = symbolize_demangle(symname);
		profile_location_add_line(loc, name, symname, cur_file, cur_line);
		free(name);
	}
}

