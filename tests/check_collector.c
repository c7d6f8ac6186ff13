/* collector: subscribers of a real target (targets/cpu-split, two threads
 * always busy), through the public API only. */
#include "check_main.h"
#include "base/err.h"
#include "collect/collector.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t target;

/* Starts targets/cpu-split and waits for its "ready" line. */
static void setup(void)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	target = fork();
	ck_assert_int_ge(target, 0);
	if (target == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl("./targets/cpu-split", "cpu-split", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	char line[64] = "";
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	ck_assert_msg(strncmp(line, "ready ", 6) == 0, "cpu-split said: %s", line);
	fclose(f);
}

static void teardown(void)
{
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
}

struct tally {
	uint64_t samples; /* stacks taken now (a profile's samples/count) */
	uint64_t cpu_ns;
};

static void on_sample(void *arg, const struct collector_sample *s)
{
	struct tally *t = arg;
	t->samples += s->sampled;
	t->cpu_ns += s->cpu_ns;
}

static struct collector *new_collector(void)
{
	struct collector_config cc = { .sampler = COLLECTOR_PTRACE, .self = getpid() };
	return collector_new(&cc);
}

/* A 100 Hz profile overlapping a 1,000 Hz one gets its own rate (what its
 * period 1e9/100 promises), not every tick of the faster loop; both see
 * the same CPU time. */
START_TEST(test_rate_per_subscriber)
{
	struct collector *c = new_collector();
	struct tally slow = { 0 }, fast = { 0 };
	struct collector_sub s100 = { .hz = 100, .on_sample = on_sample, .arg = &slow };
	struct collector_sub s1000 = { .hz = 1000, .on_sample = on_sample, .arg = &fast };
	struct collector_sub *subs[] = { &s1000, &s100 };
	struct collector_window w;
	struct err e = { 0 };
	const long seconds = 2;
	ck_assert_msg(collector_window(c, target, subs, 2, seconds, &w, &e) == 0, "%s", e.msg);
	collector_free(c);
	/* at most one stack per busy thread per 10 ms; fewer when a thread
	 * did not run at a tick (the machine is shared) */
	double most = 100.0 * seconds * 2;
	fprintf(stderr, "rate_per_subscriber: 100 Hz %llu samples, 1000 Hz %llu, cpu %.2f s / %.2f s\n",
		(unsigned long long)slow.samples, (unsigned long long)fast.samples,
		(double)slow.cpu_ns / 1e9, (double)fast.cpu_ns / 1e9);
	ck_assert_msg((double)slow.samples <= most * 1.15, "100 Hz subscriber: %llu samples, at most %.0f",
		      (unsigned long long)slow.samples, most * 1.15);
	ck_assert_msg((double)slow.samples >= most * 0.25, "100 Hz subscriber: %llu samples, want ~%.0f",
		      (unsigned long long)slow.samples, most);
	/* the fast loop falls short of 1,000 Hz on a busy machine (each tick
	 * waits for its stops), but it is not cut to the slow rate */
	ck_assert_msg(fast.samples > slow.samples * 3 / 2, "1000 Hz subscriber: %llu samples, 100 Hz: %llu",
		      (unsigned long long)fast.samples, (unsigned long long)slow.samples);
	/* the CPU time of the stacks not taken goes onto the ones taken */
	double ratio = (double)slow.cpu_ns / (double)fast.cpu_ns;
	ck_assert_msg(ratio > 0.9 && ratio < 1.1, "cpu time 100 Hz / 1000 Hz: %.2f", ratio);
}
END_TEST

static Suite *collector_suite(void)
{
	Suite *s = suite_create("collector");
	TCase *tc = tcase_create("sampling");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_rate_per_subscriber);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(collector_suite)
