#include "check_main.h"
#include "config.h"
#include "base/err.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int load(struct config *c, struct err *e, int argc, char **argv)
{
	err_clear(e);
	return config_load(c, argc, argv, e);
}

START_TEST(test_defaults_and_options)
{
	struct config c;
	struct err e;
	char *argv[] = { "pprof-fcgi", "--target-pid", "42", "--threads=8", "--log-level", "debug" };
	ck_assert_int_eq(load(&c, &e, 6, argv), CONFIG_RUN);
	ck_assert_int_eq(c.target_pid, 42);
	ck_assert_int_eq(c.threads, 8);
	ck_assert_int_eq(c.max_seconds, 300);
	ck_assert_int_eq(c.log_level, LOG_LVL_DEBUG);
	ck_assert_ptr_null(c.listen);
	config_release(&c);
}
END_TEST

START_TEST(test_actions)
{
	struct config c;
	struct err e;
	char *help[] = { "pprof-fcgi", "--bogus", "--help" };
	ck_assert_int_eq(load(&c, &e, 3, help), CONFIG_HELP);
	config_release(&c);
	char *version[] = { "pprof-fcgi", "--version" };
	ck_assert_int_eq(load(&c, &e, 2, version), CONFIG_VERSION);
	config_release(&c);
	/* --check reads the whole config first, and needs a target as a run does */
	char *check[] = { "pprof-fcgi", "--check", "--target-pid", "42", "--debug-dir", "/d" };
	ck_assert_int_eq(load(&c, &e, 6, check), CONFIG_CHECK);
	ck_assert_int_eq(c.target_pid, 42);
	ck_assert_str_eq(c.debug_dir, "/d");
	config_release(&c);
	char *untargeted[] = { "pprof-fcgi", "--check" };
	ck_assert_int_eq(load(&c, &e, 2, untargeted), -1);
	config_release(&c);
}
END_TEST

START_TEST(test_bad_options)
{
	struct config c;
	struct err e;
	struct { int argc; char *argv[4]; const char *msg; } cases[] = {
		{ 1, { "p" }, "no target: give --target-pid, --target-pidfile or --target-exe" },
		{ 3, { "p", "--target-pid", "x" }, "--target-pid: invalid value \"x\" (an integer from 1 to 2147483647)" },
		{ 4, { "p", "--target-pid", "1", "--nope" }, "unknown option \"--nope\" (see --help)" },
		{ 4, { "p", "--target-pid", "1", "stray" }, "unknown option \"stray\" (see --help)" },
		{ 3, { "p", "--target-pid", "1", }, NULL },
		{ 2, { "p", "--threads" }, "--threads: missing value" },
		{ 4, { "p", "--target-pid", "1", "--max-seconds=0" }, "--max-seconds: invalid value \"0\" (an integer from 1 to 86400)" },
		{ 4, { "p", "--target-pid", "1", "--target-exe=x" }, "more than one target: give only one of target-pid, target-pidfile, target-exe" },
		{ 4, { "p", "--target-pid", "1", "--listen=nowhere" }, "listen: invalid value \"nowhere\" (unix:/path.sock or HOST:PORT)" },
		{ 4, { "p", "--target-pid", "1", "--log-level=loud" }, "--log-level: invalid value \"loud\" (error, warn, info or debug)" },
		{ 3, { "p", "--config", "/nonexistent/pprof.conf" }, "open /nonexistent/pprof.conf: no such file or directory" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = load(&c, &e, cases[i].argc, cases[i].argv);
		if (!cases[i].msg) {
			ck_assert_int_eq(rc, 0);
		} else {
			ck_assert_int_eq(rc, -1);
			ck_assert_str_eq(e.msg, cases[i].msg);
		}
		config_release(&c);
	}
}
END_TEST

START_TEST(test_file_and_precedence)
{
	char path[] = "/tmp/check_config.XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# comment\n\n  threads = 6  # trailing comment\n"
			   "target-exe = my-service\nmax-seconds=60\nlisten = unix:/run/x.sock\n";
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	struct config c;
	struct err e;
	char *argv[] = { "p", "--config", path, "--threads", "2" };
	ck_assert_int_eq(load(&c, &e, 5, argv), 0);
	ck_assert_int_eq(c.threads, 2); /* the command line wins */
	ck_assert_int_eq(c.max_seconds, 60);
	ck_assert_str_eq(c.target_exe, "my-service");
	ck_assert_str_eq(c.listen, "unix:/run/x.sock");
	config_release(&c);
	unlink(path);
}
END_TEST

START_TEST(test_file_errors_name_file_line_key)
{
	struct config c;
	struct err e = { 0 };
	struct { const char *text, *msg; } cases[] = {
		{ "threads = 4\nbogus = 1\n", "f.conf:2: unknown key \"bogus\"" },
		{ "\n\nthreads 4\n", "f.conf:3: expected \"key = value\", got \"threads 4\"" },
		{ "threads = many\n", "f.conf:1: threads: invalid value \"many\" (an integer from 1 to 256)" },
		{ "target-exe =\n", "f.conf:1: target-exe: empty value" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&c, 0, sizeof c);
		err_clear(&e);
		ck_assert_int_eq(config_parse_text(&c, "f.conf", cases[i].text, &e), -1);
		ck_assert_str_eq(e.msg, cases[i].msg);
		config_release(&c);
	}
}
END_TEST

START_TEST(test_usage_lists_every_key)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	config_usage(f);
	fclose(f);
	const char *keys[] = { "--listen", "--target-pid", "--target-pidfile", "--target-exe",
			       "--max-seconds", "--threads", "--log-level", "--config" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		ck_assert_msg(strstr(text, keys[i]), "usage lacks %s", keys[i]);
	free(text);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_defaults_and_options);
	tcase_add_test(tc, test_actions);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_file_and_precedence);
	tcase_add_test(tc, test_file_errors_name_file_line_key);
	tcase_add_test(tc, test_usage_lists_every_key);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
