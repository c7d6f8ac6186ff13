#include "selfcheck.h"

#include "base/err.h"
#include "collect/heap.h"
#include "collect/proc.h"
#include "collect/sampler_perf.h"
#include "config.h"
#include "ctx.h"
#include "profile/symbolize.h"
#include "profile/symbolize_fetch.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* capability bits (linux/capability.h) */
#define CAP_SYS_PTRACE_BIT 19
#define CAP_SYS_ADMIN_BIT 21
#define CAP_SYSLOG_BIT 34
#define CAP_PERFMON_BIT 38

struct report {
	FILE *out;
	int failed;
};

/* One line: level ("ok", "note", "warn", "FAIL"), what it is about, what. */
static void say(struct report *r, const char *level, const char *topic, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void say(struct report *r, const char *level, const char *topic, const char *fmt, ...)
{
	fprintf(r->out, "%-4s %s: ", level, topic);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	if (strcmp(level, "FAIL") == 0)
		r->failed = 1;
}

static bool has_cap(int bit)
{
	char v[64];
	return proc_status_value(getpid(), "CapEff", v, sizeof v) &&
	       (strtoull(v, NULL, 16) >> bit & 1);
}

/* The first line of /proc/sys/NAME into out; "" when unreadable. */
static const char *sysctl_value(const char *name, char *out, size_t size)
{
	char path[128];
	snprintf(path, sizeof path, "/proc/sys/%s", name);
	if (proc_read_small(path, out, size) < 0)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static pid_t check_target(struct report *r, const struct target_spec *t)
{
	char what[PATH_MAX + 64];
	proc_describe(t, what, sizeof what);
	struct proc_found f = { 0 };
	struct err e = { 0 };
	if (proc_find(t, getpid(), &f, &e) < 0) {
		say(r, "FAIL", "target", "%s: %s", what, e.msg);
		return 0;
	}
	struct proc_info info;
	struct err ignored = { 0 };
	proc_info(f.pid, &info, &ignored);
	char why[256] = "";
	if (f.by)
		snprintf(why, sizeof why, ", matched by %s%s", f.by,
			 f.matches > 1 ? " (several processes match: the oldest of those matched by "
					 "the earliest name)" : "");
	else
		snprintf(why, sizeof why, ", %s", t->pidfile ? "read from the pidfile"
						      : t->exe ? "its executable" : "as target-pid gives it");
	say(r, "ok", "target", "%s%spid %d (%s, %s)%s", t->pid ? "" : what, t->pid ? "" : ": ",
	    (int)f.pid, info.comm, info.exe[0] ? info.exe : "executable not readable", why);
	return f.pid;
}

static void check_ptrace(struct report *r, pid_t pid)
{
	char scope[16];
	sysctl_value("kernel/yama/ptrace_scope", scope, sizeof scope);
	struct err e = { 0 };
	if (proc_check_access(pid, &e) < 0)
		say(r, "FAIL", "ptrace", "%s", e.msg);
	else
		say(r, "ok", "ptrace", "allowed on pid %d (pprof-fcgi uid %u, CAP_SYS_PTRACE %s, "
		    "kernel.yama.ptrace_scope %s)", (int)pid, (unsigned)geteuid(),
		    has_cap(CAP_SYS_PTRACE_BIT) ? "yes" : "no", scope[0] ? scope : "absent");
	e = (struct err){ 0 };
	if (proc_check_tracer(pid, getpid(), &e) < 0)
		say(r, "FAIL", "tracer", "%s", e.msg);
	else
		say(r, "ok", "tracer", "no other process (a debugger, another pprof-fcgi) traces it");
}

/* Reported only: the ptrace sampler needs neither perf events nor kernel
 * symbols. */
static void check_perf(struct report *r)
{
	char par[16], kptr[16];
	sysctl_value("kernel/perf_event_paranoid", par, sizeof par);
	bool perfmon = has_cap(CAP_PERFMON_BIT) || has_cap(CAP_SYS_ADMIN_BIT);
	long level = par[0] ? strtol(par, NULL, 10) : 3;
	say(r, "note", "perf events", "kernel.perf_event_paranoid %s, CAP_PERFMON %s: %s",
	    par[0] ? par : "unreadable", perfmon ? "yes" : "no",
	    perfmon ? "allowed, kernel frames included"
	    : level >= 3 ? "not allowed (3 and above is Debian's: no perf events without "
			   "CAP_PERFMON; set it to 2, or give CAP_PERFMON)"
	    : level == 2 ? "allowed for the user-space stacks of a process pprof-fcgi may trace; "
			   "kernel frames need 1 or less, or CAP_PERFMON"
			 : "allowed, kernel frames included");
	sysctl_value("kernel/kptr_restrict", kptr, sizeof kptr);
	bool syslog = has_cap(CAP_SYSLOG_BIT);
	say(r, "note", "kernel symbols", "kernel.kptr_restrict %s, CAP_SYSLOG %s: kernel addresses "
	    "in /proc/kallsyms are %s", kptr[0] ? kptr : "unreadable", syslog ? "yes" : "no",
	    strcmp(kptr, "0") == 0 || (strcmp(kptr, "1") == 0 && syslog) ? "readable"
	    : strcmp(kptr, "1") == 0 ? "hidden (1: readable with CAP_SYSLOG)" : "hidden");
}

/* Reported only: the perf_event sampler's ring buffers for this target
 * (perf-layout), and what bounds them. */
static void check_layout(struct report *r, const struct config *cfg, pid_t pid)
{
	if (strcmp(cfg->perf_layout, "auto") != 0 && strcmp(cfg->perf_layout, "per-cpu") != 0 &&
	    strcmp(cfg->perf_layout, "per-thread") != 0) {
		say(r, "FAIL", "perf layout", "perf-layout %s: not auto, per-cpu or per-thread",
		    cfg->perf_layout);
		return;
	}
	struct proc_info pi;
	struct err e = { 0 };
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	struct rlimit nofile, memlock;
	char mlock_kb[16];
	if (proc_info(pid, &pi, &e) < 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0 ||
	    getrlimit(RLIMIT_MEMLOCK, &memlock) < 0)
		return;
	sysctl_value("kernel/perf_event_mlock_kb", mlock_kb, sizeof mlock_kb);
	bool per_thread = strcmp(cfg->perf_layout, "per-thread") == 0 ||
			  (strcmp(cfg->perf_layout, "auto") == 0 && perf_thread_too_many(pi.threads, ncpu));
	if (!per_thread)
		say(r, "note", "perf layout", "perf-layout %s: a ring buffer per CPU, %ld threads x %ld "
		    "CPUs = %ld events of the open-file limit %llu", cfg->perf_layout, pi.threads, ncpu,
		    pi.threads * ncpu, (unsigned long long)nofile.rlim_max);
	else
		say(r, "note", "perf layout", "perf-layout %s: a ring buffer per thread (%s), up to "
		    "260 KiB of locked memory each: kernel.perf_event_mlock_kb %s per CPU, then "
		    "RLIMIT_MEMLOCK %lld KiB (without CAP_IPC_LOCK); threads past it are not sampled",
		    cfg->perf_layout, strcmp(cfg->perf_layout, "auto") == 0
		    ? "threads x CPUs events would pass the open-file limit" : "as configured",
		    mlock_kb[0] ? mlock_kb : "unreadable",
		    memlock.rlim_cur == RLIM_INFINITY ? -1LL : (long long)(memlock.rlim_cur / 1024));
}

static void check_seccomp(struct report *r, pid_t pid)
{
	static const struct { const char *who; bool self; } whose[] = {
		{ "the target", false }, { "pprof-fcgi", true },
	};
	for (size_t i = 0; i < 2; i++) {
		pid_t p = whose[i].self ? getpid() : pid;
		char mode[16] = "", filters[16] = "";
		if (!proc_status_value(p, "Seccomp", mode, sizeof mode)) {
			say(r, "note", "seccomp", "%s: not shown by this kernel", whose[i].who);
			continue;
		}
		proc_status_value(p, "Seccomp_filters", filters, sizeof filters);
		if (strcmp(mode, "0") == 0)
			say(r, "ok", "seccomp", "%s: no filter", whose[i].who);
		else if (whose[i].self)
			say(r, "warn", "seccomp", "pprof-fcgi runs under seccomp (mode %s, %s filters): "
			    "if they forbid ptrace, process_vm_readv or pidfd_open, profiles fail "
			    "(a unit's SystemCallFilter= must allow them)", mode,
			    filters[0] ? filters : "?");
		else
			say(r, "ok", "seccomp", "the target filters its own system calls (mode %s, %s "
			    "filters): pprof-fcgi makes none in it", mode, filters[0] ? filters : "?");
	}
}

static void say_module(void *arg, const struct symbolize_debug *d)
{
	struct report *r = arg;
	if (d->named && d->debug_file && strcmp(d->debug_file, d->file) != 0)
		say(r, "ok", "debug info", "%s: symbols from %s", d->file, d->debug_file);
	else if (d->named)
		say(r, "ok", "debug info", "%s: symbols", d->file);
	else
		say(r, "warn", "debug info", "%s (build-id %s): no symbols, its frames are unnamed; "
		    "to name them %s", d->file, d->build_id ? d->build_id : "none", d->remedy);
}

static void check_modules(struct report *r, struct ctx *ctx, pid_t pid)
{
	struct err e = { 0 };
	if (symbolizer_attach(ctx->symbolizer, pid, &e) < 0) {
		say(r, "warn", "debug info", "%s", e.msg);
		return;
	}
	symbolize_modules(ctx->symbolizer, say_module, r);
}

/* Whether debug files are fetched, and where they are kept. */
static void check_debuginfod(struct report *r, const char *urls)
{
	char cache[PATH_MAX];
	symbolize_fetch_cache_dir(cache, sizeof cache);
	if (urls)
		say(r, "ok", "debuginfod", "DEBUGINFOD_URLS=%s: the debug files of modules without "
		    "symbols are fetched in the background (never inside a request) into %s, and "
		    "the next profile names their frames", urls, cache);
	else
		say(r, "note", "debuginfod", "DEBUGINFOD_URLS is not set: no debug file is fetched; "
		    "set it in pprof-fcgi's environment (the units keep the files in %s)", cache);
}

static void check_agent(struct report *r, struct ctx *ctx, pid_t pid)
{
	const char *mode = ctx->cfg->agent_load ? ctx->cfg->agent_load : "on-request";
	struct heap_snapshot s = { 0 };
	struct err e = { 0 };
	if (ctx_heap_read(ctx, pid, &s, &e) < 0)
		say(r, "warn", "agent", "%s", e.msg);
	else if (!s.present && strcmp(mode, "at-start") == 0)
		say(r, "note", "agent", "not loaded yet: agent-load = at-start loads it into the "
		    "running target within %ld s of pprof-fcgi's start (and after the target execs "
		    "or is replaced)", ctx->cfg->agent_load_poll);
	else if (!s.present)
		say(r, "note", "agent", "not loaded: /heap and /allocs are empty, the rest works; start "
		    "the target with LD_PRELOAD=<libdir>/libpprof-agent.so for them%s (agent-load = %s)",
		    strcmp(mode, "never") ? ", or POST MOUNT/agent" : "", mode);
	else
		say(r, "ok", "agent", "loaded (version %u), one sample per %lld bytes allocated, "
		    "%llu stacks (agent-load = %s)", (unsigned)s.h.version, (long long)s.h.rate,
		    (unsigned long long)s.h.nbuckets, mode);
	heap_snapshot_release(&s);
}

static void check_socket(struct report *r, const char *listen)
{
	if (!listen) {
		say(r, "ok", "socket", "none in the config: the web server hands pprof-fcgi its "
		    "socket as fd 0 (lighttpd's bin-path, spawn-fcgi)");
		return;
	}
	if (strncmp(listen, "unix:", 5) != 0) {
		say(r, "ok", "socket", "TCP %s", listen);
		return;
	}
	const char *path = listen + 5;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		slash[slash == dir] = '\0'; /* "/x.sock" is in "/" */
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		say(r, "FAIL", "socket", "%s: its directory %s does not exist: create it (mkdir -p %s, "
		    "owned by the user pprof-fcgi runs as), or run the systemd unit, whose "
		    "RuntimeDirectory= makes it", path, dir, dir);
		return;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		say(r, "FAIL", "socket", "%s: pprof-fcgi (uid %u) may not create it in %s", path,
		    (unsigned)geteuid(), dir);
		return;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = strlen(path) < sizeof sa.sun_path ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
	bool listened = false;
	if (fd >= 0) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
		listened = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
	}
	if (listened)
		say(r, "note", "socket", "%s: a process listens on it already (a pprof-fcgi running?)",
		    path);
	else
		say(r, "ok", "socket", "%s: can be made in %s; the web server connects to it", path, dir);
}

int selfcheck_run(const struct config *cfg, FILE *out)
{
	struct report r = { out, 0 };
	/* as the service does: no download inside a check either */
	char *urls = symbolize_fetch_take_env();
	say(&r, "note", "config", "%s", cfg->config_file ? cfg->config_file
				       : "no config file: the options only");
	struct ctx ctx = {
		.cfg = cfg,
		.target = { .pid = cfg->target_pid, .pidfile = cfg->target_pidfile,
			    .exe = cfg->target_exe },
		.self = getpid(),
		.symbolizer = symbolizer_new(),
	};
	symbolizer_set_debug_root(ctx.symbolizer, cfg->debug_dir);
	symbolizer_set_debuginfod(ctx.symbolizer, urls);
	pthread_mutex_init(&ctx.sym_lock, NULL);
	pid_t pid = check_target(&r, &ctx.target);
	if (pid) {
		check_ptrace(&r, pid);
		check_seccomp(&r, pid);
	}
	check_perf(&r);
	if (pid)
		check_layout(&r, cfg, pid);
	check_debuginfod(&r, urls);
	if (pid) {
		check_modules(&r, &ctx, pid);
		check_agent(&r, &ctx, pid);
	}
	check_socket(&r, cfg->listen);
	pthread_mutex_destroy(&ctx.sym_lock);
	symbolizer_free(ctx.symbolizer);
	free(urls);
	fprintf(out, "%s\n", r.failed ? "pprof-fcgi --check: something the config asks for cannot work"
				      : "pprof-fcgi --check: all the config asks for can work");
	return r.failed;
}
