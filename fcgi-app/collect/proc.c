#include "collect/proc.h"

#include "base/buf.h"
#include "base/err.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

void proc_describe(const struct target_spec *t, char *out, size_t size)
{
	if (t->pidfile)
		snprintf(out, size, "pidfile %s", t->pidfile);
	else if (t->exe)
		snprintf(out, size, "executable \"%s\"", t->exe);
	else
		snprintf(out, size, "pid %ld", t->pid);
}

int proc_read_small(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	do
		n = read(fd, out, size - 1);
	while (n < 0 && errno == EINTR);
	int saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	out[n] = '\0';
	return 0;
}

int proc_sched_exec_start(const char *text, int64_t *ns)
{
	const char *at = strstr(text, "se.exec_start");
	if (!at || !(at = strchr(at, ':')))
		return -1;
	char *end;
	long long ms = strtoll(at + 1, &end, 10);
	if (end == at + 1 || *end != '.' || ms < 0)
		return -1;
	const char *frac = end + 1;
	long long sub = strtoll(frac, &end, 10);
	if (end - frac != 6 || sub < 0)
		return -1;
	*ns = ms * 1000000LL + sub;
	return 0;
}

bool proc_has_cap(int cap)
{
	char text[4096];
	if (proc_read_small("/proc/self/status", text, sizeof text) < 0)
		return false;
	const char *p = strstr(text, "CapEff:");
	return p && (strtoull(p + 7, NULL, 16) >> cap & 1);
}

long proc_sysctl(const char *name, long dflt)
{
	char path[128], text[32];
	snprintf(path, sizeof path, "/proc/sys/%s", name);
	if (proc_read_small(path, text, sizeof text) < 0)
		return dflt;
	return strtol(text, NULL, 10);
}

/* The fields of /proc/PID/stat after the command name, which may itself
 * hold spaces and parentheses: the last ')' ends it. */
static const char *stat_fields(const char *stat)
{
	const char *p = strrchr(stat, ')');
	return p && p[1] == ' ' ? p + 2 : NULL;
}

static char proc_state(pid_t pid)
{
	/* the leader's own stat holds the process's state: /proc/PID/stat
	 * also sums every thread's times (1,003 threads: ~10% of a perf_event
	 * sampler's CPU, read every 100 ms) */
	char path[64], stat[1024];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)pid);
	if (proc_read_small(path, stat, sizeof stat) < 0)
		return 0;
	const char *f = stat_fields(stat);
	return f ? f[0] : 0;
}

int proc_alive(pid_t pid)
{
	char s = proc_state(pid);
	return s && s != 'Z' && s != 'X';
}

/* Field n (1-based, as proc(5) counts) of a stat file's text, 0 when unknown. */
static unsigned long long stat_field_of(const char *stat, int n)
{
	const char *f = stat_fields(stat); /* field 3 (state) */
	for (int i = 3; f && i < n; i++) {
		f = strchr(f, ' ');
		if (f)
			f++;
	}
	return f ? strtoull(f, NULL, 10) : 0;
}

/* Field n of a stat file, 0 when unknown. */
static unsigned long long stat_field(const char *path, int n)
{
	char stat[1024];
	if (proc_read_small(path, stat, sizeof stat) < 0)
		return 0;
	return stat_field_of(stat, n);
}

unsigned long long proc_starttime(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	return stat_field(path, 22);
}

/* FNV-1a of len bytes at p */
static uint64_t fnv(const void *p, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
	return h;
}

uint64_t proc_exec_id(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	struct buf auxv;
	buf_init(&auxv, "auxv", 64 * 1024);
	struct err ignored = { 0 };
	uint64_t h = buf_read_file(&auxv, path, &ignored) == 0 && auxv.len ? fnv(auxv.data, auxv.len) : 0;
	buf_release(&auxv);
	return h;
}

/* clock ticks (USER_HZ) in ns */
static uint64_t ticks_ns(uint64_t ticks)
{
	long hz = sysconf(_SC_CLK_TCK);
	return ticks * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
}

uint64_t proc_stime_ns(pid_t pid, pid_t tid)
{
	char path[80];
	if (tid)
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	else
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	return ticks_ns(stat_field(path, 15));
}

uint64_t proc_cpu_ns(pid_t pid)
{
	char path[64], stat[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	/* one read: utime and stime of the same moment */
	if (proc_read_small(path, stat, sizeof stat) < 0)
		return 0;
	return ticks_ns(stat_field_of(stat, 14) + stat_field_of(stat, 15));
}

static int resolve_pidfile(const char *file, pid_t self, pid_t *pid, struct err *e)
{
	char text[64];
	if (proc_read_small(file, text, sizeof text) < 0)
		return err_errno(e, ERR_TARGET, errno, "target not running: read pidfile %s", file);
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || end == text || *end || v <= 0 || v > INT_MAX)
		return err_set(e, ERR_TARGET, "target not running: pidfile %s holds no pid", file);
	if ((pid_t)v == self)
		return err_set(e, ERR_TARGET, "pidfile %s names pprof-fcgi itself (pid %ld)", file, v);
	if (!proc_alive((pid_t)v))
		return err_set(e, ERR_TARGET, "target not running: pid %ld from pidfile %s", v, file);
	*pid = (pid_t)v;
	return 0;
}

/* The names a process goes by, in the order a target-exe is matched
 * against them: the names people use for it. */
struct proc_names {
	char exe[PATH_MAX];    /* /proc/PID/exe; "" when not readable */
	char execfn[PATH_MAX]; /* the path it was executed through, symlinks kept */
	char argv0[PATH_MAX];  /* argv[0] up to its first space */
	char comm[32];         /* the kernel's name, cut to 15 bytes */
};

static const char *const name_kinds[] = {
	"its executable", "the path it was executed through", "its argv[0]", "its comm",
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* AT_EXECFN is a string at the top of the stack, read page by page since
 * reading past the stack's end fails. */
void proc_execfn(pid_t pid, char *out, size_t size)
{
	out[0] = '\0';
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	unsigned long av[256];
	ssize_t n;
	do
		n = read(fd, av, sizeof av);
	while (n < 0 && errno == EINTR);
	close(fd);
	uint64_t addr = 0;
	for (size_t i = 0; n > 0 && i + 1 < (size_t)n / sizeof *av && av[i] != AT_NULL; i += 2)
		if (av[i] == AT_EXECFN)
			addr = av[i + 1];
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	for (size_t got = 0; addr && got < size - 1;) {
		size_t chunk = (size_t)(page - (addr + got) % page);
		if (chunk > size - 1 - got)
			chunk = size - 1 - got;
		struct err ignored = { 0 };
		if (proc_read_mem(pid, addr + got, out + got, chunk, &ignored) < 0)
			break;
		if (memchr(out + got, '\0', chunk))
			return;
		got += chunk;
	}
	out[0] = '\0'; /* unreadable, or longer than a path */
}

static void read_names(pid_t pid, struct proc_names *n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	ssize_t len = readlink(path, n->exe, sizeof n->exe - 1);
	n->exe[len > 0 ? len : 0] = '\0';
	proc_strip_deleted(n->exe); /* binary replaced on disk */
	if (n->exe[0])
		proc_execfn(pid, n->execfn, sizeof n->execfn);
	else
		n->execfn[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	if (proc_read_small(path, n->argv0, sizeof n->argv0) < 0)
		n->argv0[0] = '\0';
	/* programs rewrite argv[0] to say more: "redis-server *:6379" */
	n->argv0[strcspn(n->argv0, " ")] = '\0';
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if (proc_read_small(path, n->comm, sizeof n->comm) < 0)
		n->comm[0] = '\0';
	n->comm[strcspn(n->comm, "\n")] = '\0';
}

/* The base names of n in matching order; "" for those unknown. */
static void names_list(const struct proc_names *n, const char *out[4])
{
	out[0] = base_name(n->exe);
	out[1] = base_name(n->execfn);
	out[2] = base_name(n->argv0);
	out[3] = n->comm;
}

/* Which of n's names is name (an index of name_kinds), or -1. */
static int names_match(const struct proc_names *n, const char *name)
{
	const char *names[4];
	names_list(n, names);
	for (int i = 0; i < 3; i++)
		if (names[i][0] && strcmp(names[i], name) == 0)
			return i;
	/* comm is the name cut to 15 bytes: a cut name matches only when it is
	 * all there is, the executable being unreadable */
	size_t cut = strlen(name) < 15 || n->exe[0] ? strlen(name) : 15;
	return strlen(n->comm) == cut && strncmp(n->comm, name, cut) == 0 ? 3 : -1;
}

/* Which of n's names is near name, -1 when none: one holds the other in
 * any case, as a half-remembered name ("redis") or a path does; a name
 * within name must be most of it, or "sleep" would be near "my-sleeper".
 * The name it was started as comes first: the one a person knows it by
 * (redis-server, not the redis-check-rdb it links to). */
static int names_near(const struct proc_names *n, const char *name)
{
	static const int order[] = { 1, 0, 2, 3 };
	const char *names[4];
	names_list(n, names);
	size_t len = strlen(name);
	for (int k = 0; k < 4; k++) {
		const char *s = names[order[k]];
		if ((len >= 3 && strcasestr(s, name)) ||
		    (s[0] && 2 * strlen(s) >= len && strcasestr(name, s)))
			return order[k];
	}
	return -1;
}

/* Says which process is near name, and the target-exe that finds it. */
static int err_near(struct err *e, const char *name, pid_t pid, const struct proc_names *n, int near)
{
	const char *names[4];
	names_list(n, names);
	char what[2 * PATH_MAX + 64];
	if (n->exe[0] && n->argv0[0] && strcmp(n->argv0, n->exe) != 0)
		snprintf(what, sizeof what, "runs %s started as %s", n->exe, n->argv0);
	else if (n->exe[0])
		snprintf(what, sizeof what, "runs %s", n->exe);
	else if (n->argv0[0])
		snprintf(what, sizeof what, "was started as %s", n->argv0);
	else
		snprintf(what, sizeof what, "is called %s", n->comm);
	return err_set(e, ERR_TARGET,
		       "target not running: no process named \"%s\"; pid %d %s: use target-exe = %s",
		       name, (int)pid, what, names[near]);
}

static int resolve_exe(const char *name, pid_t self, struct proc_found *f, struct err *e)
{
	DIR *d = opendir("/proc");
	if (!d)
		return err_errno(e, ERR_INTERNAL, errno, "opendir /proc");
	struct proc_names names, near_names, *n = &names, *near = &near_names; /* 25 KiB */
	int best_by = 0, near_by = -1;
	pid_t best = 0, near_pid = 0;
	unsigned long long best_start = 0;
	f->matches = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (*end || v <= 0 || (pid_t)v == self)
			continue;
		read_names((pid_t)v, n);
		int by = names_match(n, name);
		if (by < 0 && f->matches == 0 && near_by < 0 && (near_by = names_near(n, name)) >= 0) {
			near_pid = (pid_t)v;
			memcpy(near, n, sizeof *n);
		}
		if (by < 0 || !proc_alive((pid_t)v))
			continue;
		/* several matches: the one matched by the earliest name, then the
		 * oldest, as the master of a pre-forked server is, and as a
		 * restart replaces */
		unsigned long long start = proc_starttime((pid_t)v);
		if (!f->matches || by < best_by ||
		    (by == best_by && (start < best_start || (start == best_start && v < best)))) {
			best = (pid_t)v;
			best_start = start;
			best_by = by;
		}
		f->matches++;
	}
	closedir(d);
	if (near_by >= 0 && !f->matches && proc_alive(near_pid))
		return err_near(e, name, near_pid, near, near_by);
	if (!f->matches)
		return err_set(e, ERR_TARGET, "target not running: no process named \"%s\"", name);
	f->pid = best;
	f->by = name_kinds[best_by];
	return 0;
}

int proc_find(const struct target_spec *t, pid_t self, struct proc_found *f, struct err *e)
{
	*f = (struct proc_found){ .matches = 1 };
	if (t->exe)
		return resolve_exe(t->exe, self, f, e);
	if (t->pidfile)
		return resolve_pidfile(t->pidfile, self, &f->pid, e);
	if ((pid_t)t->pid == self)
		return err_set(e, ERR_TARGET, "target pid %ld is pprof-fcgi itself", t->pid);
	if (!proc_alive((pid_t)t->pid))
		return err_set(e, ERR_TARGET, "target not running: pid %ld", t->pid);
	f->pid = (pid_t)t->pid;
	return 0;
}

int proc_cmdline(pid_t pid, struct buf *out, struct err *e)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	size_t before = out->len;
	if (buf_read_file(out, path, e) < 0)
		return -1;
	if (out->len > before && out->data[out->len - 1] == '\0')
		out->data[--out->len] = '\0'; /* Go joins with NUL: none at the end */
	return 0;
}

/* The value after "key:" in /proc/PID/status text, or NULL. */
static const char *status_field(const char *status, const char *key)
{
	size_t klen = strlen(key);
	for (const char *l = status; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, key, klen) == 0 && l[klen] == ':')
			return l + klen + 1;
	return NULL;
}

int proc_voluntary_switches(pid_t pid, pid_t tid, uint64_t *n)
{
	char path[64], status[4096];
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
	if (proc_read_small(path, status, sizeof status) < 0)
		return -1;
	const char *v = status_field(status, "voluntary_ctxt_switches");
	if (!v)
		return -1;
	*n = strtoull(v, NULL, 10);
	return 0;
}

bool proc_status_value(pid_t pid, const char *key, char *out, size_t size)
{
	char path[64], status[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	const char *v = proc_read_small(path, status, sizeof status) == 0
		? status_field(status, key) : NULL;
	if (!v)
		return false;
	v += strspn(v, " \t");
	snprintf(out, size, "%.*s", (int)strcspn(v, "\n"), v);
	return true;
}

int proc_info(pid_t pid, struct proc_info *info, struct err *e)
{
	memset(info, 0, sizeof *info);
	info->pid = pid;
	char path[64], status[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (proc_read_small(path, status, sizeof status) < 0)
		return err_errno(e, ERR_TARGET, errno, "target not running: read %s", path);
	const char *v;
	if ((v = status_field(status, "Threads")))
		info->threads = strtol(v, NULL, 10);
	if ((v = status_field(status, "VmRSS")))
		info->rss_kb = strtol(v, NULL, 10);
	if ((v = status_field(status, "VmHWM")))
		info->hwm_kb = strtol(v, NULL, 10);
	if ((v = status_field(status, "VmData")))
		info->data_kb = strtol(v, NULL, 10);
	if ((v = status_field(status, "VmSize")))
		info->vm_kb = strtol(v, NULL, 10);
	if ((v = status_field(status, "Uid")))
		info->uid = (uid_t)strtoul(v, NULL, 10);
	if ((v = status_field(status, "TracerPid")))
		info->tracer = (pid_t)strtol(v, NULL, 10);
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if (proc_read_small(path, info->comm, sizeof info->comm) == 0)
		info->comm[strcspn(info->comm, "\n")] = '\0';
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(path, info->exe, sizeof info->exe - 1);
	info->exe[n > 0 ? n : 0] = '\0';
	char up[128];
	unsigned long long start = proc_starttime(pid);
	long hz = sysconf(_SC_CLK_TCK);
	if (start && hz > 0 && proc_read_small("/proc/uptime", up, sizeof up) == 0)
		info->uptime_s = strtod(up, NULL) - (double)start / (double)hz;
	return 0;
}

int proc_check_access(pid_t pid, struct err *e)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == ENOENT || errno == ESRCH)
		return err_set(e, ERR_TARGET, "target not running: pid %d", (int)pid);
	int saved = errno;
	char scope[16] = "";
	if (proc_read_small("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof scope) == 0)
		scope[strcspn(scope, "\n")] = '\0';
	struct proc_info info;
	struct err ignored = { 0 };
	proc_info(pid, &info, &ignored);
	return err_errno(e, ERR_PERMISSION, saved,
			 "ptrace not permitted on target pid %d (uid %u): pprof-fcgi runs as uid %u "
			 "without CAP_SYS_PTRACE%s%s%s; open %s",
			 (int)pid, (unsigned)info.uid, (unsigned)geteuid(),
			 scope[0] ? ", kernel.yama.ptrace_scope is " : "", scope,
			 scope[0] && strcmp(scope, "0") != 0 ? " (needs 0, or CAP_SYS_PTRACE)" : "",
			 path);
}

int proc_check_tracer(pid_t pid, pid_t self, struct err *e)
{
	/* TracerPid names the tracing thread; its process is its Tgid. A
	 * tracer that exits between the two reads (our own collector thread
	 * ending a profile, say) has let go of the target by then: read
	 * again rather than blame a tracer that is gone. */
	pid_t tracer = 0, tgid = 0;
	for (int attempt = 0; attempt < 5; attempt++) {
		struct proc_info info;
		if (proc_info(pid, &info, e) < 0)
			return -1;
		if (!info.tracer)
			return 0;
		tracer = tgid = info.tracer;
		char path[64], status[4096];
		snprintf(path, sizeof path, "/proc/%d/status", (int)tracer);
		if (proc_read_small(path, status, sizeof status) == 0) {
			const char *v = status_field(status, "Tgid");
			if (v)
				tgid = (pid_t)strtol(v, NULL, 10);
			break;
		}
	}
	if (tgid == self)
		return 0;
	char path[64], comm[32] = "?";
	snprintf(path, sizeof path, "/proc/%d/comm", (int)tgid);
	if (proc_read_small(path, comm, sizeof comm) == 0)
		comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, "pprof-fcgi") == 0)
		return err_set(e, ERR_BUSY, "target already profiled by pprof-fcgi pid %d", (int)tgid);
	return err_set(e, ERR_BUSY, "target pid %d already traced by pid %d (%s): ptrace allows one tracer",
		       (int)pid, (int)tgid, comm);
}

bool proc_strip_deleted(char *path)
{
	static const char suffix[] = " (deleted)";
	size_t n = strlen(path), k = sizeof suffix - 1;
	if (n < k || strcmp(path + n - k, suffix) != 0)
		return false;
	path[n - k] = '\0';
	return true;
}

int proc_open_mapped(pid_t pid, uint64_t start, uint64_t end)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/map_files", (int)pid);
	if (end) {
		char path[128];
		snprintf(path, sizeof path, "%s/%" PRIx64 "-%" PRIx64, dir, start, end);
		return open(path, O_RDONLY | O_CLOEXEC);
	}
	char prefix[32];
	int n = snprintf(prefix, sizeof prefix, "%" PRIx64 "-", start);
	DIR *d = opendir(dir);
	int fd = -1;
	for (struct dirent *de; d && fd < 0 && (de = readdir(d));) {
		if (strncmp(de->d_name, prefix, (size_t)n) != 0)
			continue;
		char path[sizeof dir + sizeof de->d_name + 1];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (d)
		closedir(d);
	return fd;
}

int proc_read_mem(pid_t pid, uint64_t addr, void *out, size_t len, struct err *e)
{
	struct iovec local = { out, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (got == (ssize_t)len)
		return 0;
	if (got < 0 && errno == ESRCH)
		return err_set(e, ERR_TARGET, "target not running: pid %d", (int)pid);
	if (got < 0)
		return err_errno(e, errno == EPERM ? ERR_PERMISSION : ERR_INTERNAL, errno,
				 "process_vm_readv pid %d at 0x%" PRIx64 " (%zu bytes)", (int)pid, addr, len);
	return err_set(e, ERR_INTERNAL, "process_vm_readv pid %d at 0x%" PRIx64 ": %zd of %zu bytes",
		       (int)pid, addr, got, len);
}

/* The fourth number of a Uid: or Gid: line: the filesystem id. */
static bool fs_id(const char *status, const char *key, unsigned long *id)
{
	const char *v = status_field(status, key);
	char *end;
	for (int i = 0; v && i < 4; i++, v = end) {
		*id = strtoul(v, &end, 10);
		if (end == v)
			return false;
	}
	return v != NULL;
}

bool proc_may_read(pid_t pid, uid_t owner, gid_t group, mode_t mode)
{
	char path[64], status[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	unsigned long uid, gid;
	if (proc_read_small(path, status, sizeof status) < 0 || !fs_id(status, "Uid", &uid) ||
	    !fs_id(status, "Gid", &gid))
		return false;
	if (uid == 0)
		return true;
	/* one class decides, as for the kernel: owner, else group, else other */
	if (uid == owner)
		return mode & S_IRUSR;
	bool member = gid == group;
	const char *v = status_field(status, "Groups");
	for (char *end; v && !member; v = end) {
		unsigned long g = strtoul(v, &end, 10);
		if (end == v)
			break;
		member = g == group;
	}
	return member ? mode & S_IRGRP : mode & S_IROTH;
}

int proc_maps_read(pid_t pid, struct buf *maps, uint64_t *hash, struct err *e)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	buf_init(maps, "maps", 64u << 20);
	if (buf_read_file(maps, path, e) < 0)
		return -1;
	*hash = fnv(maps->data, maps->len);
	return 0;
}

bool proc_maps_next(const char **pos, struct proc_map *m)
{
	while (**pos) {
		const char *l = *pos, *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		*pos = l + len + (nl ? 1 : 0);
		/* the fields before the path fit in far less; sscanf must not
		 * run on into the next line */
		char head[256];
		snprintf(head, sizeof head, "%.*s", (int)len, l);
		int path_at = 0;
		if (sscanf(head, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n", &m->start,
			   &m->end, m->perms, &m->offset, &path_at) < 4)
			continue;
		m->path = path_at ? l + path_at : l + len;
		m->path_len = path_at ? len - (size_t)path_at : 0;
		return true;
	}
	return false;
}
