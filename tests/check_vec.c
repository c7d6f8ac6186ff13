/* vec: capacity doubles from `first` up to what is needed, a reserve that
 * fits changes nothing, pushed elements are zeroed even where the memory
 * held something, contents survive growth, overflow aborts. */
#include "base/vec.h"
#include "check_main.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>

struct item {
	uint64_t a;
	char name[13]; /* an odd size: zeroing covers the padding too */
};

START_TEST(test_reserve_first_capacity)
{
	int *v = NULL;
	size_t cap = 0;
	VEC_RESERVE(v, cap, 1, 16);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(cap, 16);
	free(v);

	/* first 0 starts at 1 */
	v = NULL;
	cap = 0;
	VEC_RESERVE(v, cap, 1, 0);
	ck_assert_uint_eq(cap, 1);
	VEC_RESERVE(v, cap, 2, 0);
	ck_assert_uint_eq(cap, 2);
	VEC_RESERVE(v, cap, 3, 0);
	ck_assert_uint_eq(cap, 4);
	free(v);
}
END_TEST

START_TEST(test_reserve_doubles_past_need)
{
	int *v = NULL;
	size_t cap = 0;
	/* more than first: doubles from first until it fits */
	VEC_RESERVE(v, cap, 100, 4);
	ck_assert_uint_eq(cap, 128);
	/* grows from the current capacity, not from first */
	VEC_RESERVE(v, cap, 129, 4);
	ck_assert_uint_eq(cap, 256);
	VEC_RESERVE(v, cap, 1000, 4);
	ck_assert_uint_eq(cap, 1024);
	/* the whole capacity is usable */
	for (size_t i = 0; i < cap; i++)
		v[i] = (int)i;
	ck_assert_int_eq(v[1023], 1023);
	free(v);
}
END_TEST

START_TEST(test_reserve_that_fits_is_a_no_op)
{
	int *v = NULL;
	size_t cap = 0;
	VEC_RESERVE(v, cap, 8, 8);
	int *before = v;
	VEC_RESERVE(v, cap, 1, 8);
	VEC_RESERVE(v, cap, 5, 8);
	VEC_RESERVE(v, cap, 8, 8);
	ck_assert_ptr_eq(v, before);
	ck_assert_uint_eq(cap, 8);
	free(v);
}
END_TEST

START_TEST(test_push_zeroes_and_counts)
{
	struct item *v = NULL;
	size_t n = 0, cap = 0;
	struct item *first = VEC_PUSH(v, n, cap, 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(cap, 2);
	ck_assert_ptr_eq(first, &v[0]);
	ck_assert_uint_eq(first->a, 0);
	/* dirty every slot, then push again over the same memory */
	VEC_PUSH(v, n, cap, 2);
	ck_assert_uint_eq(n, 2);
	memset(v, 0xab, cap * sizeof *v);
	n = 0;
	for (int k = 0; k < 2; k++) {
		struct item *it = VEC_PUSH(v, n, cap, 2);
		ck_assert_ptr_eq(it, &v[k]);
		static const struct item zero;
		ck_assert_int_eq(memcmp(it, &zero, sizeof zero), 0);
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(cap, 2);
	/* the third grows the array; earlier contents stay */
	v[0].a = 7;
	strcpy(v[1].name, "kept");
	struct item *third = VEC_PUSH(v, n, cap, 2);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(cap, 4);
	ck_assert_ptr_eq(third, &v[2]);
	ck_assert_uint_eq(third->a, 0);
	ck_assert_uint_eq(v[0].a, 7);
	ck_assert_str_eq(v[1].name, "kept");
	free(v);
}
END_TEST

START_TEST(test_push_many)
{
	enum { N = 100000 };
	uint64_t *v = NULL;
	size_t n = 0, cap = 0, grows = 0, last_cap = 0;
	for (uint64_t i = 0; i < N; i++) {
		uint64_t *slot = VEC_PUSH(v, n, cap, 64);
		*slot = i * 3;
		if (cap != last_cap) {
			grows++;
			last_cap = cap;
		}
	}
	ck_assert_uint_eq(n, N);
	ck_assert_uint_eq(cap, 131072);
	/* 64, 128, ..., 131072: doubling, not one realloc per push */
	ck_assert_uint_eq(grows, 12);
	for (uint64_t i = 0; i < N; i++)
		ck_assert_uint_eq(v[i], i * 3);
	free(v);
}
END_TEST

START_TEST(test_xrealloc)
{
	/* n 0 still gives a pointer that free takes */
	void *p = vec_realloc(NULL, 0);
	ck_assert_ptr_nonnull(p);
	p = vec_realloc(p, 64);
	memset(p, 'x', 64);
	p = vec_realloc(p, 4096);
	ck_assert_int_eq(((char *)p)[63], 'x');
	free(p);
}
END_TEST

/* The two overflows abort before allocating: capacity doubling past
 * SIZE_MAX, and capacity times element size past SIZE_MAX. */
START_TEST(test_overflow_count_aborts)
{
	size_t cap = 0;
	vec_grow(NULL, &cap, SIZE_MAX / 2 + 2, 1, 1);
}
END_TEST

START_TEST(test_overflow_size_aborts)
{
	size_t cap = 0;
	vec_grow(NULL, &cap, 4, SIZE_MAX / 2, 4);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vec");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_reserve_first_capacity);
	tcase_add_test(tc, test_reserve_doubles_past_need);
	tcase_add_test(tc, test_reserve_that_fits_is_a_no_op);
	tcase_add_test(tc, test_push_zeroes_and_counts);
	tcase_add_test(tc, test_push_many);
	tcase_add_test(tc, test_xrealloc);
	tcase_add_test_raise_signal(tc, test_overflow_count_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, test_overflow_size_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
