/* text: Go's legacy text formats from a profile built by hand. */
#include "check_main.h"
#include "base/buf.h"
#include "encode/text.h"
#include "profile/profile.h"
#include "profile/threads.h"

#include <string.h>

static const char *text(struct buf *b)
{
	buf_putc(b, '\0');
	return b->data;
}

/* Two stacks: main -> work (seen 3 times) and main -> idle (once). */
static void two_stacks(struct profile *p, const char *t0, const char *t1)
{
	profile_init(p);
	profile_add_type(p, t0, "count");
	if (t1)
		profile_add_type(p, t1, "nanoseconds");
	size_t m = profile_location(p, 0x1000);
	profile_location_add_line(&p->locations[m], "main", "main", "main.c", 10);
	size_t w = profile_location(p, 0x2000);
	profile_location_add_line(&p->locations[w], "work", "work", "work.c", 20);
	p->locations[w].sym_offset = 0x10;
	size_t i = profile_location(p, 0x3000); /* no symbols */
	(void)i;
	uint64_t busy[] = { 0x2000, 0x1000 }, idle[] = { 0x3000, 0x1000 };
	int64_t one[2] = { 1, 100 }, three[2] = { 3, 900 };
	profile_add_sample(p, idle, 2, one, 0, NULL);
	profile_add_sample(p, busy, 2, three, 0, NULL);
}

START_TEST(test_counts)
{
	struct profile p;
	two_stacks(&p, "goroutine", NULL);
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_counts(&b, "goroutine", &p);
	/* most frequent first; callers as return addresses (+1); "#" lines */
	ck_assert_str_eq(text(&b), "goroutine profile: total 4\n"
				   "3 @ 0x2000 0x1001\n"
				   "#\t0x2000\twork+0x10\twork.c:20\n"
				   "#\t0x1000\tmain+0x0\tmain.c:10\n"
				   "\n"
				   "1 @ 0x3000 0x1001\n"
				   "#\t0x3000\n"
				   "#\t0x1000\tmain+0x0\tmain.c:10\n"
				   "\n");
	buf_release(&b);
	profile_release(&p);
}
END_TEST

START_TEST(test_contention)
{
	struct profile p;
	two_stacks(&p, "contentions", "delay");
	p.samples[0].values[1] = 0; /* no delay: left out */
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_contention(&b, "mutex", &p);
	ck_assert_str_eq(text(&b), "--- mutex:\ncycles/second=1000000000\nsampling period=1\n"
				   "900 3 @ 0x2000 0x1001\n"
				   "#\t0x2000\twork+0x10\twork.c:20\n"
				   "#\t0x1000\tmain+0x0\tmain.c:10\n"
				   "\n");
	buf_release(&b);
	profile_release(&p);
}
END_TEST

START_TEST(test_memory_map)
{
	struct profile p;
	profile_init(&p);
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_memory_map(&b, &p); /* no mappings: nothing */
	ck_assert_uint_eq(b.len, 0);
	char file[] = "/usr/bin/app", id[] = "abcd";
	struct profile_mapping m = { .start = 0x400000, .limit = 0x401000, .offset = 0x1000,
				     .file = file, .build_id = id };
	profile_add_mapping(&p, &m);
	text_memory_map(&b, &p);
	ck_assert_str_eq(text(&b), "\n--- Memory map: ---\n400000-401000 r-xp /usr/bin/app (@1000) abcd\n");
	buf_release(&b);
	profile_release(&p);
}
END_TEST

START_TEST(test_threads)
{
	struct profile p;
	two_stacks(&p, "goroutine", NULL);
	/* thread i is sample i */
	struct thread_stack t[2] = {
		{ .tid = 7, .name = "main", .state = 'S', .wait = "futex", .cpu_total_ns = 1500000000 },
		{ .tid = 8, .name = "worker", .state = 'R', .without_stop = true },
	};
	struct thread_dump d = { .t = t, .n = 2 };
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_threads(&b, &d, &p);
	ck_assert_str_eq(text(&b), "thread 7 \"main\" [sleeping in futex, 1.50 s on CPU]:\n"
				   "?\?(...)\n\t?? 0x3000\n"
				   "main(...)\n\tmain.c:10 +0x0\n"
				   "\n"
				   "thread 8 \"worker\" [running, 0.00 s on CPU, read without stopping it]:\n"
				   "work(...)\n\twork.c:20 +0x10\n"
				   "main(...)\n\tmain.c:10 +0x0\n");
	buf_release(&b);
	profile_release(&p);
}
END_TEST

static Suite *text_suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_contention);
	tcase_add_test(tc, test_memory_map);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(text_suite)
