/* proc_syscall: /proc/PID/task/TID/syscall, and syscalls by number. */
#include "collect/proc_syscall.h"

#include "collect/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int proc_syscall(pid_t pid, pid_t tid, struct proc_syscall *sc)
{
	char path[64];
	memset(sc, 0, sizeof *sc);
	snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	if (proc_read_small(path, sc->line, sizeof sc->line) < 0)
		return -1;
	sc->line[strcspn(sc->line, "\n")] = '\0';
	char *p = sc->line, *end;
	sc->nr = strtol(p, &end, 10);
	if (end == p)
		return -1;
	if (sc->nr < 0) {
		/* "-1 SP PC": in user space; "running": on a CPU now */
		if (*end == ' ') {
			sc->sp = strtoull(end, &end, 16);
			sc->pc = strtoull(end, &end, 16);
		}
		sc->nr = -1;
		return 0;
	}
	for (int i = 0; i < 6; i++)
		sc->args[i] = strtoull(end, &end, 16);
	sc->sp = strtoull(end, &end, 16);
	sc->pc = strtoull(end, &end, 16);
	return 0;
}

static const struct {
	long nr;
	const char *name;
	bool eintr;
} syscalls[] = {
	{ 0, "read", false }, { 1, "write", false }, { 7, "poll", false },
	{ 17, "pread64", false }, { 19, "readv", false }, { 20, "writev", false },
	{ 23, "select", false }, { 24, "sched_yield", false }, { 34, "pause", false },
	{ 35, "nanosleep", false }, { 43, "accept", false }, { 42, "connect", false },
	{ 44, "sendto", false }, { 45, "recvfrom", false }, { 46, "sendmsg", false },
	{ 47, "recvmsg", false }, { 61, "wait4", false }, { 65, "semop", true },
	{ 69, "msgsnd", true }, { 70, "msgrcv", true }, { 74, "fsync", false },
	{ 128, "rt_sigtimedwait", true }, { 130, "rt_sigsuspend", false },
	{ 202, "futex", false }, { 208, "io_getevents", true }, { 220, "semtimedop", true },
	{ 219, "restart_syscall", false }, /* an interrupted sleep, resumed */
	{ 230, "clock_nanosleep", false }, { 232, "epoll_wait", true },
	{ 242, "mq_timedsend", true }, { 243, "mq_timedreceive", true }, { 247, "waitid", false },
	{ 257, "openat", false }, { 270, "pselect6", false }, { 271, "ppoll", false },
	{ 281, "epoll_pwait", true }, { 288, "accept4", false }, { 299, "recvmmsg", true },
	{ 333, "io_pgetevents", true }, { 426, "io_uring_enter", true }, { 441, "epoll_pwait2", true },
};

const char *proc_syscall_name(long nr)
{
	for (size_t i = 0; i < sizeof syscalls / sizeof syscalls[0]; i++)
		if (syscalls[i].nr == nr)
			return syscalls[i].name;
	return NULL;
}

void proc_wait_label(pid_t pid, const struct proc_syscall *sc, char *out, size_t size)
{
	const char *name = proc_syscall_name(sc->nr);
	static const long fd_calls[] = { 0, 17, 19, 43, 45, 47, 232, 281, 288, 299, 441 };
	for (size_t i = 0; name && i < sizeof fd_calls / sizeof fd_calls[0]; i++) {
		if (sc->nr != fd_calls[i])
			continue;
		char path[64], target[128];
		snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, (int)sc->args[0]);
		ssize_t n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = '\0';
		snprintf(out, size, "%s fd %d%s%.40s%s", name, (int)sc->args[0], n > 0 ? " (" : "",
			 target, n > 0 ? ")" : "");
		return;
	}
	if (name)
		snprintf(out, size, "%s", name);
	else
		snprintf(out, size, "syscall %ld", sc->nr);
}

bool proc_syscall_eintr_prone(long nr)
{
	for (size_t i = 0; i < sizeof syscalls / sizeof syscalls[0]; i++)
		if (syscalls[i].nr == nr)
			return syscalls[i].eintr;
	return false;
}
