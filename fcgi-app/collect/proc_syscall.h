/* proc_syscall: what /proc says a thread is blocked in, read without
 * stopping it, and the x86_64 syscalls the collector knows by name. */
#ifndef PF_PROC_SYSCALL_H
#define PF_PROC_SYSCALL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/* What /proc/PID/task/TID/syscall says of a thread, read without stopping
 * it: the syscall it is blocked in (nr -1: running, not in a syscall), its
 * arguments, stack pointer and program counter. line is the text as read:
 * equal lines mean the same wait. */
struct proc_syscall {
	long nr;
	uint64_t args[6];
	uint64_t sp, pc;
	char line[256];
};
int proc_syscall(pid_t pid, pid_t tid, struct proc_syscall *sc);
/* The x86_64 name of a syscall ("futex"), or NULL. */
const char *proc_syscall_name(long nr);
/* What a thread blocked in sc waits for: "read fd 7 (pipe:[1234])" for a
 * wait on a descriptor, the syscall's name otherwise ("futex"). */
void proc_wait_label(pid_t pid, const struct proc_syscall *sc, char *out, size_t size);
/* Syscalls that return EINTR to the caller when the thread is merely
 * stopped and resumed by a tracer (they are not restarted), so a thread
 * blocked in one must never be interrupted. */
bool proc_syscall_eintr_prone(long nr);

#endif
