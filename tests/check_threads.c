/* threads: dumps of a live target (targets/cpu-split: main and two
 * spinning threads) through the collector, and the stack endpoints'
 * bodies made from them. */
#include "check_main.h"
#include "base/buf.h"
#include "base/err.h"
#include "collect/collector.h"
#include "collect/proc.h"
#include "ctx.h"
#include "profile/symbolize.h"
#include "profile/threads.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t target;
static struct ctx ctx;

static void setup(void)
{
	target = check_spawn_ready("./targets/cpu-split");
	struct collector_config cc = { .sampler = COLLECTOR_PTRACE, .self = getpid() };
	ctx.self = getpid();
	ctx.collector = collector_new(&cc);
	ctx.symbolizer = symbolizer_new();
	pthread_mutex_init(&ctx.sym_lock, NULL);
}

static void teardown(void)
{
	collector_free(ctx.collector);
	symbolizer_free(ctx.symbolizer);
	pthread_mutex_destroy(&ctx.sym_lock);
	struct proc_info info;
	struct err e = { 0 };
	ck_assert_int_eq(proc_info(target, &info, &e), 0);
	ck_assert_int_eq(info.tracer, 0); /* let go of */
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
}

/* Every thread once, the main thread first, then by tid, each with a
 * stack and the state /proc gives. */
START_TEST(test_dump)
{
	struct thread_dump d;
	struct err e = { 0 };
	ck_assert_msg(thread_dump_take(&ctx, target, &d, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(d.n, 3);
	ck_assert_int_eq(d.t[0].tid, target);
	ck_assert_int_lt(d.t[1].tid, d.t[2].tid);
	size_t with_stack = 0;
	for (size_t i = 0; i < d.n; i++) {
		with_stack += d.t[i].npcs > 0;
		ck_assert_msg(strchr("RSD", d.t[i].state), "state %c", d.t[i].state);
	}
	/* a thread that did not stop within 100 ms (a loaded machine) has no
	 * stack, and is counted */
	ck_assert_uint_ge(with_stack + d.lost, 3);
	/* the main thread sleeps between its checks: asleep, its wait is named */
	if (d.t[0].state == 'S')
		ck_assert_ptr_nonnull(d.t[0].wait);
	thread_dump_release(&d);
}
END_TEST

/* goroutine?debug=2: one block per thread, symbolized, the spinning
 * threads in their spin functions. */
START_TEST(test_goroutine_text)
{
	struct buf out;
	buf_init(&out, "body", 1 << 24);
	int text = 0;
	struct err e = { 0 };
	ck_assert_msg(threads_profile(&ctx, target, THREADS_GOROUTINE, 2, 0, &out, &text, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(text, 1);
	buf_putc(&out, '\0');
	char head[64];
	snprintf(head, sizeof head, "thread %d \"cpu-split\"", (int)target);
	ck_assert_msg(strncmp(out.data, head, strlen(head)) == 0, "%.200s", out.data);
	ck_assert_msg(strstr(out.data, "\nspin_hot") || strstr(out.data, "\nspin_cold"),
		      "%s", out.data);
	ck_assert_msg(strstr(out.data, "worker(...)"), "%s", out.data);
	buf_release(&out);
}
END_TEST

/* goroutine?debug=1: Go's counts text, 3 threads in all. */
START_TEST(test_goroutine_counts)
{
	struct buf out;
	buf_init(&out, "body", 1 << 24);
	int text = 0;
	struct err e = { 0 };
	ck_assert_msg(threads_profile(&ctx, target, THREADS_GOROUTINE, 1, 0, &out, &text, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(text, 1);
	buf_putc(&out, '\0');
	ck_assert_msg(strncmp(out.data, "goroutine profile: total 3\n", 27) == 0, "%.200s", out.data);
	buf_release(&out);
}
END_TEST

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("dump");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dump);
	tcase_add_test(tc, test_goroutine_text);
	tcase_add_test(tc, test_goroutine_counts);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(threads_suite)
