/* heap: Go's scaling of sampled heap values, and the agent's thread table
 * read back into creation stacks. */
#include "check_main.h"
#include "heap.h"
#include "profile.h"

#include <math.h>
#include <string.h>

START_TEST(scale_as_go)
{
	int64_t n, b;
	heap_scale(524288, 0, 0, &n, &b);
	ck_assert(n == 0 && b == 0);
	heap_scale(1, 7, 700, &n, &b); /* every allocation sampled: as is */
	ck_assert(n == 7 && b == 700);
	heap_scale(0, 7, 700, &n, &b);
	ck_assert(n == 7 && b == 700);
	/* one block of exactly the rate: 1/(1-e^-1) = 1.58198 */
	heap_scale(524288, 1, 524288, &n, &b);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(b, 829411);
	/* big blocks are almost always sampled: scale ~1.0187 */
	heap_scale(524288, 32, 32 << 21, &n, &b);
	ck_assert_int_eq(n, 32);
	ck_assert_int_eq(b, (int64_t)((double)(32 << 21) / (1 - exp(-4.0))));
	/* small blocks stand for many: 100 B at 512 KiB, one sample ~5243 */
	heap_scale(524288, 1, 100, &n, &b);
	ck_assert_int_ge(n, 5243);
	ck_assert_int_le(n, 5244);
}
END_TEST

START_TEST(thread_stack_latest_wins)
{
	struct pprof_agent_bucket buckets[3];
	struct pprof_agent_thread threads[8];
	memset(buckets, 0, sizeof buckets);
	memset(threads, 0, sizeof threads);
	buckets[0] = (struct pprof_agent_bucket){ .kind = PPROF_AGENT_THREAD, .depth = 2,
						  .pcs = { 0x1001, 0x2001 } };
	buckets[1] = (struct pprof_agent_bucket){ .kind = PPROF_AGENT_THREAD, .depth = 1,
						  .pcs = { 0x3001 } };
	buckets[2] = (struct pprof_agent_bucket){ .kind = PPROF_AGENT_ALLOC, .depth = 1,
						  .pcs = { 0x4001 } };
	threads[1] = (struct pprof_agent_thread){ .tid = 42, .bucket = 0, .seq = 1 };
	threads[5] = (struct pprof_agent_thread){ .tid = 42, .bucket = 1, .seq = 9 }; /* tid reused */
	threads[6] = (struct pprof_agent_thread){ .tid = 43, .bucket = 2, .seq = 3 }; /* not a thread stack */
	threads[7] = (struct pprof_agent_thread){ .tid = 44, .bucket = 99, .seq = 4 }; /* out of range */
	struct heap_snapshot s = { .present = true, .buckets = buckets, .threads = threads };
	s.h.nbuckets = 3;
	s.h.max_threads = 8;
	uint64_t pcs[8];
	ck_assert_uint_eq(heap_thread_stack(&s, 42, pcs, 8), 1);
	ck_assert_uint_eq(pcs[0], 0x3000); /* return address minus one */
	ck_assert_uint_eq(heap_thread_stack(&s, 43, pcs, 8), 0);
	ck_assert_uint_eq(heap_thread_stack(&s, 44, pcs, 8), 0);
	ck_assert_uint_eq(heap_thread_stack(&s, 45, pcs, 8), 0);
	threads[5].tid = 0;
	ck_assert_uint_eq(heap_thread_stack(&s, 42, pcs, 8), 2);
	ck_assert_uint_eq(pcs[1], 0x2000);
	ck_assert_uint_eq(heap_thread_stack(&s, 42, pcs, 1), 1); /* bounded by max */
	s.present = false;
	ck_assert_uint_eq(heap_thread_stack(&s, 42, pcs, 8), 0);
}
END_TEST

START_TEST(unloaded_frames_tagged)
{
	struct pprof_agent_bucket b[2];
	memset(b, 0, sizeof b);
	/* taken before any unload: 0x1000 and 0x9000 were unloaded since */
	b[0] = (struct pprof_agent_bucket){ .kind = PPROF_AGENT_ALLOC, .depth = 3, .stamp = 0,
					    .pcs = { 0x1001, 0x5001, 0x9001 } };
	/* taken after unload 1, in the library loaded at 0x1000 since */
	b[1] = (struct pprof_agent_bucket){ .kind = PPROF_AGENT_ALLOC, .depth = 2, .stamp = 1,
					    .pcs = { 0x1001, 0x9001 } };
	struct pprof_agent_unload u[2] = { { 0x1000, 0x2000 }, { 0x9000, 0xa000 } };
	struct heap_snapshot s = { .present = true, .buckets = b, .unloads = u, .nunloads = 2 };
	s.h.nbuckets = 2;
	uint64_t pcs[8];
	ck_assert_uint_eq(heap_bucket_stack(&s, 0, pcs, 8), 3);
	ck_assert_uint_eq(pcs[0], 0x1000 | HEAP_UNLOADED_BIT);
	ck_assert_uint_eq(pcs[1], 0x5000);
	ck_assert_uint_eq(pcs[2], 0x9000 | HEAP_UNLOADED_BIT);
	ck_assert_uint_eq(heap_bucket_stack(&s, 1, pcs, 8), 2);
	ck_assert_uint_eq(pcs[0], 0x1000); /* what is loaded there is its library */
	ck_assert_uint_eq(pcs[1], 0x9000 | HEAP_UNLOADED_BIT); /* unload 2 came after */
	s.nunloads = 1; /* as read before unload 2 */
	ck_assert_uint_eq(heap_bucket_stack(&s, 1, pcs, 8), 2);
	ck_assert_uint_eq(pcs[1], 0x9000);
	ck_assert_uint_eq(heap_bucket_stack(&s, 2, pcs, 8), 0); /* no such bucket */

	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "inuse_space", "bytes");
	uint64_t stack[2] = { 0x1000 | HEAP_UNLOADED_BIT, 0x5000 };
	int64_t v[PROFILE_MAX_VALUES] = { 100 };
	profile_add_sample(&p, stack, 2, v, 0, NULL);
	ck_assert_uint_eq(heap_label_unloaded(&p, "the allocation"), 1);
	const struct profile_location *l = &p.locations[profile_location(&p, stack[0])];
	ck_assert_uint_eq(l->nlines, 1);
	ck_assert_str_eq(l->lines[0].function, HEAP_UNLOADED_NAME);
	ck_assert_uint_eq(p.locations[profile_location(&p, 0x5000)].nlines, 0);
	ck_assert_uint_eq(heap_label_unloaded(&p, "the allocation"), 0); /* named once */
	profile_release(&p);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("heap");
	TCase *tc = tcase_create("heap");
	tcase_add_test(tc, scale_as_go);
	tcase_add_test(tc, thread_stack_latest_wins);
	tcase_add_test(tc, unloaded_frames_tagged);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
