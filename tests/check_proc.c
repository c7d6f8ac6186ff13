#include "base/buf.h"
#include "check_main.h"
#include "base/err.h"
#include "collect/proc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <unistd.h>

/* A child running a copy of sleep under a name no other process has. */
static char dir[] = "/tmp/check_proc.XXXXXX";
static char exe[256];

/* The copy of sleep, run through file (NULL: itself) with argv[0] argv0. */
static pid_t spawn_as(const char *file, const char *argv0);

static pid_t spawn_sleeper(void)
{
	return spawn_as(NULL, NULL);
}

static void make_exe(void)
{
	if (exe[0])
		return;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(exe, sizeof exe, "%s/pf-check-sleeper", dir);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "cp \"$(command -v sleep)\" %s", exe);
	ck_assert_int_eq(system(cmd), 0);
}

static pid_t spawn_as(const char *file, const char *argv0)
{
	make_exe();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl(file ? file : exe, argv0 ? argv0 : exe, "100", "0.5", (char *)NULL);
		_exit(127);
	}
	/* exec is done once /proc shows the new executable and its arguments:
	 * exe changes first, argv a moment later */
	char path[64], link[512], cmd[64];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	snprintf(cmd, sizeof cmd, "/proc/%d/cmdline", (int)pid);
	for (int i = 0; i < 20000; i++) {
		ssize_t n = readlink(path, link, sizeof link - 1);
		if (n > 0 && (link[n] = '\0', strcmp(link, exe) == 0)) {
			FILE *f = fopen(cmd, "r");
			int c = f ? fgetc(f) : EOF;
			if (f)
				fclose(f);
			if (c != EOF)
				break;
		}
		usleep(100);
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* the kernel's classes: owner, else group, else other; root reads all */
/* proc_find's pid alone */
static int resolve(const struct target_spec *t, pid_t self, pid_t *pid, struct err *e)
{
	struct proc_found f;
	if (proc_find(t, self, &f, e) < 0)
		return -1;
	*pid = f.pid;
	return 0;
}

/* /proc/PID/task/TID/sched's exec_start, "ms.nnnnnn", in ns */
START_TEST(test_sched_exec_start)
{
	int64_t ns = 0;
	ck_assert_int_eq(proc_sched_exec_start("cat (28047, #threads: 1)\n-------\n"
					       "se.exec_start                                :"
					       "      43742871.763301\nse.vruntime : 9843.534272\n",
					       &ns), 0);
	ck_assert_int_eq(ns, 43742871763301LL);
	ck_assert_int_eq(proc_sched_exec_start("se.exec_start : 0.000017\n", &ns), 0);
	ck_assert_int_eq(ns, 17);
	ck_assert_int_eq(proc_sched_exec_start("se.vruntime : 1.000000\n", &ns), -1);
	ck_assert_int_eq(proc_sched_exec_start("se.exec_start : 12\n", &ns), -1);
	ck_assert_int_eq(proc_sched_exec_start("se.exec_start : 12.34\n", &ns), -1);
	ck_assert_int_eq(proc_sched_exec_start("se.exec_start", &ns), -1);
	ck_assert_int_eq(proc_sched_exec_start("", &ns), -1);
}
END_TEST

START_TEST(test_may_read)
{
	ck_assert(!proc_may_read(0x7ffffff0, 0, 0, 0444)); /* gone */
	if (geteuid() != 0) {
		uid_t u = geteuid();
		gid_t g = getegid();
		ck_assert(proc_may_read(getpid(), u, g, 0400));
		ck_assert(!proc_may_read(getpid(), u, g, 0044)); /* the owner's class decides */
		ck_assert(proc_may_read(getpid(), u + 1, g, 0040));
		return;
	}
	ck_assert(proc_may_read(getpid(), 1, 1, 0));
	pid_t c = check_spawn_nobody();
	ck_assert(proc_may_read(c, 65534, 0, 0400));
	ck_assert(!proc_may_read(c, 65534, 65534, 0044));
	ck_assert(proc_may_read(c, 0, 65534, 0040));  /* its group */
	ck_assert(proc_may_read(c, 0, 65533, 0040));  /* a supplementary one */
	ck_assert(!proc_may_read(c, 0, 7, 0040));
	ck_assert(proc_may_read(c, 0, 7, 0004));
	ck_assert(!proc_may_read(c, 0, 0, 0660));
	reap(c);
}
END_TEST

START_TEST(test_resolve_pid)
{
	pid_t child = spawn_sleeper(), got = 0;
	struct err e = { 0 };
	struct target_spec t = { .pid = child };
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), 0);
	ck_assert_int_eq(got, child);
	struct target_spec me = { .pid = getpid() };
	ck_assert_int_eq(resolve(&me, getpid(), &got, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TARGET);
	kill(child, SIGKILL);
	/* a zombie is not a running target */
	for (int i = 0; i < 20000 && proc_alive(child); i++)
		usleep(100);
	err_clear(&e);
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TARGET);
	char want[64];
	snprintf(want, sizeof want, "target not running: pid %d", (int)child);
	ck_assert_str_eq(e.msg, want);
	reap(child);
}
END_TEST

START_TEST(test_resolve_pidfile)
{
	pid_t child = spawn_sleeper(), got = 0;
	char pidfile[300], text[32];
	snprintf(pidfile, sizeof pidfile, "%s/x.pid", dir);
	struct target_spec t = { .pidfile = pidfile };
	struct err e = { 0 };
	unlink(pidfile);
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TARGET);
	ck_assert_ptr_nonnull(strstr(e.msg, pidfile));
	ck_assert_ptr_nonnull(strstr(e.msg, "no such file or directory"));
	snprintf(text, sizeof text, "%d\n", (int)child);
	check_write_file(pidfile, text);
	err_clear(&e);
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), 0);
	ck_assert_int_eq(got, child);
	check_write_file(pidfile, "garbage");
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "holds no pid"));
	snprintf(text, sizeof text, "%d", (int)getpid());
	check_write_file(pidfile, text);
	err_clear(&e);
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "pprof-fcgi itself"));
	reap(child);
	unlink(pidfile);
}
END_TEST

START_TEST(test_resolve_exe)
{
	pid_t older = spawn_sleeper(), newer = spawn_sleeper(), got = 0;
	struct target_spec t = { .exe = "pf-check-sleeper" };
	struct err e = { 0 };
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), 0);
	ck_assert_int_eq(got, older); /* the oldest of several */
	reap(older);
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), 0);
	ck_assert_int_eq(got, newer); /* a restart is followed */
	reap(newer);
	ck_assert_int_eq(resolve(&t, getpid(), &got, &e), -1);
	ck_assert_str_eq(e.msg, "target not running: no process named \"pf-check-sleeper\"");
}
END_TEST

/* a target-exe is the executable's name, the name of the symlink it was
 * executed through, argv[0]'s first word, or comm; names unique to this
 * test process, as others may run the same test at once */
START_TEST(test_resolve_exe_names)
{
	make_exe();
	char link[300], alias[64], argv0[64], other[64];
	snprintf(alias, sizeof alias, "pf-alias-%d", (int)getpid());
	snprintf(link, sizeof link, "%s/%s", dir, alias);
	unlink(link);
	ck_assert_int_eq(symlink(exe, link), 0);
	snprintf(other, sizeof other, "pf-other-%d", (int)getpid());
	pid_t linked = spawn_as(link, other);
	snprintf(argv0, sizeof argv0, "pf-argv-%d *:6379", (int)getpid());
	pid_t renamed = spawn_as(NULL, argv0);

	struct proc_found f;
	struct err e = { 0 };
	struct target_spec t = { .exe = alias };
	ck_assert_int_eq(proc_find(&t, getpid(), &f, &e), 0);
	ck_assert_int_eq(f.pid, linked);
	ck_assert_int_eq(f.matches, 1);
	ck_assert_str_eq(f.by, "the path it was executed through");
	char execfn[PATH_MAX];
	proc_execfn(linked, execfn, sizeof execfn);
	ck_assert_str_eq(execfn, link); /* the link's own name, not the file's */
	proc_execfn(0x7ffffff0, execfn, sizeof execfn);
	ck_assert_str_eq(execfn, ""); /* gone */
	t.exe = other;
	ck_assert_int_eq(proc_find(&t, getpid(), &f, &e), 0);
	ck_assert_int_eq(f.pid, linked);
	ck_assert_str_eq(f.by, "its argv[0]");
	argv0[strcspn(argv0, " ")] = '\0';
	t.exe = argv0; /* the first word of a rewritten argv[0] */
	ck_assert_int_eq(proc_find(&t, getpid(), &f, &e), 0);
	ck_assert_int_eq(f.pid, renamed);
	ck_assert_str_eq(f.by, "its argv[0]");
	/* a name the program gave itself: only comm has it */
	char comm[16];
	snprintf(comm, sizeof comm, "pf-c-%d", (int)getpid());
	int ready[2];
	ck_assert_int_eq(pipe(ready), 0);
	pid_t named = fork();
	ck_assert_int_ge(named, 0);
	if (named == 0) {
		prctl(PR_SET_NAME, comm);
		if (write(ready[1], "", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	close(ready[1]);
	t.exe = comm;
	ck_assert_int_eq(proc_find(&t, getpid(), &f, &e), 0);
	ck_assert_int_eq(f.pid, named);
	ck_assert_str_eq(f.by, "its comm");
	reap(named);

	/* a near name: the error says which process and what to configure */
	char near[80], want[600];
	snprintf(near, sizeof near, "%s-old", alias);
	t.exe = near;
	ck_assert_int_eq(proc_find(&t, getpid(), &f, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TARGET);
	snprintf(want, sizeof want,
		 "target not running: no process named \"%s\"; pid %d runs %s started as %s: "
		 "use target-exe = %s", near, (int)linked, exe, other, alias);
	ck_assert_str_eq(e.msg, want);
	reap(linked);
	reap(renamed);
	unlink(link);
	/* both gone: nothing near remains */
	err_clear(&e);
	ck_assert_int_eq(proc_find(&t, getpid(), &f, &e), -1);
	snprintf(want, sizeof want, "target not running: no process named \"%s\"", near);
	ck_assert_str_eq(e.msg, want);
}
END_TEST

START_TEST(test_cmdline_info_access)
{
	pid_t child = spawn_sleeper();
	struct buf b;
	buf_init(&b, "cmdline", 4096);
	struct err e = { 0 };
	ck_assert_int_eq(proc_cmdline(child, &b, &e), 0);
	char want[400];
	int n = snprintf(want, sizeof want, "%s%c100%c0.5", exe, 0, 0);
	ck_assert_uint_eq(b.len, (size_t)n); /* no final NUL, as Go */
	ck_assert_int_eq(memcmp(b.data, want, (size_t)n), 0);
	buf_release(&b);

	struct proc_info info;
	ck_assert_int_eq(proc_info(child, &info, &e), 0);
	ck_assert_int_eq(info.threads, 1);
	ck_assert_str_eq(info.comm, "pf-check-sleepe"); /* the kernel keeps 15 bytes */
	ck_assert_str_eq(info.exe, exe);
	ck_assert_int_eq(info.tracer, 0);
	ck_assert(info.uptime_s >= 0 && info.uptime_s < 60);
	ck_assert_int_gt(info.rss_kb, 0);
	ck_assert_int_ge(info.hwm_kb, info.rss_kb);
	ck_assert_int_gt(info.data_kb, 0);
	ck_assert_int_ge(info.vm_kb, info.rss_kb);
	/* the test runs as the child's user: access is allowed */
	ck_assert_int_eq(proc_check_access(child, &e), 0);
	reap(child);
	ck_assert_int_eq(proc_check_access(child, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TARGET);
}
END_TEST

START_TEST(test_describe)
{
	char out[128];
	struct target_spec a = { .pid = 7 }, b = { .pidfile = "/run/x.pid" }, c = { .exe = "svc" };
	proc_describe(&a, out, sizeof out);
	ck_assert_str_eq(out, "pid 7");
	proc_describe(&b, out, sizeof out);
	ck_assert_str_eq(out, "pidfile /run/x.pid");
	proc_describe(&c, out, sizeof out);
	ck_assert_str_eq(out, "executable \"svc\"");
}
END_TEST

START_TEST(test_strip_deleted)
{
	char a[] = "/usr/bin/svc (deleted)", b[] = "/usr/bin/svc", c[] = "/x (deleted)/y";
	ck_assert(proc_strip_deleted(a));
	ck_assert_str_eq(a, "/usr/bin/svc");
	ck_assert(!proc_strip_deleted(b));
	ck_assert_str_eq(b, "/usr/bin/svc");
	ck_assert(!proc_strip_deleted(c)); /* only at the end */
}
END_TEST

START_TEST(test_open_mapped)
{
	/* this test's own executable: its first mapping, by start alone and by
	 * start and end, is the same file as /proc/self/exe */
	FILE *f = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(f);
	char line[512], self_exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	ck_assert_int_gt(n, 0);
	self_exe[n] = '\0';
	unsigned long long start = 0, end = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, self_exe) && sscanf(line, "%llx-%llx", &start, &end) == 2)
			break;
	fclose(f);
	ck_assert_uint_gt(start, 0);
	struct stat want, got;
	ck_assert_int_eq(stat(self_exe, &want), 0);
	for (int by_end = 0; by_end < 2; by_end++) {
		int fd = proc_open_mapped(getpid(), start, by_end ? end : 0);
		if (fd < 0 && errno == EPERM)
			return; /* without CAP_SYS_ADMIN map_files cannot be opened */
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fstat(fd, &got), 0);
		ck_assert(got.st_ino == want.st_ino && got.st_dev == want.st_dev);
		close(fd);
	}
	ck_assert_int_eq(proc_open_mapped(getpid(), 1, 0), -1); /* nothing there */
}
END_TEST

START_TEST(test_maps_next)
{
	const char *text =
		"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/svc\n"
		"7f2c4a000000-7f2c4a021000 rw-p 00000000 00:00 0 \n"
		"garbage\n"
		"7ffd3f9e5000-7ffd3f9e7000 r-xp 00000000 00:00 0                  [vdso]\n"
		"7f2c4b000000-7f2c4b001000 r--p 00001000 08:02 9 /lib/a b.so (deleted)";
	struct proc_map m;
	const char *l = text;
	ck_assert(proc_maps_next(&l, &m));
	ck_assert_uint_eq(m.start, 0x400000);
	ck_assert_uint_eq(m.end, 0x452000);
	ck_assert_str_eq(m.perms, "r-xp");
	ck_assert_uint_eq(m.path_len, strlen("/usr/bin/svc"));
	ck_assert(strncmp(m.path, "/usr/bin/svc\n", 13) == 0);
	ck_assert(proc_maps_next(&l, &m)); /* anonymous: no path, not the next line's */
	ck_assert_uint_eq(m.path_len, 0);
	ck_assert_str_eq(m.perms, "rw-p");
	ck_assert(proc_maps_next(&l, &m)); /* the garbage line is skipped */
	ck_assert_uint_eq(m.start, 0x7ffd3f9e5000);
	ck_assert(m.path_len == 6 && strncmp(m.path, "[vdso]", 6) == 0);
	ck_assert(proc_maps_next(&l, &m)); /* no final newline; spaces in the path */
	ck_assert_uint_eq(m.offset, 0x1000);
	ck_assert_str_eq(m.path, "/lib/a b.so (deleted)");
	ck_assert(!proc_maps_next(&l, &m));
	ck_assert(!proc_maps_next(&l, &m));
}
END_TEST

START_TEST(test_maps_read)
{
	struct buf m1, m2, m3;
	struct err e = { 0 };
	uint64_t h1 = 0, h2 = 0, h3 = 0;
	ck_assert_int_eq(proc_maps_read(getpid(), &m1, &h1, &e), 0);
	ck_assert(strstr(buf_cstr(&m1), "[stack]") != NULL);
	ck_assert_int_eq(proc_maps_read(getpid(), &m2, &h2, &e), 0);
	/* the same text, the same hash (the allocator may map between reads,
	 * ASan's does: compare only what was read) */
	if (strcmp(buf_cstr(&m1), buf_cstr(&m2)) == 0)
		ck_assert(h1 == h2);
	/* a new mapping changes it */
	void *p = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(p != MAP_FAILED);
	ck_assert_int_eq(proc_maps_read(getpid(), &m3, &h3, &e), 0);
	ck_assert(h3 != h2);
	munmap(p, 3 * 4096);
	buf_release(&m1);
	buf_release(&m2);
	buf_release(&m3);
	ck_assert_int_lt(proc_maps_read(999999999, &m1, &h1, &e), 0);
	buf_release(&m1);
	ck_assert_int_ne(e.kind, ERR_NONE);
}
END_TEST

/* A blocking wait of a thread is a voluntary switch: the child answers
 * only once the kernel shows this thread asleep in its read, so the read
 * surely waited (under ASan the child could answer first, and no wait
 * happened). */
START_TEST(test_voluntary_switches)
{
	pid_t self = getpid(), tid = gettid();
	uint64_t before, after;
	ck_assert_int_eq(proc_voluntary_switches(self, tid, &before), 0);
	int data[2];
	ck_assert_int_eq(pipe(data), 0);
	pid_t child = fork();
	if (child == 0) {
		char path[64], stat[512];
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)self, (int)tid);
		for (int t = 0; t < 100000; t++) { /* 10 s at most */
			const char *st = proc_read_small(path, stat, sizeof stat) == 0
				? strrchr(stat, ')') : NULL;
			if (st && st[1] == ' ' && st[2] == 'S')
				_exit(write(data[1], "x", 1) == 1 ? 0 : 1);
			usleep(100);
		}
		_exit(2);
	}
	char c;
	ck_assert_int_eq(read(data[0], &c, 1), 1);
	int status;
	waitpid(child, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(proc_voluntary_switches(self, tid, &after), 0);
	ck_assert_uint_ge(after - before, 1);
	ck_assert_int_eq(proc_voluntary_switches(self, 999999999, &after), -1);
	close(data[0]), close(data[1]);
}
END_TEST

START_TEST(test_status_value)
{
	char v[32], want[32];
	snprintf(want, sizeof want, "%d", (int)getpid());
	ck_assert(proc_status_value(getpid(), "Pid", v, sizeof v));
	ck_assert_str_eq(v, want); /* the tab after the colon dropped */
	ck_assert(!proc_status_value(getpid(), "NoSuchKey", v, sizeof v));
	ck_assert(!proc_status_value(getpid(), "Pi", v, sizeof v)); /* a whole key only */
	ck_assert(!proc_status_value(0x7ffffff0, "Pid", v, sizeof v));
}
END_TEST

START_TEST(test_read_small)
{
	char out[8];
	ck_assert_int_eq(proc_read_small("/proc/self/comm", out, sizeof out), 0);
	ck_assert_uint_eq(strlen(out), sizeof out - 1); /* cut, NUL-terminated */
	errno = 0;
	ck_assert_int_eq(proc_read_small("/proc/self/no-such-file", out, sizeof out), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sched_exec_start);
	tcase_add_test(tc, test_resolve_pid);
	tcase_add_test(tc, test_resolve_pidfile);
	tcase_add_test(tc, test_resolve_exe);
	tcase_add_test(tc, test_resolve_exe_names);
	tcase_add_test(tc, test_cmdline_info_access);
	tcase_add_test(tc, test_describe);
	tcase_add_test(tc, test_strip_deleted);
	tcase_add_test(tc, test_open_mapped);
	tcase_add_test(tc, test_may_read);
	tcase_add_test(tc, test_maps_next);
	tcase_add_test(tc, test_maps_read);
	tcase_add_test(tc, test_read_small);
	tcase_add_test(tc, test_voluntary_switches);
	tcase_add_test(tc, test_status_value);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
