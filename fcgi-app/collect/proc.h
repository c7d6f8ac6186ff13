/* proc: what /proc says about the target, read without stopping it.
 * Resolves the configured target to a pid per request, so a pidfile or an
 * executable name follows the service across restarts. */
#ifndef PF_PROC_H
#define PF_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;
struct err;

/* Exactly one of pid, pidfile, exe is set. */
struct target_spec {
	long pid;
	const char *pidfile;
	const char *exe;
};

struct proc_info {
	pid_t pid;
	uid_t uid;
	char exe[PATH_MAX];  /* the executable, or "" when not readable */
	char comm[32];       /* the kernel's short name */
	long threads;
	double uptime_s;     /* since the process started */
	long rss_kb;         /* VmRSS */
	long hwm_kb;         /* VmHWM: the most RSS has been */
	long data_kb;        /* VmData: private data, heap included */
	long vm_kb;          /* VmSize: all mapped */
	pid_t tracer;        /* TracerPid of the main thread, 0 when none */
};

/* Describes the target for messages: "pid 42", "pidfile /run/x.pid", ... */
void proc_describe(const struct target_spec *t, char *out, size_t size);

/* How proc_find found the target, for saying so. */
struct proc_found {
	pid_t pid;
	int matches;    /* processes named target-exe; 1 for a pid or pidfile */
	const char *by; /* which of its names matched ("its argv[0]"), NULL but for exe */
};

/* The live pid of the target (ERR_TARGET naming it when none runs; pprof-fcgi
 * itself is never a target), and how it was found. A target-exe is
 * matched, in this order, against
 * the base name of the executable (/proc/PID/exe), of the path it was
 * executed through (AT_EXECFN: a symlink's own name), of the first word of
 * argv[0] (which programs rewrite: "redis-server *:6379"), then comm; of
 * several processes the one matched earliest in that order, then the
 * oldest. When none matches, the error names a process whose name is near,
 * and the target-exe that finds it. */
int proc_find(const struct target_spec *t, pid_t self, struct proc_found *f, struct err *e);

/* The path pid was executed through (AT_EXECFN of its auxiliary vector:
 * a symlink's own name, relative when it was run so) into out; "" when
 * unreadable (the same ptrace access as /proc/PID/exe). */
void proc_execfn(pid_t pid, char *out, size_t size);

/* pid's start time in clock ticks since boot, 0 when unknown: with the
 * pid, it names one process (a pid is reused, never with the same start). */
unsigned long long proc_starttime(pid_t pid);
/* What tells pid's programs apart across an exec (which keeps the pid and
 * start time): a hash of its auxiliary vector, whose stack, vDSO and
 * AT_RANDOM addresses each exec randomizes; 0 when unreadable. */
uint64_t proc_exec_id(pid_t pid);
/* Thread tid's (0: the whole process's) time in the kernel so far (stat's
 * stime, to the clock tick), 0 when unknown. */
uint64_t proc_stime_ns(pid_t pid, pid_t tid);
/* The process's CPU time so far, exited threads' included (stat's utime +
 * stime, each to the clock tick), 0 when unknown. */
uint64_t proc_cpu_ns(pid_t pid);

/* Whether pid is a live (not zombie) process. */
int proc_alive(pid_t pid);

/* /proc/PID/cmdline as Go's /cmdline gives it: NUL-separated, no final NUL. */
int proc_cmdline(pid_t pid, struct buf *out, struct err *e);

int proc_info(pid_t pid, struct proc_info *info, struct err *e);

/* The value of key ("CapEff", "Seccomp") in /proc/PID/status into out,
 * blanks around it dropped; false when pid or key is not there. */
bool proc_status_value(pid_t pid, const char *key, char *out, size_t size);

/* ERR_PERMISSION, naming what is missing, when this process may not trace
 * pid. Uses the kernel's own ptrace access check (opening /proc/PID/mem),
 * which touches nothing in the target. */
int proc_check_access(pid_t pid, struct err *e);


/* How many times thread tid of pid gave up its CPU to wait (its status's
 * voluntary_ctxt_switches): each wait that blocked, once; -1 when gone. */
int proc_voluntary_switches(pid_t pid, pid_t tid, uint64_t *n);

/* Reads a small /proc file into out (NUL-terminated, cut at size - 1
 * bytes), retrying on EINTR; -1 with errno set. */
int proc_read_small(const char *path, char *out, size_t size);

/* se.exec_start of a /proc/PID/task/TID/sched text, in ns of its CPU's
 * run-queue clock: for a thread not running, when it last left its CPU
 * (the kernel's clock of that CPU, not CLOCK_MONOTONIC); -1 when the text
 * has no such line (a kernel without CONFIG_SCHED_DEBUG). */
int proc_sched_exec_start(const char *text, int64_t *ns);

#define PROC_CAP_SYS_ADMIN 21
#define PROC_CAP_SYSLOG 34
#define PROC_CAP_PERFMON 38
/* Whether this process holds capability cap (CapEff of /proc/self/status). */
bool proc_has_cap(int cap);
/* A number from a /proc/sys file ("kernel/perf_event_paranoid"), or dflt
 * when it cannot be read. */
long proc_sysctl(const char *name, long dflt);

/* /proc/PID/maps into maps (64 MiB at most), and a hash of its text: an
 * equal hash means nothing was mapped or unmapped since. */
int proc_maps_read(pid_t pid, struct buf *maps, uint64_t *hash, struct err *e);

/* One line of /proc/PID/maps. */
struct proc_map {
	uint64_t start, end, offset;
	char perms[8];      /* "r-xp" */
	const char *path;   /* into the text, path_len bytes: a file, "[vdso]", ... */
	size_t path_len;    /* 0: an anonymous mapping */
};

/* The line of maps text at *pos into m, *pos moved past it; lines that do
 * not parse are skipped. false at the end of the text. */
bool proc_maps_next(const char **pos, struct proc_map *m);

/* Drops the " (deleted)" the kernel appends to the path of a file that
 * was replaced or removed since it was mapped; true when it was there. */
bool proc_strip_deleted(char *path);

/* Opens the file mapped at start in pid as it is mapped, even when it was
 * replaced or deleted on disk since (/proc/PID/map_files; needs
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE to open): the mapping
 * start-end, or with end 0 whichever mapping begins at start. -1 when it
 * cannot be opened. */
int proc_open_mapped(pid_t pid, uint64_t start, uint64_t end);

/* Copies len bytes at addr of pid's memory into out, without stopping it
 * (process_vm_readv: the same permission as ptrace). */
int proc_read_mem(pid_t pid, uint64_t addr, void *out, size_t len, struct err *e);
/* ERR_BUSY when another process already traces pid (a debugger, or a
 * second pprof-fcgi); threads of self are fine. */
int proc_check_tracer(pid_t pid, pid_t self, struct err *e);

/* Whether pid's user may read a file of this owner, group and mode, as
 * the kernel decides for its filesystem uid and gids (Uid, Gid, Groups of
 * /proc/PID/status; uid 0 reads everything); false when pid is gone. */
bool proc_may_read(pid_t pid, uid_t owner, gid_t group, mode_t mode);

#endif
