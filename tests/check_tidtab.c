/* tidtab: the thread table (lookups across growth and compaction, what a
 * renewed thread keeps) and the /proc reads of a thread, on this process. */
#include "check_main.h"
#include "collect/tidtab.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <string.h>

START_TEST(test_add_find_compact)
{
	struct tidtab tt = { 0 };
	for (pid_t tid = 1; tid <= 1000; tid++)
		tidtab_add(&tt, tid * 7)->cpu_ns = (uint64_t)tid;
	ck_assert_uint_eq(tt.n, 1000);
	for (pid_t tid = 1; tid <= 1000; tid++) {
		struct thr *t = tidtab_find(&tt, tid * 7);
		ck_assert_ptr_nonnull(t);
		ck_assert_uint_eq(t->cpu_ns, (uint64_t)tid);
		t->dead = tid % 2 == 0;
	}
	ck_assert_ptr_null(tidtab_find(&tt, 8));
	tidtab_compact(&tt);
	ck_assert_uint_eq(tt.n, 500);
	for (pid_t tid = 1; tid <= 1000; tid++) {
		struct thr *t = tidtab_find(&tt, tid * 7);
		if (tid % 2 == 0) {
			ck_assert_ptr_null(t);
			continue;
		}
		ck_assert_ptr_nonnull(t);
		ck_assert_uint_eq(t->cpu_ns, (uint64_t)tid);
	}
	tidtab_forget(&tt);
	ck_assert_uint_eq(tt.n, 0);
	ck_assert_ptr_null(tidtab_find(&tt, 7));
}
END_TEST

/* A renewed thread keeps its stacks and the waits they were taken in,
 * nothing else. */
START_TEST(test_renew)
{
	struct tidtab tt = { 0 };
	struct thr *t = tidtab_add(&tt, 42);
	t->pcs[0] = 0x1234;
	t->npcs = 1;
	snprintf(t->wait_line, sizeof t->wait_line, "202 0x1 0x2");
	snprintf(t->comm, sizeof t->comm, "worker");
	t->seized = t->kept = true;
	t->base[3] = 99;
	tidtab_renew(t);
	ck_assert_int_eq(t->tid, 42);
	ck_assert_uint_eq(t->npcs, 1);
	ck_assert_uint_eq(t->pcs[0], 0x1234);
	ck_assert_str_eq(t->wait_line, "202 0x1 0x2");
	ck_assert_str_eq(t->comm, "worker");
	ck_assert(!t->seized && !t->kept);
	ck_assert_uint_eq(t->base[3], 0);
	ck_assert_int_eq(t->cpu_fd, -1);
	tidtab_forget(&tt);
}
END_TEST

static void count_drop(void *arg, struct thr *t)
{
	int *n = arg;
	ck_assert(t->dead);
	(*n)++;
}

/* Every dead thread a compaction drops is told to on_drop first (the
 * collector gives out its CPU time), and forgetting keeps the hook. */
START_TEST(test_on_drop)
{
	int dropped = 0;
	struct tidtab tt = { .on_drop = count_drop, .drop_arg = &dropped };
	for (pid_t tid = 1; tid <= 10; tid++)
		tidtab_add(&tt, tid)->dead = tid > 7;
	tidtab_compact(&tt);
	ck_assert_int_eq(dropped, 3);
	ck_assert_uint_eq(tt.n, 7);
	tidtab_forget(&tt);
	ck_assert_ptr_eq(tt.drop_arg, &dropped);
	tidtab_add(&tt, 5)->dead = true;
	tidtab_compact(&tt);
	ck_assert_int_eq(dropped, 4);
	tidtab_forget(&tt);
}
END_TEST

START_TEST(test_proc_reads)
{
	pid_t self = getpid();
	volatile uint64_t x = 0;
	for (int i = 0; i < 5000000; i++)
		x += (uint64_t)i; /* some CPU time to see */
	uint64_t ns = 0;
	ck_assert_int_eq(tidtab_read_cpu(self, gettid(), &ns), 0);
	ck_assert_uint_gt(ns, 0);
	struct tidtab tt = { 0 };
	struct thr *t = tidtab_add(&tt, gettid());
	ck_assert_int_eq(tidtab_cpu(self, t), 0);
	ck_assert_uint_ge(t->cpu_ns, ns);
	ck_assert_uint_gt(t->pcount, 0); /* it was put on a CPU, at least once */
	ck_assert_int_ge(t->cpu_fd, 0); /* kept open for the next read */
	ck_assert_int_eq(tidtab_state(self, t), 0);
	ck_assert_int_eq(t->state, 'R');
	ck_assert(tidtab_alive(self, gettid()));
	ck_assert(!tidtab_alive(self, 0x7ffffff0));
	ck_assert_int_eq(tidtab_read_cpu(self, 0x7ffffff0, &ns), -1);
	ck_assert_int_ge(t->cpu, 0); /* stat's processor */
	ck_assert_int_lt(t->cpu, (int)sysconf(_SC_NPROCESSORS_CONF));
	int64_t mine = -1, again = -1;
	ck_assert_int_eq(tidtab_sched_stamp(0, 0, &mine), 0); /* the calling thread */
	ck_assert_int_eq(tidtab_sched_stamp(self, gettid(), &again), 0);
	ck_assert_int_gt(mine, 0);
	ck_assert_int_ge(again, mine);
	ck_assert_int_eq(tidtab_sched_stamp(self, 0x7ffffff0, &again), -1);
	tidtab_forget(&tt); /* closes the descriptor */
}
END_TEST

static void pin_to(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ck_assert_int_eq(pthread_setaffinity_np(pthread_self(), sizeof set, &set), 0);
}

static _Atomic int spin_cpu = -1;
static _Atomic bool spin_stop;
static _Atomic pid_t spin_tid;

static void *spin(void *arg)
{
	(void)arg;
	pin_to(spin_cpu);
	spin_tid = gettid();
	while (!spin_stop)
		;
	return NULL;
}

static void *sleeper(void *arg)
{
	char c;
	spin_tid = gettid();
	ck_assert_int_eq(read(*(int *)arg, &c, 1), 1);
	return NULL;
}

/* What the ptrace sampler's pick rests on (ptrace_pick): a thread that
 * loses its CPU to a thread waking there shows, while it waits, the same
 * exec_start as the one that woke, read first thing; a thread that the
 * wakeup did not preempt does not. A spinner and this thread share one
 * CPU; this thread sleeps 1 ms and looks, up to 500 times (a wakeup may
 * have to wait for the spinner's turn to end: then they differ). */
START_TEST(test_preempted_stamp)
{
	spin_cpu = sched_getcpu();
	pin_to(spin_cpu);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, spin, NULL), 0);
	while (!spin_tid)
		sched_yield();
	int same = 0, looks = 0;
	for (int i = 0; i < 500 && same < 5; i++) {
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
		int64_t came = -1, left = -1;
		ck_assert_int_eq(tidtab_sched_stamp(0, 0, &came), 0);
		ck_assert_int_eq(tidtab_sched_stamp(getpid(), spin_tid, &left), 0);
		looks++;
		same += came == left;
		ck_assert_int_le(left, came); /* it left no later than this thread came on */
	}
	spin_stop = true;
	pthread_join(th, NULL);
	ck_assert_msg(same >= 5, "only %d of %d wakeups showed the preempted spinner's stamp", same,
		      looks);
	/* a thread asleep left its CPU before this one came on, not at it */
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	spin_tid = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, sleeper, &fds[0]), 0);
	struct tidtab tt = { 0 };
	while (!spin_tid)
		sched_yield();
	struct thr *t = tidtab_add(&tt, spin_tid);
	while (tidtab_state(getpid(), t) == 0 && t->state != 'S')
		sched_yield();
	struct timespec ms = { 0, 1000000 };
	nanosleep(&ms, NULL);
	int64_t came = -1, left = -1;
	ck_assert_int_eq(tidtab_sched_stamp(0, 0, &came), 0);
	ck_assert_int_eq(tidtab_sched_stamp(getpid(), spin_tid, &left), 0);
	ck_assert_int_lt(left, came);
	ck_assert_int_eq(write(fds[1], "x", 1), 1);
	pthread_join(th, NULL);
	close(fds[0]);
	close(fds[1]);
	tidtab_forget(&tt);
}
END_TEST

START_TEST(test_backoff)
{
	int idle = 0, skip = 0;
	/* idle k times in a row: 2^k - 1 skips, at most 15 */
	int want[] = { 1, 3, 7, 15, 15 };
	for (int k = 0; k < 5; k++) {
		tidtab_backoff_update(&idle, &skip, false);
		ck_assert_int_eq(skip, want[k]);
		int skipped = 0;
		while (tidtab_backoff_skip(&skip))
			skipped++;
		ck_assert_int_eq(skipped, want[k]);
	}
	tidtab_backoff_update(&idle, &skip, true);
	ck_assert_int_eq(idle, 0);
	ck_assert(!tidtab_backoff_skip(&skip));
}
END_TEST

static Suite *tidtab_suite(void)
{
	Suite *s = suite_create("tidtab");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_add_find_compact);
	tcase_add_test(tc, test_renew);
	tcase_add_test(tc, test_on_drop);
	tcase_add_test(tc, test_proc_reads);
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_preempted_stamp);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(tidtab_suite)
