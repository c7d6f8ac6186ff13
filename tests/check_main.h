/* The main every unit test program shares: run one suite, exit non-zero
 * on any failure. */
#ifndef PF_CHECK_MAIN_H
#define PF_CHECK_MAIN_H

#include <check.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_MAIN(make_suite)                                              \
	int main(void)                                                      \
	{                                                                   \
		SRunner *sr = srunner_create(make_suite());                 \
		srunner_run_all(sr, CK_NORMAL);                             \
		int failed = srunner_ntests_failed(sr);                     \
		srunner_free(sr);                                           \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;                \
	}

/* Writes text to path (created or truncated). */
static inline void check_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* A child that holds still as user and group 65534 (nobody, nogroup),
 * with 65533 as a supplementary group, once it has become them, when run
 * by root; as this user otherwise. The caller kills and reaps it. */
static inline pid_t check_spawn_nobody(void)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		gid_t extra = 65533;
		if (geteuid() == 0 && (setgroups(1, &extra) || setgid(65534) || setuid(65534)))
			_exit(1);
		char c = 1;
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	char c;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

/* Starts a test target (targets/cpu-split...) with args and waits for its
 * "ready PID" line. The caller kills and reaps it. */
static inline pid_t check_spawn_ready(const char *path)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	char line[64] = "";
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	ck_assert_msg(strncmp(line, "ready ", 6) == 0, "%s said: %s", path, line);
	fclose(f);
	return pid;
}

#endif
