#include "check_main.h"
#include "base/err.h"
#include "edge/query.h"

#include <stdlib.h>
#include <string.h>

START_TEST(test_basic_and_repeated)
{
	struct query q;
	struct err e = { 0 };
	ck_assert_int_eq(query_parse(&q, "seconds=5&debug=1&seconds=9", &e), 0);
	ck_assert_uint_eq(q.count, 3);
	ck_assert_str_eq(query_get(&q, "seconds"), "5"); /* first wins, as Go */
	ck_assert_str_eq(query_get(&q, "debug"), "1");
	ck_assert_ptr_null(query_get(&q, "hz"));
	query_release(&q);
}
END_TEST

START_TEST(test_decoding)
{
	struct query q;
	struct err e = { 0 };
	ck_assert_int_eq(query_parse(&q, "a=%41%62+c&%73econds=1;empty=&bare&bad=%zz&half=%4&nul=5%00", &e), 0);
	ck_assert_str_eq(query_get(&q, "a"), "Ab c");
	ck_assert_str_eq(query_get(&q, "seconds"), "1");
	ck_assert_str_eq(query_get(&q, "empty"), "");
	ck_assert_str_eq(query_get(&q, "bare"), "");
	ck_assert_str_eq(query_get(&q, "bad"), "%zz");
	ck_assert_str_eq(query_get(&q, "half"), "%4");
	ck_assert_str_eq(query_get(&q, "nul"), "5%00"); /* never cut short */
	query_release(&q);
}
END_TEST

START_TEST(test_empty_and_null)
{
	struct query q;
	struct err e = { 0 };
	ck_assert_int_eq(query_parse(&q, NULL, &e), 0);
	ck_assert_uint_eq(q.count, 0);
	ck_assert_ptr_null(query_get(&q, "x"));
	query_release(&q);
	ck_assert_int_eq(query_parse(&q, "&&&;", &e), 0);
	ck_assert_uint_eq(q.count, 0);
	query_release(&q);
	ck_assert_int_eq(query_parse(&q, "=", &e), 0);
	ck_assert_uint_eq(q.count, 1);
	ck_assert_str_eq(query_get(&q, ""), "");
	query_release(&q);
}
END_TEST

START_TEST(test_bounds)
{
	struct query q;
	struct err e = { 0 };
	char *many = malloc(QUERY_MAX_PARAMS * 4 + 8);
	many[0] = '\0';
	for (int i = 0; i <= QUERY_MAX_PARAMS; i++)
		strcat(many, "a=1&");
	ck_assert_int_eq(query_parse(&q, many, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TOO_LARGE);
	ck_assert_ptr_null(q.params);
	free(many);
	char *huge = malloc(QUERY_MAX_LEN + 2);
	memset(huge, 'x', QUERY_MAX_LEN + 1);
	huge[QUERY_MAX_LEN + 1] = '\0';
	err_clear(&e);
	ck_assert_int_eq(query_parse(&q, huge, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TOO_LARGE);
	free(huge);
}
END_TEST

START_TEST(test_parse_long)
{
	long v = 0;
	ck_assert_int_eq(query_parse_long("30", &v), 0);
	ck_assert_int_eq(v, 30);
	ck_assert_int_eq(query_parse_long("+7", &v), 0);
	ck_assert_int_eq(v, 7);
	ck_assert_int_eq(query_parse_long("-1", &v), 0);
	ck_assert_int_eq(v, -1);
	const char *bad[] = { "", "abc", "1e9", "1.5", " 1", "1 ", "0x10", "+", "-",
			      "99999999999999999999", "5%00" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(query_parse_long(bad[i], &v) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("query");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_basic_and_repeated);
	tcase_add_test(tc, test_decoding);
	tcase_add_test(tc, test_empty_and_null);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_parse_long);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
