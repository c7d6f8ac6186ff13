/* debugpkg: the debug package named from dpkg's answer, and the owner of
 * a file read from dpkg's lists (a directory of the test's own). */
#include "check_main.h"
#include "profile/debugpkg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

START_TEST(test_name)
{
	char out[64];
	ck_assert(debugpkg_name("redis-tools", "/usr/bin/redis-check-rdb", out, sizeof out));
	ck_assert_str_eq(out, "redis-tools-dbgsym");
	/* dpkg's name of a Multi-Arch package carries its architecture */
	ck_assert(debugpkg_name("libssl3:amd64", "/usr/lib/x86_64-linux-gnu/libssl.so.3", out,
				sizeof out));
	ck_assert_str_eq(out, "libssl3-dbgsym");
	/* glibc's symbols are libc6-dbg's, in the main archive */
	ck_assert(debugpkg_name("libc6:amd64", "/usr/lib/x86_64-linux-gnu/libc.so.6", out,
				sizeof out));
	ck_assert_str_eq(out, "libc6-dbg");
	ck_assert(debugpkg_name(NULL, "/opt/glibc/lib/ld-linux-x86-64.so.2", out, sizeof out));
	ck_assert_str_eq(out, "libc6-dbg");
	/* no package owns it: nothing to install */
	ck_assert(!debugpkg_name(NULL, "/home/me/my-service", out, sizeof out));
	ck_assert_str_eq(out, "");
	ck_assert(!debugpkg_name("", "/home/me/my-service", out, sizeof out));
}
END_TEST

START_TEST(test_owner)
{
	char dir[] = "/tmp/check_debugpkg.XXXXXX", path[256], pkg[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/redis-tools.list", dir);
	check_write_file(path, "/.\n/usr\n/usr/bin\n/usr/bin/redis-check-rdb\n/usr/bin/redis-cli\n");
	snprintf(path, sizeof path, "%s/libc6:amd64.list", dir);
	check_write_file(path, "/lib/x86_64-linux-gnu/libc.so.6\n");
	snprintf(path, sizeof path, "%s/redis-tools.md5sums", dir);
	check_write_file(path, "0123 usr/bin/my-service\n"); /* not a list */

	ck_assert_int_eq(debugpkg_owner(dir, "/usr/bin/redis-check-rdb", pkg, sizeof pkg), 1);
	ck_assert_str_eq(pkg, "redis-tools");
	/* merged /usr: listed under /lib, mapped from /usr/lib */
	ck_assert_int_eq(debugpkg_owner(dir, "/usr/lib/x86_64-linux-gnu/libc.so.6", pkg,
					sizeof pkg), 1);
	ck_assert_str_eq(pkg, "libc6:amd64");
	/* a prefix of a listed path is not that path */
	ck_assert_int_eq(debugpkg_owner(dir, "/usr/bin/redis-check", pkg, sizeof pkg), 0);
	ck_assert_int_eq(debugpkg_owner(dir, "/usr/bin/my-service", pkg, sizeof pkg), 0);
	/* no lists: not a dpkg system */
	snprintf(path, sizeof path, "%s/none", dir);
	ck_assert_int_eq(debugpkg_owner(path, "/usr/bin/redis-check-rdb", pkg, sizeof pkg), -1);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *debugpkg_suite(void)
{
	Suite *s = suite_create("debugpkg");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_name);
	tcase_add_test(tc, test_owner);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(debugpkg_suite)
