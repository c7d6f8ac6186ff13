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
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* argv[0] of pid into out ("" when unreadable). */
static void first_arg(pid_t pid, char out[PATH_MAX])
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	out[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(out, 1, PATH_MAX - 1, f);
	out[n] = '\0';
	fclose(f);
}

/* The name a program was run by: a link's own, never its interpreter's. */
START_TEST(test_exec_name)
{
	char dir[] = "/tmp/check_modfile.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char exe[128], link[128], script[128], cmd[1024], name[PATH_MAX];
	snprintf(exe, sizeof exe, "%s/real-sleep", dir);
	snprintf(link, sizeof link, "%s/my-service", dir);
	snprintf(script, sizeof script, "%s/script", dir);
	snprintf(cmd, sizeof cmd, "cp \"$(command -v sleep)\" %s && ln -s real-sleep %s && "
		 "printf '#!/bin/sh\\nread x\\n' > %s && chmod +x %s", exe, link, script, script);
	ck_assert_int_eq(system(cmd), 0);
	const char *runs[2] = { link, script };
	for (int i = 0; i < 2; i++) {
		int in[2];
		ck_assert_int_eq(pipe(in), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			dup2(in[0], 0);
			execl(runs[i], runs[i], "100", (char *)NULL);
			_exit(127);
		}
		close(in[0]);
		/* exec'd once its argv is no longer this test's: the kernel
		 * writes argv and the auxiliary vector together */
		char self[PATH_MAX], now[PATH_MAX];
		first_arg(getpid(), self);
		for (int t = 0; t < 2000 && (first_arg(pid, now), !now[0] || !strcmp(now, self)); t++)
			usleep(1000); /* "" while the exec replaces the memory it reads */
		bool named = modfile_exec_name(pid, name);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(in[1]);
		if (i == 0) {
			ck_assert(named);
			ck_assert_str_eq(name, link);
		} else {
			ck_assert(!named); /* /bin/sh runs it: the script is not its executable */
		}
	}
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
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
	tcase_add_test(tc, test_exec_name);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
