#include "check_main.h"
#include "base/clock.h"

#include <time.h>
#include <unistd.h>

START_TEST(test_clocks)
{
	/* monotonic: never backwards, and a 10 ms sleep is at least 10 ms */
	int64_t a = clock_ns(CLOCK_MONOTONIC);
	usleep(10000);
	int64_t b = clock_ns(CLOCK_MONOTONIC);
	ck_assert_int_ge(b - a, 10000000);
	/* boot time includes suspend: never behind monotonic read before it */
	int64_t m = clock_ns(CLOCK_MONOTONIC);
	ck_assert_int_ge(clock_ns(CLOCK_BOOTTIME), m);
	/* realtime in ns agrees with time() to the second */
	time_t t0 = time(NULL);
	int64_t r = clock_ns(CLOCK_REALTIME) / 1000000000LL;
	time_t t1 = time(NULL);
	ck_assert_int_ge(r, (int64_t)t0);
	ck_assert_int_le(r, (int64_t)t1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_clocks);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
