/* http: a fresh response, extra headers (formatted, line breaks removed,
 * bounded), attachments, Go-style errors that replace whatever the
 * endpoint had written, the kind -> status and status -> reason tables. */
#include "base/buf.h"
#include "base/err.h"
#include "check_main.h"
#include "edge/http.h"
#include "edge/query.h"

#include <string.h>

#define TEXT "text/plain; charset=utf-8"

/* The whole response: status, type, extra headers, body. */
static void resp_is(const struct resp *r, int status, const char *type, const char *headers,
		    const char *body)
{
	ck_assert_int_eq(r->status, status);
	ck_assert_str_eq(r->content_type, type);
	ck_assert_str_eq(buf_cstr(&r->headers), headers);
	ck_assert_str_eq(buf_cstr(&r->body), body);
}

/* s filled with c, NUL-terminated. */
static const char *filled(char *s, size_t size, char c)
{
	memset(s, c, size - 1);
	s[size - 1] = '\0';
	return s;
}

START_TEST(test_init_defaults)
{
	struct resp r;
	resp_init(&r);
	resp_is(&r, 200, TEXT, "", "");
	resp_release(&r);
}
END_TEST

START_TEST(test_header_lines)
{
	struct resp r;
	resp_init(&r);
	resp_header(&r, "X-Test", "%d threads, %s", 7, "ok");
	resp_header(&r, "Cache-Control", "no-store");
	ck_assert_str_eq(buf_cstr(&r.headers), "X-Test: 7 threads, ok\r\nCache-Control: no-store\r\n");
	ck_assert_str_eq(buf_cstr(&r.body), "");
	resp_release(&r);
}
END_TEST

START_TEST(test_header_no_line_break)
{
	struct resp r;
	resp_init(&r);
	/* a value from the target (a thread name, a path) cannot add a header */
	resp_header(&r, "X-Name", "%s", "a\r\nSet-Cookie: x=1\nb\rc");
	ck_assert_str_eq(buf_cstr(&r.headers), "X-Name: a  Set-Cookie: x=1 b c\r\n");
	resp_release(&r);
}
END_TEST

START_TEST(test_header_long_value_cut)
{
	struct resp r;
	resp_init(&r);
	char big[3000];
	resp_header(&r, "X-Big", "%s", filled(big, sizeof big, 'v'));
	const char *h = buf_cstr(&r.headers);
	size_t len = strlen(h);
	/* cut, never unterminated: still one line ending in CRLF */
	ck_assert_uint_lt(len, sizeof big);
	ck_assert_uint_gt(len, 1000);
	ck_assert_str_eq(h + len - 3, "v\r\n");
	ck_assert_ptr_eq(strchr(h, '\n'), h + len - 1);
	resp_release(&r);
}
END_TEST

START_TEST(test_headers_bounded)
{
	struct resp r;
	resp_init(&r);
	char v[900];
	filled(v, sizeof v, 'h');
	for (int i = 0; i < 40; i++)
		resp_header(&r, "X-Fill", "%s", v);
	struct err e = { 0 };
	ck_assert_int_eq(buf_check(&r.headers, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TOO_LARGE);
	ck_assert_uint_le(r.headers.len, 16 * 1024);
	resp_release(&r);
}
END_TEST

START_TEST(test_body_bounded)
{
	struct resp r;
	resp_init(&r);
	buf_puts(&r.body, "start");
	/* one byte over the largest response body: refused, nothing copied */
	buf_add(&r.body, "", (size_t)HTTP_BODY_OUT_MAX + 1);
	struct err e = { 0 };
	ck_assert_int_eq(buf_check(&r.body, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TOO_LARGE);
	ck_assert_str_eq(buf_cstr(&r.body), "start");
	resp_release(&r);
}
END_TEST

START_TEST(test_attachment)
{
	struct resp r;
	resp_init(&r);
	resp_attachment(&r, "profile");
	resp_is(&r, 200, "application/octet-stream",
		"Content-Disposition: attachment; filename=\"profile\"\r\n", "");
	resp_release(&r);
}
END_TEST

START_TEST(test_error_replaces_response)
{
	struct resp r;
	resp_init(&r);
	/* an endpoint had started an attachment, then failed */
	resp_attachment(&r, "heap");
	buf_puts(&r.body, "\x1f\x8b half a gzip");
	resp_error(&r, 400, "seconds and debug params are incompatible");
	/* Go's answer: X-Go-Pprof: 1 and the message as one line */
	resp_is(&r, 400, TEXT, "X-Go-Pprof: 1\r\n", "seconds and debug params are incompatible\n");
	resp_release(&r);
}
END_TEST

START_TEST(test_error_after_overflow)
{
	struct resp r;
	resp_init(&r);
	buf_add(&r.body, "", (size_t)HTTP_BODY_OUT_MAX + 1);
	ck_assert(r.body.failed);
	/* the error body is written, not swallowed by the failed state */
	resp_error(&r, 413, "response body: too large");
	struct err e = { 0 };
	ck_assert_int_eq(buf_check(&r.body, &e), 0);
	ck_assert_int_eq(buf_check(&r.headers, &e), 0);
	resp_is(&r, 413, TEXT, "X-Go-Pprof: 1\r\n", "response body: too large\n");
	resp_release(&r);
}
END_TEST

START_TEST(test_from_err)
{
	struct resp r;
	resp_init(&r);
	struct err e = { 0 };
	err_set(&e, ERR_TARGET, "attach pid %d: no such process", 4242);
	resp_from_err(&r, &e);
	resp_is(&r, 503, TEXT, "X-Go-Pprof: 1\r\n", "attach pid 4242: no such process\n");

	/* a kind without text still says something */
	struct err bare = { .kind = ERR_INTERNAL };
	resp_from_err(&r, &bare);
	resp_is(&r, 500, TEXT, "X-Go-Pprof: 1\r\n", "internal error\n");
	resp_release(&r);
}
END_TEST

START_TEST(test_status_of_every_kind)
{
	ck_assert_int_eq(http_status(ERR_NONE), 200);
	ck_assert_int_eq(http_status(ERR_INVALID), 400);
	ck_assert_int_eq(http_status(ERR_NOT_FOUND), 404);
	ck_assert_int_eq(http_status(ERR_METHOD), 405);
	ck_assert_int_eq(http_status(ERR_TOO_LARGE), 413);
	ck_assert_int_eq(http_status(ERR_TARGET), 503);
	ck_assert_int_eq(http_status(ERR_PERMISSION), 503);
	ck_assert_int_eq(http_status(ERR_BUSY), 503);
	ck_assert_int_eq(http_status(ERR_INTERNAL), 500);
	ck_assert_int_eq(http_status((enum err_kind)99), 500);
}
END_TEST

START_TEST(test_reason_of_every_status)
{
	/* every status http_status gives, and the index redirect, has its text */
	for (int k = ERR_NONE; k <= ERR_INTERNAL; k++)
		ck_assert_str_ne(http_reason(http_status((enum err_kind)k)), "Unknown");
	ck_assert_str_eq(http_reason(200), "OK");
	ck_assert_str_eq(http_reason(301), "Moved Permanently");
	ck_assert_str_eq(http_reason(400), "Bad Request");
	ck_assert_str_eq(http_reason(404), "Not Found");
	ck_assert_str_eq(http_reason(405), "Method Not Allowed");
	ck_assert_str_eq(http_reason(413), "Payload Too Large");
	ck_assert_str_eq(http_reason(500), "Internal Server Error");
	ck_assert_str_eq(http_reason(503), "Service Unavailable");
	ck_assert_str_eq(http_reason(418), "Unknown");
	ck_assert_str_eq(http_reason(0), "Unknown");
}
END_TEST

START_TEST(test_req_release)
{
	struct req r = { .method = "GET", .script_name = "", .path_info = "/heap",
			 .query_string = "debug=1&seconds=5" };
	struct err e = { 0 };
	ck_assert_int_eq(query_parse(&r.query, r.query_string, &e), 0);
	ck_assert_str_eq(query_get(&r.query, "seconds"), "5");
	req_release(&r);
	ck_assert_ptr_null(r.query.params);
	ck_assert_uint_eq(r.query.count, 0);
	/* twice, or on a request the router never filled: harmless */
	req_release(&r);
	struct req empty = { 0 };
	req_release(&empty);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_init_defaults);
	tcase_add_test(tc, test_header_lines);
	tcase_add_test(tc, test_header_no_line_break);
	tcase_add_test(tc, test_header_long_value_cut);
	tcase_add_test(tc, test_headers_bounded);
	tcase_add_test(tc, test_body_bounded);
	tcase_add_test(tc, test_attachment);
	tcase_add_test(tc, test_error_replaces_response);
	tcase_add_test(tc, test_error_after_overflow);
	tcase_add_test(tc, test_from_err);
	tcase_add_test(tc, test_status_of_every_kind);
	tcase_add_test(tc, test_reason_of_every_status);
	tcase_add_test(tc, test_req_release);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
