/* sampler: stats arithmetic, and the comment policy of the ptrace
 * sampler's describe (lines only for what a user can act on). */
#include "check_main.h"
#include "collect/sampler.h"

#include <string.h>

START_TEST(test_stats_add)
{
	struct sampler_stats a = { .ticks = 1, .stops = 2, .lost = 1, .held_ns_max = 50,
				   .latency_ns_max = 9, .waits_reused = 4 };
	struct sampler_stats b = { .ticks = 10, .stops = 20, .truncated = 3, .throttled = 2,
				   .held_ns_max = 40, .latency_ns_max = 90, .waits_unwound = 1 };
	a.held_hist[3] = 1;
	b.held_hist[3] = 2;
	sampler_stats_add(&a, &b);
	ck_assert_uint_eq(a.ticks, 11);
	ck_assert_uint_eq(a.stops, 22);
	ck_assert_uint_eq(a.lost, 1);
	ck_assert_uint_eq(a.truncated, 3);
	ck_assert_uint_eq(a.throttled, 2);
	ck_assert_uint_eq(a.held_ns_max, 50); /* maxima, not sums */
	ck_assert_uint_eq(a.latency_ns_max, 90);
	ck_assert_uint_eq(a.held_hist[3], 3);
	ck_assert_uint_eq(a.waits_reused, 4);
	ck_assert_uint_eq(a.waits_unwound, 1);
}
END_TEST

START_TEST(test_held_quantile)
{
	struct sampler_stats st = { 0 };
	ck_assert_double_eq(sampler_held_quantile(&st, 0.5), 0);
	st.held_hist[10] = 98; /* [10, 11) us */
	st.held_hist[500] = 2;
	ck_assert_double_eq(sampler_held_quantile(&st, 0.5), 11);
	ck_assert_double_eq(sampler_held_quantile(&st, 0.99), 501);
}
END_TEST

START_TEST(test_lines_bounded)
{
	struct sampler_lines out = { 0 };
	for (int i = 0; i < SAMPLER_LINES + 3; i++)
		sampler_line(&out, "line %d", i);
	ck_assert_uint_eq(out.n, SAMPLER_LINES);
	ck_assert_str_eq(out.line[SAMPLER_LINES - 1], "line 3");
	char long_text[2 * SAMPLER_LINE];
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	struct sampler_lines one = { 0 };
	sampler_line(&one, "%s", long_text);
	ck_assert_uint_eq(strlen(one.line[0]), SAMPLER_LINE - 1);
}
END_TEST

/* All went well: no line at all (the counts are the log's). */
START_TEST(test_ptrace_describe_quiet)
{
	struct sampler_stats st = { .ticks = 1000, .stops = 2000, .held_ns_total = 1, .waits_without_stop = 9 };
	struct sampler_lines out = { 0 };
	sampler_ptrace.describe(SAMPLER_CPU, 100, &st, &out);
	ck_assert_uint_eq(out.n, 0);
	sampler_ptrace.describe(SAMPLER_WAITS, 20, &st, &out);
	ck_assert_uint_eq(out.n, 0);
}
END_TEST

/* Stops that did not happen, threads stopped to read a wait: said in
 * plain words, with the numbers. */
START_TEST(test_ptrace_describe_actionable)
{
	struct sampler_stats st = { .stops = 395, .lost = 5, .waits_unwound = 2 };
	struct sampler_lines out = { 0 };
	sampler_ptrace.describe(SAMPLER_CPU, 100, &st, &out);
	ck_assert_uint_eq(out.n, 1);
	ck_assert_msg(strstr(out.line[0], "5 of 400 threads asked to stop did not within 100 ms"),
		      "%s", out.line[0]);
	struct sampler_lines waits = { 0 };
	sampler_ptrace.describe(SAMPLER_WAITS, 20, &st, &waits);
	ck_assert_uint_eq(waits.n, 2);
	ck_assert_msg(strstr(waits.line[1], "2 threads were stopped briefly"), "%s", waits.line[1]);
}
END_TEST

static Suite *sampler_suite(void)
{
	Suite *s = suite_create("sampler");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_stats_add);
	tcase_add_test(tc, test_held_quantile);
	tcase_add_test(tc, test_lines_bounded);
	tcase_add_test(tc, test_ptrace_describe_quiet);
	tcase_add_test(tc, test_ptrace_describe_actionable);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(sampler_suite)
