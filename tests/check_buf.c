#include "base/buf.h"
#include "check_main.h"
#include "base/err.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_append_and_printf)
{
	struct buf b;
	buf_init(&b, "test", 1024);
	ck_assert_str_eq(buf_cstr(&b), "");
	buf_puts(&b, "abc");
	buf_putc(&b, '-');
	buf_printf(&b, "%d:%s", 42, "x");
	buf_add(&b, "\0z", 2);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_int_eq(memcmp(b.data, "abc-42:x\0z", 10), 0);
	ck_assert_int_eq(b.data[b.len], '\0');
	struct err e = { 0 };
	ck_assert_int_eq(buf_check(&b, &e), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_grows_past_initial)
{
	struct buf b;
	buf_init(&b, "test", 1 << 20);
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, "%04d", i % 10000);
	ck_assert_uint_eq(b.len, 40000);
	ck_assert_int_eq(strncmp(b.data + 39996, "9999", 4), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_max_is_an_error_not_a_crash)
{
	struct buf b;
	buf_init(&b, "small thing", 8);
	buf_puts(&b, "12345678");
	struct err e = { 0 };
	ck_assert_int_eq(buf_check(&b, &e), 0);
	buf_puts(&b, "9");
	buf_printf(&b, "%s", "more");
	ck_assert(b.failed);
	ck_assert_uint_eq(b.len, 8); /* later appends ignored */
	ck_assert_int_eq(buf_check(&b, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TOO_LARGE);
	ck_assert_str_eq(e.msg, "small thing over its limit of 8 bytes");
	buf_reset(&b);
	ck_assert(!b.failed);
	ck_assert_str_eq(buf_cstr(&b), "");
	buf_release(&b);
}
END_TEST

START_TEST(test_detach_owns)
{
	struct buf b;
	buf_init(&b, "test", 100);
	size_t len = 99;
	char *empty = buf_detach(&b, &len);
	ck_assert_str_eq(empty, "");
	ck_assert_uint_eq(len, 0);
	free(empty);
	buf_puts(&b, "kept");
	char *d = buf_detach(&b, &len);
	ck_assert_str_eq(d, "kept");
	ck_assert_ptr_null(b.data);
	free(d);
	buf_release(&b);
}
END_TEST

START_TEST(test_read_file)
{
	char path[] = "/tmp/check_buf.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	char data[10000];
	memset(data, 'q', sizeof data);
	ck_assert_int_eq(write(fd, data, sizeof data), (int)sizeof data);
	close(fd);
	struct buf b;
	buf_init(&b, "file", 1 << 20);
	struct err e = { 0 };
	ck_assert_int_eq(buf_read_file(&b, path, &e), 0);
	ck_assert_uint_eq(b.len, sizeof data);
	buf_release(&b);
	buf_init(&b, "file", 100);
	ck_assert_int_eq(buf_read_file(&b, path, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TOO_LARGE);
	buf_release(&b);
	unlink(path);
	err_clear(&e);
	buf_init(&b, "file", 100);
	ck_assert_int_eq(buf_read_file(&b, path, &e), -1);
	ck_assert_str_eq(e.msg + strlen(e.msg) - strlen(": no such file or directory"),
			 ": no such file or directory");
	ck_assert_int_eq(strncmp(e.msg, "open /tmp/check_buf.", 20), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_err_first_failure_wins)
{
	struct err e = { 0 };
	ck_assert_int_eq(err_set(&e, ERR_TARGET, "first %d", 1), -1);
	err_set(&e, ERR_INTERNAL, "second");
	ck_assert_int_eq(e.kind, ERR_TARGET);
	ck_assert_str_eq(e.msg, "first 1");
	err_clear(&e);
	err_errno(&e, ERR_PERMISSION, 1, "ptrace(PTRACE_SEIZE) tid %d", 4242);
	ck_assert_str_eq(e.msg, "ptrace(PTRACE_SEIZE) tid 4242: operation not permitted");
	ck_assert_int_eq(err_set(NULL, ERR_INTERNAL, "no crash"), -1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_append_and_printf);
	tcase_add_test(tc, test_grows_past_initial);
	tcase_add_test(tc, test_max_is_an_error_not_a_crash);
	tcase_add_test(tc, test_detach_owns);
	tcase_add_test(tc, test_read_file);
	tcase_add_test(tc, test_err_first_failure_wins);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
