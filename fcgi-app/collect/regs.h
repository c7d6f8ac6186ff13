/* regs: a thread's user registers as an unwinder needs them, whoever read
 * them (ptrace's GETREGS today, a perf_event sample's REGS_USER next). In
 * libunwind's x86_64 numbering: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip. */
#ifndef PF_REGS_H
#define PF_REGS_H

#include <stdint.h>

#define REGS_N 17
#define REGS_SP 7
#define REGS_IP 16

struct regs {
	uint64_t r[REGS_N];
};

#endif
