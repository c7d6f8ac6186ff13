/* modfile: finding the file a module came from, tried on this process
 * itself (its executable, its memory, files it makes). */
#include "check_main.h"
#include "base/err.h"
#include "profile/modfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where this executable's first mapping starts. */
static uint64_t exe_base(const char *exe)
{
	FILE *f = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(f);
	char line[PATH_MAX + 128];
	unsigned long long start = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		const char *path = strchr(line, '/');
		if (path && strcmp(path, exe) == 0 && sscanf(line, "%llx-", &start) == 1)
			break;
	}
	fclose(f);
	ck_assert_uint_gt(start, 0);
	return start;
}

START_TEST(test_exe_path)
{
	char exe[PATH_MAX], want[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", want, sizeof want - 1);
	ck_assert_int_gt(n, 0);
	want[n] = '\0';
	ck_assert(modfile_exe_path(getpid(), exe));
	ck_assert_str_eq(exe, want);
	ck_assert(!modfile_exe_path(999999999, exe));
}
END_TEST

START_TEST(test_memory_build_id)
{
	char exe[PATH_MAX];
	ck_assert(modfile_exe_path(getpid(), exe));
	unsigned char id[64];
	size_t len = sizeof id;
	uint64_t vaddr = 0;
	ck_assert_int_eq(modfile_memory_build_id(getpid(), exe_base(exe), id, &len, &vaddr), 0);
	ck_assert_uint_eq(len, 20); /* the linker's sha1 */
	/* where it says: in this process's memory, and in the file */
	ck_assert_int_eq(memcmp((const void *)(uintptr_t)vaddr, id, len), 0);
	FILE *f = fopen(exe, "rb");
	ck_assert_ptr_nonnull(f);
	static char file[64 << 20];
	size_t got = fread(file, 1, sizeof file, f);
	fclose(f);
	ck_assert_ptr_nonnull(memmem(file, got, id, len));

	/* not an ELF image: nothing */
	static unsigned char zeros[4096];
	len = sizeof id;
	ck_assert_int_eq(modfile_memory_build_id(getpid(), (uintptr_t)zeros, id, &len, &vaddr), -1);
	/* a build-id longer than the room for it is not cut */
	len = 8;
	ck_assert_int_eq(modfile_memory_build_id(getpid(), exe_base(exe), id, &len, &vaddr), -1);
}
END_TEST

START_TEST(test_open_mapped)
{
	char exe[PATH_MAX];
	ck_assert(modfile_exe_path(getpid(), exe));
	int fd = modfile_open_mapped(getpid(), exe, exe_base(exe));
	ck_assert_int_ge(fd, 0);
	struct stat got, want;
	ck_assert_int_eq(fstat(fd, &got), 0);
	ck_assert_int_eq(stat(exe, &want), 0);
	ck_assert(got.st_ino == want.st_ino && got.st_dev == want.st_dev);
	close(fd);
	/* nothing mapped there, and not the executable's name */
	ck_assert_int_eq(modfile_open_mapped(getpid(), "/nonexistent/lib.so", 4096), -1);
}
END_TEST

START_TEST(test_open_as_target)
{
	char dir[] = "/tmp/check_modfile.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char file[PATH_MAX], fifo[PATH_MAX], none[PATH_MAX];
	snprintf(file, sizeof file, "%s/lib.so", dir);
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	snprintf(none, sizeof none, "%s/none", dir);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs("x", f);
	fclose(f);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);

	struct err e = { 0 };
	for (int as_target = 0; as_target < 2; as_target++) {
		pid_t pid = as_target ? getpid() : 0; /* in its root, or as we see it */
		int fd = modfile_open_as_target(pid, file, &e);
		ck_assert_int_ge(fd, 0);
		close(fd);
		ck_assert_int_eq(e.kind, ERR_NONE);
		/* a FIFO would block the reader: refused, not opened for reading */
		ck_assert_int_lt(modfile_open_as_target(pid, fifo, &e), 0);
		ck_assert_int_eq(e.kind, ERR_TARGET);
		ck_assert(strstr(e.msg, "not a regular file") != NULL);
		e = (struct err){ 0 };
		ck_assert_int_lt(modfile_open_as_target(pid, none, &e), 0);
		ck_assert_int_eq(e.kind, ERR_TARGET);
		ck_assert(strstr(e.msg, none) != NULL);
		e = (struct err){ 0 };
	}
	unlink(file);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("modfile");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_exe_path);
	tcase_add_test(tc, test_memory_build_id);
	tcase_add_test(tc, test_open_mapped);
	tcase_add_test(tc, test_open_as_target);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
