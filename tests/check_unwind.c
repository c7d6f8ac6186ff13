/* target + unwind + symbolize on a child stopped in a known call chain:
 * chain_a -> chain_b -> chain_c, spinning in chain_c. */
#include "base/buf.h"
#include "check_main.h"
#include "base/err.h"
#include "profile/profile.h"
#include "profile/symbolize.h"
#include "collect/regs.h"
#include "collect/target.h"
#include "collect/unwind.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long spin_count;

__attribute__((noinline)) static void chain_c(void)
{
	for (;;)
		spin_count++;
}

__attribute__((noinline)) static void chain_b(void)
{
	chain_c();
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

__attribute__((noinline)) static void chain_a(void)
{
	chain_b();
	__asm__ volatile("" ::: "memory");
}

static pid_t child;

static void setup(void)
{
	child = fork();
	if (child == 0) {
		chain_a();
		_exit(0);
	}
}

static void teardown(void)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, __WALL);
}

/* Waits for the child's interrupt stop, forwarding anything else. */
static void wait_interrupted(pid_t pid)
{
	for (;;) {
		pid_t tid;
		enum target_event ev;
		int sig;
		struct err e = { 0 };
		int r = target_poll_event(&tid, &ev, &sig, &e);
		ck_assert_int_ge(r, 0);
		if (r == 0) {
			usleep(50);
			continue;
		}
		ck_assert_int_eq(tid, pid);
		if (ev == TARGET_INTERRUPTED)
			return;
		ck_assert_int_ne(ev, TARGET_EXITED);
		target_resume(tid, ev == TARGET_SIGNAL ? sig : 0, &e);
	}
}

static double ns_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e9 + (double)(t1.tv_nsec - t0->tv_nsec);
}

START_TEST(test_known_chain)
{
	struct err e = { 0 };
	/* the child must be running chain_c before we look */
	while (spin_count == 0 && kill(child, 0) == 0) {
		char path[64], text[128];
		snprintf(path, sizeof path, "/proc/%d/schedstat", (int)child);
		FILE *f = fopen(path, "r");
		if (f && fgets(text, sizeof text, f) && strtoull(text, NULL, 10) > 20000000ULL) {
			fclose(f);
			break;
		}
		if (f)
			fclose(f);
		usleep(1000);
	}
	ck_assert_int_eq(target_seize(child, &e), 0);
	struct unwinder *u = unwind_new(child, &e);
	ck_assert_ptr_nonnull(u);
	struct symbolizer *sym = symbolizer_new();
	ck_assert_int_eq(symbolizer_attach(sym, child, &e), 0);

	double t_regs = 0, t_unwind = 0;
	int rounds = 200;
	uint64_t pcs[UNWIND_DEFAULT_DEPTH];
	size_t n = 0;
	for (int i = 0; i < rounds; i++) {
		ck_assert_int_eq(target_interrupt(child, &e), 0);
		wait_interrupted(child);
		struct regs regs;
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ck_assert_int_eq(target_getregs(child, &regs, NULL, &e), 0);
		t_regs += ns_since(&t0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ck_assert_int_eq(unwind_stack(u, child, &regs, pcs, UNWIND_DEFAULT_DEPTH, &n), 0);
		t_unwind += ns_since(&t0);
		ck_assert_int_eq(target_resume(child, 0, &e), 0);
	}
	/* the last stack, symbolized, names the chain in order */
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "samples", "count");
	int64_t one = 1;
	profile_add_sample(&p, pcs, n, &one, 0, NULL);
	ck_assert_int_eq(symbolize_profile(sym, &p, &e), 0);
	const char *want[] = { "chain_c", "chain_b", "chain_a", "setup" };
	size_t w = 0;
	char got[2048] = "";
	for (size_t i = 0; i < p.samples[0].nlocs && w < 4; i++) {
		struct profile_location *l = &p.locations[p.samples[0].locs[i]];
		const char *fn = l->nlines ? l->lines[l->nlines - 1].function : "?";
		strncat(got, fn, sizeof got - strlen(got) - 2);
		strncat(got, " ", sizeof got - strlen(got) - 1);
		if (strncmp(fn, want[w], strlen(want[w])) == 0)
			w++;
	}
	ck_assert_msg(w == 4, "stack %s lacks chain_c chain_b chain_a setup in order", got);

	/* the same stack from registers and a stack copy taken by the caller,
	 * unwound after the thread ran on; with an empty copy it ends at once,
	 * so nothing was read live */
	ck_assert_int_eq(target_interrupt(child, &e), 0);
	wait_interrupted(child);
	struct regs regs;
	ck_assert_int_eq(target_getregs(child, &regs, NULL, &e), 0);
	static unsigned char stack[16384];
	struct iovec local = { stack, sizeof stack };
	struct iovec remote = { (void *)(uintptr_t)regs.r[REGS_SP], sizeof stack };
	ssize_t got_bytes = process_vm_readv(child, &local, 1, &remote, 1, 0);
	ck_assert_int_gt(got_bytes, 0);
	ck_assert_int_eq(unwind_stack(u, child, &regs, pcs, UNWIND_DEFAULT_DEPTH, &n), 0);
	ck_assert_int_eq(target_resume(child, 0, &e), 0);
	uint64_t copy_pcs[UNWIND_DEFAULT_DEPTH];
	size_t copy_n = 0;
	ck_assert_int_eq(unwind_copy(u, &regs, stack, (size_t)got_bytes, copy_pcs, UNWIND_DEFAULT_DEPTH,
				     &copy_n), 0);
	ck_assert_uint_eq(copy_n, n);
	ck_assert_int_eq(memcmp(copy_pcs, pcs, n * sizeof *pcs), 0);
	ck_assert_int_eq(unwind_copy(u, &regs, stack, 0, copy_pcs, UNWIND_DEFAULT_DEPTH, &copy_n), 0);
	ck_assert_uint_lt(copy_n, n);
	printf("unwind: %zu frames; getregs %.1f us, unwind %.1f us per sample (mean of %d)\n",
	       n, t_regs / rounds / 1e3, t_unwind / rounds / 1e3, rounds);
	profile_release(&p);
	symbolizer_free(sym);
	unwind_free(u);
}
END_TEST

START_TEST(test_garbage_registers)
{
	/* an IP and SP pointing nowhere end the stack; they never crash */
	struct err e = { 0 };
	struct unwinder *u = unwind_new(child, &e);
	ck_assert_ptr_nonnull(u);
	struct regs regs;
	memset(&regs, 0x41, sizeof regs);
	uint64_t pcs[UNWIND_DEFAULT_DEPTH];
	size_t n = 99;
	ck_assert_int_eq(unwind_stack(u, child, &regs, pcs, UNWIND_DEFAULT_DEPTH, &n), 0);
	ck_assert_uint_le(n, 2);
	regs.r[REGS_IP] = 0;
	ck_assert_int_eq(unwind_stack(u, child, &regs, pcs, UNWIND_DEFAULT_DEPTH, &n), 0);
	ck_assert_uint_le(n, 1);
	unwind_free(u);
}
END_TEST

START_TEST(test_repeated_garbage_frame)
{
	/* a frame-pointer chain on a stack copy whose every return address
	 * is one address outside any code (a thread caught at its first
	 * instruction in clone3 gave 127 copies of one): one frame of it,
	 * not a stack of them */
	struct err e = { 0 };
	struct unwinder *u = unwind_new(child, &e);
	ck_assert_ptr_nonnull(u);
	const uint64_t garbage = 0x41410000ULL;
	static uint64_t stack[1024];
	const uint64_t base = 0x7ff000000000ULL;
	for (size_t i = 0; i < 1024; i += 2) {
		stack[i] = garbage;               /* a return address */
		stack[i + 1] = base + (i + 3) * 8; /* a saved frame pointer: the next one */
	}
	struct regs regs;
	memset(&regs, 0, sizeof regs);
	regs.r[REGS_IP] = garbage;
	regs.r[REGS_SP] = base;
	regs.r[6] = base + 8; /* RBP */
	uint64_t pcs[UNWIND_DEFAULT_DEPTH];
	size_t n = 0;
	ck_assert_int_eq(unwind_copy(u, &regs, stack, sizeof stack, pcs, UNWIND_DEFAULT_DEPTH, &n), 0);
	ck_assert_msg(n >= 1 && n <= 2, "%zu frames", n);
	unwind_free(u);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("unwind");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_known_chain);
	tcase_add_test(tc, test_garbage_registers);
	tcase_add_test(tc, test_repeated_garbage_frame);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
