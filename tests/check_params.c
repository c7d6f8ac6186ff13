#include "check_main.h"
#include "base/err.h"
#include "edge/params.h"
#include "edge/query.h"

#include <string.h>

#define DELTA (PARAMS_SECONDS_DELTA | PARAMS_DEBUG)
#define WINDOW (PARAMS_SECONDS_WINDOW | PARAMS_HZ)

/* Parses raw for an endpoint with flags; returns the error text or "". */
static const char *run(const char *raw, unsigned flags, long def, struct params *p)
{
	static struct err e;
	struct query q;
	err_clear(&e);
	ck_assert_int_eq(query_parse(&q, raw, &e), 0);
	int rc = params_parse(&q, flags, def, 300, p, &e);
	query_release(&q);
	ck_assert_int_eq(rc == 0, e.kind == ERR_NONE);
	if (rc < 0)
		ck_assert_int_eq(e.kind, ERR_INVALID);
	return e.msg;
}

START_TEST(test_defaults)
{
	struct params p;
	ck_assert_str_eq(run("", WINDOW, 30, &p), "");
	ck_assert(!p.has_seconds);
	ck_assert_int_eq(p.seconds, 30);
	ck_assert_int_eq(p.hz, 100);
	ck_assert_int_eq(p.debug, 0);
	ck_assert_str_eq(run("seconds=&debug=", DELTA, 0, &p), ""); /* empty = absent */
	ck_assert(!p.has_seconds);
}
END_TEST

START_TEST(test_seconds)
{
	struct params p;
	const char *bad = "invalid value for \"seconds\" - must be a positive integer";
	ck_assert_str_eq(run("seconds=5", WINDOW, 30, &p), "");
	ck_assert(p.has_seconds);
	ck_assert_int_eq(p.seconds, 5);
	ck_assert_str_eq(run("seconds=abc", WINDOW, 30, &p), bad);
	ck_assert_str_eq(run("seconds=0", WINDOW, 30, &p), bad);
	ck_assert_str_eq(run("seconds=-1", DELTA, 0, &p), bad);
	ck_assert_str_eq(run("seconds=1e9", DELTA, 0, &p), bad);
	ck_assert_str_eq(run("seconds=99999999999999999999", DELTA, 0, &p), bad);
	ck_assert_str_eq(run("seconds=301", WINDOW, 30, &p),
			 "seconds 301 exceeds max request duration of 300");
	ck_assert_str_eq(run("seconds=300", WINDOW, 30, &p), "");
	ck_assert_str_eq(run("seconds=1", 0, 0, &p),
			 "\"seconds\" parameter is not supported for this profile type");
	/* Go checks the value before whether the profile takes it */
	ck_assert_str_eq(run("seconds=x", 0, 0, &p), bad);
}
END_TEST

START_TEST(test_debug)
{
	struct params p;
	const char *bad = "invalid value for \"debug\" - must be 0, 1 or 2";
	ck_assert_str_eq(run("debug=2", DELTA, 0, &p), "");
	ck_assert_int_eq(p.debug, 2);
	ck_assert_str_eq(run("debug=3", DELTA, 0, &p), bad);
	ck_assert_str_eq(run("debug=-1", DELTA, 0, &p), bad);
	ck_assert_str_eq(run("debug=x", DELTA, 0, &p), bad);
	ck_assert_str_eq(run("debug=x", WINDOW, 30, &p), ""); /* ignored on /profile */
	ck_assert_str_eq(run("seconds=1&debug=1", DELTA, 0, &p),
			 "seconds and debug params are incompatible");
	ck_assert_str_eq(run("seconds=1&debug=0", DELTA, 0, &p), "");
	ck_assert_str_eq(run("seconds=2&debug=1", WINDOW, 30, &p), "");
}
END_TEST

/* sample_index and inlines, for viewers: on pprof endpoints only; the
 * type's name is the endpoint's to check */
START_TEST(test_viewer_params)
{
	struct params p;
	struct query q;
	struct err e = { 0 };
	ck_assert_int_eq(query_parse(&q, "sample_index=inuse_objects&inlines=split&seconds=2", &e), 0);
	ck_assert_int_eq(params_parse(&q, DELTA | PARAMS_PPROF, 0, 300, &p, &e), 0);
	ck_assert_str_eq(p.sample_index, "inuse_objects");
	ck_assert(p.split_inlines);
	ck_assert_int_eq(params_parse(&q, DELTA, 0, 300, &p, &e), 0); /* not a pprof endpoint */
	ck_assert_ptr_null(p.sample_index);
	ck_assert(!p.split_inlines);
	query_release(&q);
	ck_assert_str_eq(run("", WINDOW | PARAMS_PPROF, 30, &p), "");
	ck_assert_ptr_null(p.sample_index);
	ck_assert(!p.split_inlines);
	ck_assert_str_eq(run("inlines=join", WINDOW | PARAMS_PPROF, 30, &p),
			 "invalid value for \"inlines\" - must be split");
	ck_assert_str_eq(run("inlines=&sample_index=", WINDOW | PARAMS_PPROF, 30, &p), "");
	ck_assert_ptr_null(p.sample_index);
}
END_TEST

START_TEST(test_hz)
{
	struct params p;
	const char *bad = "invalid value for \"hz\" - must be an integer from 1 to 1000";
	ck_assert_str_eq(run("hz=1", WINDOW, 30, &p), "");
	ck_assert_int_eq(p.hz, 1);
	ck_assert_str_eq(run("hz=1000", WINDOW, 30, &p), "");
	ck_assert_str_eq(run("hz=0", WINDOW, 30, &p), bad);
	ck_assert_str_eq(run("hz=1001", WINDOW, 30, &p), bad);
	ck_assert_str_eq(run("hz=fast", WINDOW, 30, &p), bad);
	ck_assert_str_eq(run("hz=0", DELTA, 0, &p), ""); /* not a rate endpoint */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("params");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_seconds);
	tcase_add_test(tc, test_debug);
	tcase_add_test(tc, test_hz);
	tcase_add_test(tc, test_viewer_params);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
