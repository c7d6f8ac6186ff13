#include "collect/inject.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "collect/proc.h"
#include "collect/proc_syscall.h"
#include "collect/target.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#define PAGE 4096
#define STACK_ROOM (64 * 1024)
/* The frame goes this far below the stack pointer: past the red zone (128
 * bytes) and the return address the trampoline leaves through. */
#define FRAME_GAP 512
/* ret $RET_SKIP: the return address sits RET_SKIP + 8 bytes below the
 * thread's stack pointer, below its red zone, so that nothing it may still
 * use is written. */
#define RET_SKIP 256
#define IDLE_SLEEP_NS 50000

/* The data page (rw once the trampoline ran its mprotect). */
enum {
	D_SEQ = 0,       /* the call to run (pprof-fcgi); all ones: leave */
	D_FN = 8,        /* fn and its six arguments */
	D_ARGS = 16,
	D_RESULT = 64,   /* rax of the last call (trampoline) */
	D_DONE = 72,     /* the seq it ran last (trampoline) */
	D_STATE = 80,    /* 1 in the trampoline, 2 left (trampoline) */
	D_SLEEP = 88,    /* struct timespec: how long each idle wait lasts */
	D_MASK = 104,    /* all signals */
	D_CLOSE_SEQ = 112, /* the call whose result is a descriptor to close (pprof-fcgi) */
	D_CLOSE_FD = 120,  /* that descriptor, closed on leaving; -1 none (trampoline) */
	D_NOW = 128,     /* struct timespec: CLOCK_MONOTONIC as it last read it (trampoline) */
	D_WAIT = 144,    /* struct timespec: D_SLEEP's copy each wait consumes (trampoline) */
	D_SCRATCH = 2048,
};
#define STATE_IN 1
#define STATE_LEFT 2

#if defined(__x86_64__)
/* The trampoline, entered with rsp at a frame of four words: the data
 * page, where its return address was put, the XSAVE area's size, and how
 * long (ns) it waits idle for a call before it leaves on its own: a
 * CLOCK_MONOTONIC deadline (rbp) from its entry and from the end of each
 * call, not a count of its 50 us waits, which a loaded machine stretches.
 * It is copied into the target, never run here. */
__asm__(
	".pushsection .rodata\n"
	".balign 16\n"
	".globl pf_inject_tramp\n.hidden pf_inject_tramp\n"
	"pf_inject_tramp:\n"
	"pushfq\n push %rax\n push %rbx\n push %rcx\n push %rdx\n push %rsi\n push %rdi\n"
	"push %rbp\n push %r8\n push %r9\n push %r10\n push %r11\n push %r12\n push %r13\n"
	"push %r14\n push %r15\n"
	"mov %rsp, %rbx\n"               /* the saved registers; the frame at 128(%rbx) */
	"cld\n"
	"sub 144(%rbx), %rsp\n"           /* the XSAVE area, 64-byte aligned */
	"and $-64, %rsp\n"
	"mov %rsp, %r12\n"
	"xor %eax, %eax\n"                /* XSAVE leaves XCOMP_BV: zero the header */
	"mov %rax, 512(%r12)\n mov %rax, 520(%r12)\n mov %rax, 528(%r12)\n mov %rax, 536(%r12)\n"
	"mov %rax, 544(%r12)\n mov %rax, 552(%r12)\n mov %rax, 560(%r12)\n mov %rax, 568(%r12)\n"
	"mov $-1, %eax\n mov $-1, %edx\n xsave64 (%r12)\n"
	"mov 128(%rbx), %r14\n"           /* the data page: make it writable */
	"mov %r14, %rdi\n mov $4096, %esi\n mov $3, %edx\n mov $10, %eax\n syscall\n"
	"test %rax, %rax\n jnz 9f\n"
	"sub $16, %rsp\n mov %rsp, %r13\n" /* block every signal, the old mask at (%r13) */
	"mov $2, %edi\n lea 104(%r14), %rsi\n mov %r13, %rdx\n mov $8, %r10d\n mov $14, %eax\n syscall\n"
	"movq $1, 80(%r14)\n"
	"xor %r15d, %r15d\n"              /* the seq run last */
	"call 6f\n add 152(%rbx), %rax\n mov %rax, %rbp\n" /* the idle deadline */
	"1: mov (%r14), %rax\n"
	"cmp $-1, %rax\n je 3f\n"
	"cmp %r15, %rax\n jne 2f\n"
	"call 6f\n cmp %rbp, %rax\n jge 3f\n"
	/* ppoll of no descriptor to wait: an interrupted nanosleep, futex
	 * or poll with a timeout (a SIGSTOP is enough) rewrites the restart
	 * block, which an interrupted timed wait of the thread's own is
	 * resumed by on leaving; ppoll is restarted without it. It writes
	 * the time left back, so each wait gets a fresh copy */
	"mov 88(%r14), %rax\n mov %rax, 144(%r14)\n mov 96(%r14), %rax\n mov %rax, 152(%r14)\n"
	"xor %edi, %edi\n xor %esi, %esi\n lea 144(%r14), %rdx\n xor %r10d, %r10d\n mov $8, %r8d\n"
	"mov $271, %eax\n syscall\n"
	"jmp 1b\n"
	"2: mov %rax, %r15\n"
	"mov 8(%r14), %r11\n mov 16(%r14), %rdi\n mov 24(%r14), %rsi\n mov 32(%r14), %rdx\n"
	"mov 40(%r14), %rcx\n mov 48(%r14), %r8\n mov 56(%r14), %r9\n"
	"call *%r11\n"                    /* rsp is 16-byte aligned here */
	"mov %rax, 64(%r14)\n"
	"cmp 112(%r14), %r15\n jne 4f\n mov %rax, 120(%r14)\n"
	"4: mov %r15, 72(%r14)\n"
	"call 6f\n add 152(%rbx), %rax\n mov %rax, %rbp\n"
	"jmp 1b\n"
	/* leaving, with pprof-fcgi there or not: close the descriptor (an
	 * int: its upper half is undefined) */
	"3: mov 120(%r14), %edi\n test %edi, %edi\n js 5f\n mov $3, %eax\n syscall\n"
	"5: movq $2, 80(%r14)\n"
	"mov $2, %edi\n mov %r13, %rsi\n xor %edx, %edx\n mov $8, %r10d\n mov $14, %eax\n syscall\n"
	"9: mov $-1, %eax\n mov $-1, %edx\n xrstor64 (%r12)\n"
	"mov %rbx, %rsp\n"
	"pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %r11\n pop %r10\n pop %r9\n pop %r8\n"
	"pop %rbp\n pop %rdi\n pop %rsi\n pop %rdx\n pop %rcx\n pop %rbx\n pop %rax\n popfq\n"
	"mov 8(%rsp), %rsp\n"             /* the thread's stack pointer - 8 - RET_SKIP */
	"ret $256\n"
	/* CLOCK_MONOTONIC in ns into rax (clock_gettime, at D_NOW) */
	"6: mov $228, %eax\n mov $1, %edi\n lea 128(%r14), %rsi\n syscall\n"
	"imul $1000000000, 128(%r14), %rax\n add 136(%r14), %rax\n ret\n"
	".globl pf_inject_tramp_end\n.hidden pf_inject_tramp_end\n"
	"pf_inject_tramp_end:\n"
	".popsection\n");
extern const unsigned char pf_inject_tramp[], pf_inject_tramp_end[];
#endif

void inject_pause(const char *pause_at, const char *step)
{
	size_t n = strlen(step);
	if (!pause_at || strncmp(pause_at, step, n) != 0 || (pause_at[n] && pause_at[n] != ':'))
		return;
	fprintf(stderr, "agent load: paused at %s\n", step);
	fflush(stderr);
	int fd = pause_at[n] ? open(pause_at + n + 1, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		char c;
		while (read(fd, &c, 1) < 0 && errno == EINTR)
			;
		close(fd);
		return;
	}
	for (;;)
		pause();
}

static bool lendable_syscall(long nr)
{
	return nr == SYS_futex || nr == SYS_nanosleep || nr == SYS_clock_nanosleep;
}

/* Whether the stack mapping holding sp has STACK_ROOM below sp (the main
 * thread's [stack] grows on demand). */
static bool stack_room(pid_t pid, uint64_t sp)
{
	struct buf maps;
	buf_init(&maps, "maps", 64 << 20);
	struct err ignored = { 0 };
	bool ok = false;
	uint64_t hash;
	if (proc_maps_read(pid, &maps, &hash, &ignored) == 0) {
		const char *pos = buf_cstr(&maps);
		struct proc_map m;
		while (proc_maps_next(&pos, &m)) {
			if (sp < m.start || sp >= m.end)
				continue;
			ok = (m.path_len == 7 && memcmp(m.path, "[stack]", 7) == 0) ||
			     sp - m.start >= STACK_ROOM;
			break;
		}
	}
	buf_release(&maps);
	return ok;
}

int inject_pick_thread(pid_t pid, const pid_t *skip, size_t nskip, pid_t *tid, struct err *e)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return err_errno(e, ERR_TARGET, errno, "open %s", path);
	pid_t found = 0;
	int seen = 0;
	for (struct dirent *de; !found && (de = readdir(d));) {
		pid_t t = (pid_t)atoi(de->d_name);
		struct proc_syscall sc;
		if (t <= 0)
			continue;
		seen++;
		bool skipped = false;
		for (size_t i = 0; i < nskip; i++)
			skipped |= skip[i] == t;
		if (skipped)
			continue;
		if (proc_syscall(pid, t, &sc) == 0 && lendable_syscall(sc.nr) && stack_room(pid, sc.sp))
			found = t;
	}
	closedir(d);
	if (!found)
		return err_set(e, ERR_BUSY, "no thread of pid %d can lend itself to the load now "
			       "(of %d, none is blocked in futex or nanosleep with 64 KiB of stack "
			       "free): retry later", (int)pid, seen);
	*tid = found;
	return 0;
}

#if defined(__x86_64__)

#define MAX_HELD 8

/* What inject_enter keeps while the thread is seized. */
struct seized {
	pid_t pid, tid;
	int64_t deadline_ns;
	int held[MAX_HELD];   /* signals that came meanwhile: delivered at detach */
	int nheld;
	bool running;         /* a stop was asked for and not seen in time */
};

/* How long a stop asked for and missed is still waited for before the
 * thread is let go: it comes at the thread's next return to user space. */
#define SETTLE_NS (5 * 1000000000LL)

/* Waits for the thread's next stop of kind want (TARGET_INTERRUPTED, or
 * TARGET_SIGNAL with SIGTRAP for a step), keeping other signals for later. */
static int wait_stop(struct seized *s, enum target_event want, struct err *e)
{
	for (;;) {
		enum target_event ev;
		int sig;
		int rc = target_poll_thread(s->tid, &ev, &sig, e);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (clock_ns(CLOCK_MONOTONIC) > s->deadline_ns) {
				s->running = true;
				return err_set(e, ERR_BUSY, "thread %d did not stop in time", (int)s->tid);
			}
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (ev == want && (want != TARGET_SIGNAL || sig == SIGTRAP))
			return 0;
		switch (ev) {
		case TARGET_SIGNAL:
			if (s->nheld < MAX_HELD)
				s->held[s->nheld++] = sig;
			if ((want == TARGET_SIGNAL ? target_step(s->tid, e) : target_resume(s->tid, 0, e)) < 0)
				return -1;
			continue;
		case TARGET_EXITING:
		case TARGET_EXITED:
			return err_set(e, ERR_TARGET, "the target exited during the load");
		case TARGET_EXEC:
			return err_set(e, ERR_TARGET, "the target exec'd a new program during the load");
		case TARGET_GROUP_STOP:
			return err_set(e, ERR_BUSY, "the target is stopped (SIGSTOP): load after SIGCONT");
		default:
			if (target_resume(s->tid, 0, e) < 0)
				return -1;
		}
	}
}

/* Waits out a stop that was asked for and missed: a thread merely left
 * seized would stop there later and stay stopped while the tracer thread
 * lives, with nothing to put its registers back. Only a thread that does
 * not come back to user space in SETTLE_NS (uninterruptible sleep) stays
 * seized, until the collector thread ends; the log says so. */
static void settle(struct seized *s)
{
	int64_t end = clock_ns(CLOCK_MONOTONIC) + SETTLE_NS;
	while (s->running) {
		enum target_event ev;
		int sig;
		struct err e = { 0 };
		int rc = target_poll_thread(s->tid, &ev, &sig, &e);
		if (rc != 0) {
			s->running = false; /* stopped, or gone */
			if (rc > 0 && ev == TARGET_SIGNAL && sig != SIGTRAP && s->nheld < MAX_HELD)
				s->held[s->nheld++] = sig;
			return;
		}
		if (clock_ns(CLOCK_MONOTONIC) > end) {
			log_warn("agent load: thread %d of pid %d did not stop within %lld s of the "
				 "request; it stays seized, and is let go when pprof-fcgi's tracer "
				 "thread ends", (int)s->tid, (int)s->pid, SETTLE_NS / 1000000000LL);
			return;
		}
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
}

/* Detaches, delivering the first signal held, the others sent again. */
static void release(struct seized *s)
{
	target_detach(s->tid, s->nheld ? s->held[0] : 0);
	for (int i = 1; i < s->nheld; i++)
		syscall(SYS_tgkill, s->pid, s->tid, s->held[i]);
}

/* The registers the thread leaves the trampoline with: as it was, its
 * syscall restarted as the kernel would (orig_rax -1 keeps the kernel from
 * restarting it into the trampoline). *rip gets where it returns to. */
static void restart_fixup(const struct user_regs_struct *u, uint64_t *rax, uint64_t *rip)
{
	*rax = u->rax;
	*rip = u->rip;
	if ((long long)u->orig_rax < 0)
		return;
	switch ((long long)u->rax) {
	case -512: /* ERESTARTSYS */
	case -513: /* ERESTARTNOINTR */
	case -514: /* ERESTARTNOHAND: no handler runs here */
		*rax = u->orig_rax;
		*rip = u->rip - 2;
		break;
	case -516: /* ERESTART_RESTARTBLOCK */
		*rax = SYS_restart_syscall;
		*rip = u->rip - 2;
		break;
	}
}

static uint32_t xsave_size(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
		return 0;
	if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d))
		return 0;
	return b; /* for the features XCR0 enables */
}

/* One mmap syscall at the thread's own syscall instruction: the only step
 * that relies on the tracer to put the registers back. */
static int bootstrap(struct seized *s, const struct user_regs_struct *orig, uint64_t *page,
		     struct err *e)
{
	struct user_regs_struct b = *orig;
	b.rax = SYS_mmap;
	b.rdi = 0;
	b.rsi = 2 * PAGE;
	b.rdx = PROT_READ | PROT_EXEC;
	b.r10 = MAP_PRIVATE | MAP_ANONYMOUS;
	b.r8 = (uint64_t)-1;
	b.r9 = 0;
	b.rip = orig->rip - 2;
	b.orig_rax = (uint64_t)-1;
	struct user_regs_struct after;
	if (target_setregs_all(s->tid, &b, e) < 0 || target_step(s->tid, e) < 0 ||
	    wait_stop(s, TARGET_SIGNAL, e) < 0 || target_getregs_all(s->tid, &after, e) < 0)
		return -1;
	/* back at once to the registers it had, then out of the SIGTRAP stop
	 * (a stop that delivers its signal if the tracer dies) into an
	 * interrupt stop (one that does not) */
	if (target_setregs_all(s->tid, orig, e) < 0 || target_interrupt(s->tid, e) < 0 ||
	    target_resume(s->tid, 0, e) < 0 || wait_stop(s, TARGET_INTERRUPTED, e) < 0)
		return -1;
	if ((long long)after.rax < 0 && (long long)after.rax > -4096)
		return err_errno(e, ERR_INTERNAL, (int)-(long long)after.rax,
				 "mmap in pid's thread %d", (int)s->tid);
	*page = after.rax;
	return 0;
}

/* Writes the trampoline and its frame, then points the thread at it. */
static int enter(struct inject *in, struct seized *s, const struct user_regs_struct *orig,
		 uint32_t xsize, struct err *e)
{
	size_t n = (size_t)(pf_inject_tramp_end - pf_inject_tramp);
	unsigned char data[D_SCRATCH] = { 0 };
	struct timespec idle = { 0, IDLE_SLEEP_NS };
	memcpy(data + D_SLEEP, &idle, sizeof idle);
	memset(data + D_MASK, 0xff, 8);
	memset(data + D_CLOSE_FD, 0xff, 8);
	uint64_t ret_rax, ret_rip;
	restart_fixup(orig, &ret_rax, &ret_rip);
	uint64_t retsp = orig->rsp - 8 - RET_SKIP;
	uint64_t frame_at = (orig->rsp - FRAME_GAP) & ~(uint64_t)63;
	uint64_t frame[4] = { in->data, retsp, xsize, (uint64_t)in->timeout_ms * 1000000 };
	if (target_write_mem(in->pid, in->code, pf_inject_tramp, n, e) < 0 ||
	    target_write_mem(in->pid, in->data, data, sizeof data, e) < 0 ||
	    target_write_mem(in->pid, retsp, &ret_rip, 8, e) < 0 ||
	    target_write_mem(in->pid, frame_at, frame, sizeof frame, e) < 0)
		return -1;
	struct user_regs_struct u = *orig;
	u.rax = ret_rax;
	u.orig_rax = (uint64_t)-1;
	u.rsp = frame_at;
	u.rip = in->code;
	return target_setregs_all(s->tid, &u, e);
}

int inject_enter(struct inject *in, pid_t pid, pid_t tid, uint64_t expect_sp, uint64_t exec_id,
		 long timeout_ms, const char *pause_at, struct err *e)
{
	memset(in, 0, sizeof *in);
	in->pid = pid;
	in->tid = tid;
	in->timeout_ms = timeout_ms;
	uint32_t xsize = xsave_size();
	if (!xsize)
		return err_set(e, ERR_INVALID, "cannot load into pid %d: the CPU or kernel has no "
			       "XSAVE, which the call needs to keep the vector registers", (int)pid);
	struct seized s = { .pid = pid, .tid = tid, .deadline_ns = clock_ns(CLOCK_MONOTONIC) + timeout_ms * 1000000 };
	if (target_seize(tid, e) < 0)
		return -1;
	struct user_regs_struct orig;
	bool have_orig = false;
	unsigned char insn[2] = { 0 };
	if (target_interrupt(tid, e) < 0 || wait_stop(&s, TARGET_INTERRUPTED, e) < 0)
		goto fail;
	in->stopped_ns = clock_ns(CLOCK_MONOTONIC);
	if (target_getregs_all(tid, &orig, e) < 0)
		goto fail;
	have_orig = true;
	inject_pause(pause_at, "seized");
	/* an exec since the caller found the functions to call (a pid file
	 * read while a wrapper script still ran, a program re-exec'ing
	 * itself) left them at other addresses, or none: calling one of the
	 * old program's addresses is a crash. Checked now, when an exec can
	 * no longer come before the trampoline runs (one would end this
	 * thread) */
	if (exec_id && proc_exec_id(pid) != exec_id) {
		release(&s);
		return err_set(e, ERR_BUSY, "pid %d exec'd a new program while the load looked at "
			       "it: POST again to load into the new one", (int)pid);
	}
	/* it must still be blocked where it was picked: stopped in that
	 * syscall, at a syscall instruction (0f 05) for the bootstrap, on the
	 * stack looked at then (whose room was checked: maps are not read
	 * again while it is stopped) */
	if ((long long)orig.orig_rax < 0 || !lendable_syscall((long)orig.orig_rax) ||
	    proc_read_mem(pid, orig.rip - 2, insn, 2, e) < 0 || insn[0] != 0x0f || insn[1] != 0x05 ||
	    (expect_sp ? orig.rsp != expect_sp : !stack_room(pid, orig.rsp))) {
		target_undo_eintr(pid, tid); /* it entered an epoll_wait meanwhile? */
		release(&s);
		return err_set(e, ERR_BUSY, "thread %d of pid %d was no longer blocked in a wait "
			       "when stopped", (int)tid, (int)pid);
	}
	if (bootstrap(&s, &orig, &in->code, e) < 0)
		goto fail;
	in->data = in->code + PAGE;
	inject_pause(pause_at, "bootstrap");
	if (enter(in, &s, &orig, xsize, e) < 0)
		goto fail;
	in->entered_ns = clock_ns(CLOCK_MONOTONIC);
	release(&s);
	return 0;
fail:
	/* the registers as they were (a no-op when they are), then go */
	settle(&s);
	if (have_orig)
		target_setregs_all(tid, &orig, &(struct err){ 0 });
	release(&s);
	return -1;
}

#else

int inject_enter(struct inject *in, pid_t pid, pid_t tid, uint64_t expect_sp, uint64_t exec_id,
		 long timeout_ms, const char *pause_at, struct err *e)
{
	(void)in; (void)tid; (void)expect_sp; (void)exec_id; (void)timeout_ms; (void)pause_at;
	return err_set(e, ERR_INVALID, "cannot load into pid %d: pprof-fcgi loads the agent "
		       "on x86-64 only; start the target with LD_PRELOAD instead", (int)pid);
}

#endif

int inject_put(struct inject *in, size_t off, const void *buf, size_t len, uint64_t *addr,
	       struct err *e)
{
	if (off + len > INJECT_SCRATCH)
		return err_set(e, ERR_INTERNAL, "inject_put: %zu bytes at %zu: over the scratch area",
			       len, off);
	*addr = in->data + D_SCRATCH + off;
	return target_write_mem(in->pid, *addr, buf, len, e);
}

int inject_close_result(struct inject *in, struct err *e)
{
	uint64_t seq = in->seq + 1;
	return target_write_mem(in->pid, in->data + D_CLOSE_SEQ, &seq, sizeof seq, e);
}

/* Polls the data page word at off until it is want, the deadline passes
 * or the target is gone: 0, or -1 with e. */
static int wait_word(struct inject *in, size_t off, uint64_t want, int64_t deadline_ns,
		     struct err *e)
{
	for (unsigned i = 0;; i++) {
		uint64_t v = 0;
		if (proc_read_mem(in->pid, in->data + off, &v, sizeof v, e) < 0) {
			/* ESRCH (ERR_TARGET) while it exits, before it is a zombie */
			if (e->kind != ERR_TARGET && proc_alive(in->pid))
				return -1;
			err_clear(e);
			return err_set(e, ERR_TARGET, "the target exited during the load");
		}
		if (v == want)
			return 0;
		if (clock_ns(CLOCK_MONOTONIC) > deadline_ns)
			return err_set(e, ERR_BUSY, "no answer within %ld ms", in->timeout_ms);
		if (i % 256 == 255 && !proc_alive(in->pid))
			return err_set(e, ERR_TARGET, "the target exited during the load");
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
}

int inject_call(struct inject *in, uint64_t fn, const uint64_t *args, size_t nargs,
		uint64_t *ret, struct err *e)
{
	uint64_t call[7] = { fn };
	for (size_t i = 0; i < nargs && i < 6; i++)
		call[1 + i] = args[i];
	uint64_t seq = ++in->seq;
	/* the call first, then its number: the trampoline starts on the number */
	if (target_write_mem(in->pid, in->data + D_FN, call, sizeof call, e) < 0 ||
	    target_write_mem(in->pid, in->data + D_SEQ, &seq, sizeof seq, e) < 0)
		return -1;
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + in->timeout_ms * 1000000;
	if (wait_word(in, D_DONE, seq, deadline, e) < 0)
		return -1;
	return proc_read_mem(in->pid, in->data + D_RESULT, ret, sizeof *ret, e);
}

void inject_leave(struct inject *in)
{
	uint64_t leave = (uint64_t)-1;
	struct err ignored = { 0 };
	if (target_write_mem(in->pid, in->data + D_SEQ, &leave, sizeof leave, &ignored) < 0)
		return;
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + in->timeout_ms * 1000000;
	if (wait_word(in, D_STATE, STATE_LEFT, deadline, &ignored) == 0)
		in->left_ns = clock_ns(CLOCK_MONOTONIC);
}
