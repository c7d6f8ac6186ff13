/* The symbolizer on this test's own known functions, by live address. */
#include "base/buf.h"
#include "check_main.h"
#include "base/err.h"
#include "profile/profile.h"
#include "profile/symbolize.h"

#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Not instrumented by sanitizers, so that their checks do not take the
 * inlined lines' place in a sanitizer build. */
#define PLAIN __attribute__((no_sanitize("address", "undefined")))

__attribute__((noinline)) int known_outer_function(int x);

PLAIN static inline __attribute__((always_inline)) int known_inlined_helper(int x)
{
	return x * 3 + 1; /* LINE_INLINED */
}

PLAIN __attribute__((noinline)) int known_outer_function(int x)
{
	volatile int y = known_inlined_helper(x); /* LINE_CALL */
	return y;
}

static int line_of(const char *marker)
{
	FILE *f = fopen(__FILE__, "r");
	ck_assert_ptr_nonnull(f);
	char line[512];
	int n = 0, found = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		if (strstr(line, marker) && !strstr(line, "line_of(")) {
			found = n;
			break;
		}
	}
	fclose(f);
	return found;
}

/* A symbolizer attached to this process. */
static struct symbolizer *self_symbolizer(void)
{
	struct symbolizer *s = symbolizer_new();
	struct err e = { 0 };
	ck_assert_msg(symbolizer_attach(s, getpid(), &e) == 0, "attach: %s", e.msg);
	return s;
}

/* An empty profile of one sample type, for locations to be added. */
static void samples_profile(struct profile *p)
{
	profile_init(p);
	profile_add_type(p, "samples", "count");
}

START_TEST(test_demangle)
{
	char *d = symbolize_demangle("_ZN3foo3barEv");
	ck_assert_str_eq(d, "foo::bar()");
	free(d);
	d = symbolize_demangle("pthread_cond_wait@@GLIBC_2.3.2");
	ck_assert_str_eq(d, "pthread_cond_wait");
	free(d);
	d = symbolize_demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE");
	ck_assert_str_eq(d, "core::ptr::drop_in_place");
	free(d);
	d = symbolize_demangle("_Znotmangled");
	ck_assert_str_eq(d, "_Znotmangled");
	free(d);
}
END_TEST

START_TEST(test_own_functions)
{
	struct symbolizer *s = symbolizer_new();
	struct err e = { 0 };
	ck_assert_int_eq(symbolizer_attach(s, getpid(), &e), 0);
	ck_assert_int_eq(symbolizer_attach(s, getpid(), &e), 0); /* unchanged: cached */

	struct buf name;
	buf_init(&name, "name", 1024);
	ck_assert_int_eq(symbolize_name(s, (uint64_t)(uintptr_t)&known_outer_function, &name, &e), 0);
	ck_assert_str_eq(buf_cstr(&name), "known_outer_function");
	buf_release(&name);

	struct profile p;
	samples_profile(&p);
	/* every address of known_outer_function until one lands in the inlined code */
	size_t first = p.nlocations;
	for (uint64_t a = (uintptr_t)&known_outer_function;
	     a < (uintptr_t)&known_outer_function + 32; a++)
		profile_location(&p, a);
	size_t libc = profile_location(&p, (uint64_t)(uintptr_t)&getpid);
	size_t nowhere = profile_location(&p, 0x10);
	ck_assert_int_eq(symbolize_profile(s, &p, &e), 0);

	int inlined_line = line_of("LINE_INLINED");
	int call_line = line_of("LINE_CALL");
	int saw_inline = 0, in_function = 0;
	for (size_t i = first; i < first + 32; i++) {
		struct profile_location *l = &p.locations[i];
		ck_assert_uint_ne(l->mapping, 0);
		if (l->nlines == 0 || strcmp(l->lines[l->nlines - 1].function, "known_outer_function"))
			break; /* past the end of the function */
		in_function++;
		ck_assert_ptr_nonnull(strstr(l->lines[l->nlines - 1].file, "check_symbolize.c"));
		if (l->nlines == 2) {
			ck_assert_str_eq(l->lines[0].function, "known_inlined_helper");
			ck_assert_int_eq(l->lines[0].line, inlined_line);
			ck_assert_ptr_nonnull(strstr(l->lines[0].file, "check_symbolize.c"));
			/* the caller is at the call site, not at the callee's line */
			ck_assert_int_eq(l->lines[1].line, call_line);
			saw_inline = 1;
		}
	}
	ck_assert_int_ge(in_function, 4);
	ck_assert_msg(saw_inline, "no address of known_outer_function showed the inlined frame");
	struct profile_location *lc = &p.locations[libc];
	ck_assert_uint_ge(lc->nlines, 1);
	ck_assert_ptr_nonnull(strstr(lc->lines[lc->nlines - 1].function, "getpid"));
	ck_assert_uint_eq(p.locations[nowhere].nlines, 0);
	ck_assert_uint_eq(p.locations[nowhere].mapping, 0);

	/* mappings: file names and GNU build-ids */
	ck_assert_uint_ge(p.nmappings, 2);
	int saw_self = 0;
	for (size_t i = 0; i < p.nmappings; i++) {
		ck_assert_ptr_nonnull(p.mappings[i].build_id);
		ck_assert_uint_ge(strlen(p.mappings[i].build_id), 16);
		if (strstr(p.mappings[i].file, "check_symbolize"))
			saw_self = 1;
	}
	ck_assert(saw_self);
	profile_release(&p);
	symbolizer_free(s);
}
END_TEST

/* The program's own mapping comes first, as in Go's profiles (pprof
 * takes the first for the main binary), even when a library's location
 * comes first; the others keep the order of their first location. */
START_TEST(test_main_mapping_first)
{
	struct symbolizer *s = self_symbolizer();
	struct err e = { 0 };
	struct profile p;
	samples_profile(&p);
	size_t libc = profile_location(&p, (uint64_t)(uintptr_t)&getpid);
	size_t own = profile_location(&p, (uint64_t)(uintptr_t)&known_outer_function);
	ck_assert_int_eq(symbolize_profile(s, &p, &e), 0);
	ck_assert_uint_eq(p.nmappings, 2);
	ck_assert_ptr_nonnull(strstr(p.mappings[0].file, "check_symbolize"));
	ck_assert_uint_eq(p.locations[own].mapping, 1);
	ck_assert_uint_eq(p.locations[libc].mapping, 2);
	ck_assert_ptr_null(strstr(p.mappings[1].file, "check_symbolize"));
	profile_release(&p);

	/* no location in the program: the libraries' order alone */
	samples_profile(&p);
	libc = profile_location(&p, (uint64_t)(uintptr_t)&getpid);
	ck_assert_int_eq(symbolize_profile(s, &p, &e), 0);
	ck_assert_uint_eq(p.nmappings, 1);
	ck_assert_uint_eq(p.locations[libc].mapping, 1);
	profile_release(&p);
	symbolizer_free(s);
}
END_TEST

/* This executable as the loader placed it: the first object listed. */
struct self_image {
	uint64_t bias, lo, hi, offset;
	int seen;
};

static int self_image(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct self_image *m = data;
	m->bias = info->dlpi_addr;
	m->lo = UINT64_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < m->lo) {
			m->lo = a;
			m->offset = ph->p_offset;
		}
		if (a + ph->p_memsz > m->hi)
			m->hi = a + ph->p_memsz;
	}
	m->seen = 1;
	return 1; /* the first is the executable */
}

/* A library unloaded: this executable stands for it, described as the
 * agent records it, at the made-up addresses the heap reader gives. */
/* s names the address fn of the unloaded module m known_outer_function */
static void assert_named(struct symbolizer *s, const struct symbolize_module *m, uint64_t fn)
{
	struct profile p;
	struct err e = { 0 };
	profile_init(&p);
	size_t named = profile_location(&p, fn);
	ck_assert_msg(symbolize_unloaded(s, &p, m, &e) == 1, "%s: %s", m->file, e.msg);
	const struct profile_location *l = &p.locations[named];
	ck_assert_uint_ge(l->nlines, 1);
	ck_assert_str_eq(l->lines[l->nlines - 1].function, "known_outer_function");
	profile_release(&p);
}

START_TEST(test_unloaded)
{
	struct self_image img = { 0 };
	dl_iterate_phdr(self_image, &img);
	ck_assert(img.seen);
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ck_assert_int_gt(len, 0);
	exe[len] = '\0';

	/* its build-id, as the live symbolizer reads it */
	struct symbolizer *s = self_symbolizer();
	struct err e = { 0 };
	struct profile live;
	samples_profile(&live);
	size_t at = profile_location(&live, (uint64_t)(uintptr_t)&known_outer_function);
	ck_assert_int_eq(symbolize_profile(s, &live, &e), 0);
	const char *hex = live.mappings[live.locations[at].mapping - 1].build_id;
	ck_assert_ptr_nonnull(hex);
	unsigned char id[64];
	size_t idlen = strlen(hex) / 2;
	ck_assert_uint_le(idlen, sizeof id);
	for (size_t i = 0; i < idlen; i++)
		sscanf(hex + 2 * i, "%2hhx", &id[i]);

	uint64_t start = 0x8000000000000000ULL | 3ULL << 40;
	struct symbolize_module m = {
		.start = start, .limit = start + (img.hi - img.lo), .lo = img.lo,
		.bias = img.bias, .offset = img.offset, .file = exe,
		.build_id = id, .build_id_size = idlen,
	};
	uint64_t fn = start + ((uintptr_t)&known_outer_function - img.lo);
	struct profile p;
	samples_profile(&p);
	size_t named = profile_location(&p, fn);
	size_t other = profile_location(&p, 0x1000); /* not in m: left alone */
	ck_assert_int_eq(symbolize_unloaded(s, &p, &m, &e), 1);
	const struct profile_location *l = &p.locations[named];
	ck_assert_uint_ge(l->nlines, 1);
	ck_assert_str_eq(l->lines[l->nlines - 1].function, "known_outer_function");
	ck_assert_uint_ne(l->mapping, 0);
	const struct profile_mapping *pm = &p.mappings[l->mapping - 1];
	ck_assert_uint_eq(pm->start, start);
	ck_assert_str_eq(pm->file, exe);
	ck_assert_str_eq(pm->build_id, hex);
	ck_assert(pm->has_functions);
	ck_assert_uint_eq(p.locations[other].mapping, 0);
	ck_assert_uint_eq(p.locations[other].nlines, 0);
	profile_release(&p);

	/* the same build loaded elsewhere before (reloaded at another
	 * address): named from the file opened already */
	struct symbolize_module moved = m;
	moved.lo += 0x40000000;
	moved.bias += 0x40000000;
	assert_named(s, &moved, fn);

	/* a name from the target's memory opens nothing but a regular file
	 * its user may read: not a FIFO (which would block), not a copy of
	 * this very file that the target (nobody, when run by root) could not
	 * read; the same copy once anyone may read it is named */
	char dir[] = "/tmp/check-symbolize-XXXXXX", fifo[64], locked[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	snprintf(locked, sizeof locked, "%s/locked", dir);
	FILE *in = fopen(exe, "rb"), *out = fopen(locked, "wb");
	ck_assert(in && out);
	char chunk[65536];
	for (size_t got; (got = fread(chunk, 1, sizeof chunk, in)) > 0;)
		ck_assert_uint_eq(fwrite(chunk, 1, got, out), got);
	fclose(in);
	fclose(out);
	ck_assert_int_eq(chmod(locked, geteuid() == 0 ? 0600 : 0200), 0);
	pid_t target = check_spawn_nobody();
	m.pid = target;
	/* a symbolizer of its own: one that opened the file by this build-id
	 * already names from that, whatever file is named now */
	struct symbolizer *fresh = symbolizer_new();
	const char *refused[2][2] = { { fifo, "not a regular file" },
				      { locked, "not readable by the target's user" } };
	for (int i = 0; i < 2; i++) {
		m.file = refused[i][0];
		profile_init(&p);
		named = profile_location(&p, fn);
		e = (struct err){ 0 };
		ck_assert_int_eq(symbolize_unloaded(fresh, &p, &m, &e), -1);
		/* open fails first when not run by root */
		ck_assert_msg(strstr(e.msg, refused[i][1]) || strstr(e.msg, "Permission denied"),
			      "%s: %s", refused[i][0], e.msg);
		ck_assert_uint_eq(p.locations[named].nlines, 0);
		profile_release(&p);
	}
	/* no file at the name, but a debug file by build-id: named from that */
	char id_dir[128], debug[256], cmd[PATH_MAX + 512];
	snprintf(id_dir, sizeof id_dir, "%s/.build-id/%.2s", dir, hex);
	snprintf(debug, sizeof debug, "%s/%s.debug", id_dir, hex + 2);
	snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s", id_dir, exe, debug);
	ck_assert_int_eq(system(cmd), 0);
	symbolizer_set_debug_root(fresh, dir);
	m.file = "/nonexistent/libgone.so";
	assert_named(fresh, &m, fn);
	symbolizer_free(fresh);
	fresh = symbolizer_new(); /* the debug file is kept: start over */

	ck_assert_int_eq(chmod(locked, 0604), 0);
	m.file = locked;
	assert_named(fresh, &m, fn);
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	symbolizer_free(fresh);
	unlink(fifo);
	unlink(locked);
	unlink(debug);
	rmdir(id_dir);
	snprintf(cmd, sizeof cmd, "rmdir %s/.build-id", dir);
	ck_assert_int_eq(system(cmd), 0);
	rmdir(dir);
	m.file = exe;
	m.pid = 0;

	/* another build at that path: not named from it, and said why */
	id[0] ^= 0xff;
	samples_profile(&p);
	named = profile_location(&p, fn);
	e = (struct err){ 0 };
	ck_assert_int_eq(symbolize_unloaded(s, &p, &m, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "not the file that was loaded"));
	ck_assert_uint_eq(p.locations[named].nlines, 0);
	ck_assert_uint_ne(p.locations[named].mapping, 0); /* its file is still shown */
	ck_assert(!p.mappings[0].has_functions);
	profile_release(&p);

	/* no build-id recorded: nothing to check a file against */
	m.build_id_size = 0;
	profile_init(&p);
	named = profile_location(&p, fn);
	e = (struct err){ 0 };
	ck_assert_int_eq(symbolize_unloaded(s, &p, &m, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "no build-id"));
	profile_release(&p);
	profile_release(&live);
	symbolizer_free(s);
}
END_TEST

START_TEST(test_gone_process)
{
	struct symbolizer *s = symbolizer_new();
	struct err e = { 0 };
	ck_assert_int_eq(symbolizer_attach(s, 0x7ffffff0, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TARGET);
	symbolizer_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("symbolize");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_demangle);
	tcase_add_test(tc, test_own_functions);
	tcase_add_test(tc, test_main_mapping_first);
	tcase_add_test(tc, test_unloaded);
	tcase_add_test(tc, test_gone_process);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
