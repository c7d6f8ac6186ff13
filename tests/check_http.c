/* http: statuses by error kind, Go's error bodies, attachment headers. */
#include "check_main.h"
#include "base/buf.h"
#include "base/err.h"
#include "edge/http.h"

#include <string.h>

/* The header block as a string (it is not NUL-terminated). */
static const char *headers(struct resp *r)
{
	static char text[4096];
	size_t n = r->headers.len < sizeof text - 1 ? r->headers.len : sizeof text - 1;
	memcpy(text, r->headers.data, n);
	text[n] = '\0';
	return text;
}

START_TEST(test_status_by_kind)
{
	ck_assert_int_eq(http_status(ERR_NONE), 200);
	ck_assert_int_eq(http_status(ERR_INVALID), 400);
	ck_assert_int_eq(http_status(ERR_NOT_FOUND), 404);
	ck_assert_int_eq(http_status(ERR_METHOD), 405);
	ck_assert_int_eq(http_status(ERR_TOO_LARGE), 413);
	/* the target's state, not the request's fault: try again later */
	ck_assert_int_eq(http_status(ERR_TARGET), 503);
	ck_assert_int_eq(http_status(ERR_PERMISSION), 503);
	ck_assert_int_eq(http_status(ERR_BUSY), 503);
	ck_assert_int_eq(http_status(ERR_INTERNAL), 500);
	ck_assert_str_eq(http_reason(503), "Service Unavailable");
	ck_assert_str_eq(http_reason(404), "Not Found");
	ck_assert_str_eq(http_reason(299), "Unknown");
}
END_TEST

/* An error replaces whatever the endpoint had written, as Go's pprof
 * answers one: text/plain, X-Go-Pprof: 1, the message on one line. */
START_TEST(test_error_replaces_body)
{
	struct resp r;
	resp_init(&r);
	ck_assert_int_eq(r.status, 200);
	buf_puts(&r.body, "half a profile");
	resp_attachment(&r, "profile");
	struct err e = { 0 };
	err_set(&e, ERR_BUSY, "target pid %d already traced by pid %d (gdb)", 42, 43);
	resp_from_err(&r, &e);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
	ck_assert_str_eq(headers(&r), "X-Go-Pprof: 1\r\n");
	ck_assert_uint_eq(r.body.len, strlen("target pid 42 already traced by pid 43 (gdb)\n"));
	ck_assert_int_eq(memcmp(r.body.data, "target pid 42 already traced by pid 43 (gdb)\n", r.body.len), 0);
	/* an error without text still says something */
	struct err empty = { .kind = ERR_INTERNAL };
	resp_from_err(&r, &empty);
	ck_assert_int_eq(r.status, 500);
	ck_assert_int_eq(memcmp(r.body.data, "internal error\n", r.body.len), 0);
	resp_release(&r);
}
END_TEST

START_TEST(test_attachment_and_headers)
{
	struct resp r;
	resp_init(&r);
	resp_attachment(&r, "heap");
	ck_assert_str_eq(r.content_type, "application/octet-stream");
	ck_assert_str_eq(headers(&r), "Content-Disposition: attachment; filename=\"heap\"\r\n");
	/* a value never carries a line break into the header block */
	resp_header(&r, "X-Test", "a\r\nInjected: %s", "yes");
	ck_assert_ptr_nonnull(strstr(headers(&r), "X-Test: a  Injected: yes\r\n"));
	ck_assert_ptr_null(strstr(headers(&r), "\nInjected"));
	resp_release(&r);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_status_by_kind);
	tcase_add_test(tc, test_error_replaces_body);
	tcase_add_test(tc, test_attachment_and_headers);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(http_suite)
