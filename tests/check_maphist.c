/* maphist: a PC is tagged with the mapping there at the sample's time; a
 * later mapping over the same range ends the earlier one (munmap makes no
 * record), exec ends them all, a mapping seen again is not added twice,
 * another pid's history is forgotten, and what has no file is not kept. */
#include "collect/maphist.h"
#include "collect/ptrace_maps.h"
#include "check_main.h"

static struct maphist_entry lib(uint64_t start, const char *file)
{
	return (struct maphist_entry){ .start = start, .len = 0x2000, .pgoff = 0x1000,
				       .file = (char *)file };
}

static uint64_t tag(size_t i, uint64_t off)
{
	return MAPHIST_BIT | (uint64_t)i << MAPHIST_SHIFT | off;
}

START_TEST(test_tag_by_time)
{
	struct maphist h;
	maphist_init(&h);
	struct maphist_entry a = lib(0x7000000000, "/lib/a.so"), b = lib(0x7000001000, "/lib/b.so");
	maphist_add(&h, 10, &a, 100);
	maphist_add(&h, 10, &b, 200); /* over a's second page: a is gone */
	uint64_t pcs[4] = { 0x7000000010, 0x7000001010, 0x5000, 0x7000000010 };
	maphist_tag(&h, 10, 150, pcs, 2);
	ck_assert_uint_eq(pcs[0], tag(0, 0x10));
	ck_assert_uint_eq(pcs[1], tag(0, 0x1010));
	ck_assert(maphist_tagged(pcs[0]));
	maphist_tag(&h, 10, 250, pcs + 2, 2);
	ck_assert_uint_eq(pcs[2], 0x5000); /* in nothing recorded */
	ck_assert_uint_eq(pcs[3], 0x7000000010); /* a ended at 200 */
	ck_assert(!maphist_tagged(pcs[3]));
	uint64_t before[1] = { 0x7000000010 };
	maphist_tag(&h, 10, 50, before, 1); /* before a appeared */
	ck_assert_uint_eq(before[0], 0x7000000010);
	uint64_t other[1] = { 0x7000001010 };
	maphist_tag(&h, 11, 250, other, 1); /* another process */
	ck_assert_uint_eq(other[0], 0x7000001010);
	maphist_release(&h);
}
END_TEST

START_TEST(test_exec_seen_again_forget)
{
	struct maphist h;
	maphist_init(&h);
	struct maphist_entry a = lib(0x7000000000, "/lib/a.so");
	maphist_add(&h, 10, &a, 100);
	a.build_id_size = 2;
	a.build_id[0] = 0xab;
	maphist_add(&h, 10, &a, 150); /* the same mapping: its build-id taken */
	struct maphist_entry vdso = lib(0x7100000000, "[vdso]"), anon = lib(0x7200000000, "//anon");
	maphist_add(&h, 10, &vdso, 150);
	maphist_add(&h, 10, &anon, 150);
	size_t n;
	struct maphist_entry *c = maphist_copy(&h, 10, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(c[0].file, "/lib/a.so");
	ck_assert_uint_eq(c[0].build_id_size, 2);
	ck_assert_uint_eq(c[0].build_id[0], 0xab);
	maphist_free_copy(c, n);
	maphist_exec(&h, 10, 300);
	uint64_t pcs[2] = { 0x7000000010, 0x7000000010 };
	maphist_tag(&h, 10, 299, pcs, 1);
	maphist_tag(&h, 10, 300, pcs + 1, 1);
	ck_assert_uint_eq(pcs[0], tag(0, 0x10));
	ck_assert_uint_eq(pcs[1], 0x7000000010);
	maphist_add(&h, 11, &a, 400); /* a new pid: the old one's forgotten */
	c = maphist_copy(&h, 10, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(c);
	c = maphist_copy(&h, 11, &n);
	ck_assert_uint_eq(n, 1);
	maphist_free_copy(c, n);
	maphist_release(&h);
}
END_TEST

START_TEST(test_seed_from_proc)
{
	struct maphist h;
	maphist_init(&h);
	maphist_seed(&h, getpid(), 100);
	size_t n;
	struct maphist_entry *c = maphist_copy(&h, getpid(), &n);
	/* this program's own text is among them, from the start of time t */
	uint64_t here = (uint64_t)(uintptr_t)&tag;
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(c[i].file[0], '/');
		found |= here - c[i].start < c[i].len && c[i].from_ns == 100;
	}
	ck_assert(found);
	maphist_free_copy(c, n);
	maphist_seed(&h, getpid(), 200); /* again: nothing new */
	size_t n2;
	c = maphist_copy(&h, getpid(), &n2);
	ck_assert_uint_eq(n2, n);
	maphist_free_copy(c, n2);
	maphist_release(&h);
}
END_TEST

/* ptrace's way in: the maps as read now against the history */
START_TEST(test_sync)
{
	struct maphist h;
	maphist_init(&h);
	const char *first =
		"7000000000-7000002000 r-xp 00001000 08:01 11 /lib/a.so\n"
		"7100000000-7100002000 r-xp 00000000 00:00 0 [vdso]\n"
		"7200000000-7200002000 r-xp 00001000 08:01 12 /lib/b.so (deleted)\n"
		"7300000000-7300002000 rw-p 00001000 08:01 13 /lib/data.so\n";
	maphist_sync(&h, 10, first, 100, 100);
	size_t n;
	struct maphist_entry *c = maphist_copy(&h, 10, &n);
	ck_assert_uint_eq(n, 2); /* executable files only */
	ck_assert_str_eq(c[1].file, "/lib/b.so"); /* as it was mapped */
	maphist_free_copy(c, n);
	/* a.so unloaded and c.so loaded since: a ends at the read (250), c
	 * is there from the tick's start (200), b is the same mapping */
	const char *second =
		"7200000000-7200002000 r-xp 00001000 08:01 12 /lib/b.so (deleted)\n"
		"7400000000-7400002000 r-xp 00000000 08:01 14 /lib/c.so\n";
	maphist_sync(&h, 10, second, 200, 250);
	c = maphist_copy(&h, 10, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(c[0].to_ns, 250);
	ck_assert_int_eq(c[1].to_ns, INT64_MAX);
	ck_assert_int_eq(c[2].from_ns, 200);
	maphist_free_copy(c, n);
	uint64_t pcs[3] = { 0x7000000010, 0x7000000010, 0x7400000010 };
	maphist_tag(&h, 10, 240, pcs, 1);
	maphist_tag(&h, 10, 260, pcs + 1, 2);
	ck_assert_uint_eq(pcs[0], tag(0, 0x10));
	ck_assert_uint_eq(pcs[1], 0x7000000010);
	ck_assert_uint_eq(pcs[2], tag(2, 0x10));
	/* a seed ends nothing */
	maphist_sync(&h, 10, first, 300, -1);
	c = maphist_copy(&h, 10, &n);
	ck_assert_uint_eq(n, 4); /* a again, as a new mapping */
	ck_assert_int_eq(c[2].to_ns, INT64_MAX);
	ck_assert_int_eq(c[3].from_ns, 300);
	maphist_free_copy(c, n);
	maphist_release(&h);
}
END_TEST

/* a frame outside every executable mapping read prompts a read of the
 * maps, once: after it the same frame prompts none until they change */
START_TEST(test_ptrace_maps_miss)
{
	struct maphist h;
	maphist_init(&h);
	struct ptrace_maps m = { 0 };
	uint64_t here = (uint64_t)(uintptr_t)&tag, junk = 0x10;
	ck_assert(ptrace_maps_miss(&m, &here, 1)); /* nothing read yet */
	ck_assert(!ptrace_maps_read(&m, &h, getpid(), 100)); /* the first read: no change */
	ck_assert(!ptrace_maps_miss(&m, &here, 1));
	ck_assert(ptrace_maps_miss(&m, &junk, 1));
	ptrace_maps_note(&m, &junk, 1);
	ck_assert(!ptrace_maps_miss(&m, &junk, 1));
	ptrace_maps_read(&m, &h, getpid(), 200); /* changed or not (ASan maps as it runs) */
	size_t n;
	struct maphist_entry *c = maphist_copy(&h, getpid(), &n);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= here - c[i].start < c[i].len && c[i].from_ns == 100;
	ck_assert(found);
	maphist_free_copy(c, n);
	ptrace_maps_exec(&m, &h, getpid(), 300); /* the old image ends; the next tick reads */
	ck_assert(ptrace_maps_miss(&m, &here, 1));
	uint64_t pc = here;
	maphist_tag(&h, getpid(), 300, &pc, 1);
	ck_assert_uint_eq(pc, here);
	ptrace_maps_release(&m);
	maphist_release(&h);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("maphist");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_tag_by_time);
	tcase_add_test(tc, test_exec_seen_again_forget);
	tcase_add_test(tc, test_seed_from_proc);
	tcase_add_test(tc, test_sync);
	tcase_add_test(tc, test_ptrace_maps_miss);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
