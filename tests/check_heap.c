/* heap: Go's scaling of sampled heap values, the agent's thread table
 * read back into creation stacks, and frames in unloaded libraries. */
#include "check_main.h"
#include "ctx.h"
#include "collect/heap.h"
#include "ep/ep.h"
#include "profile/profile.h"
#include "profile/symbolize.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

START_TEST(scale_as_go)
{
	int64_t n, b;
	heap_scale(524288, 0, 0, 0, &n, &b);
	ck_assert(n == 0 && b == 0);
	heap_scale(1, 100, 7, 700, &n, &b); /* every allocation sampled: as is */
	ck_assert(n == 7 && b == 700);
	heap_scale(0, 100, 7, 700, &n, &b);
	ck_assert(n == 7 && b == 700);
	/* one block of exactly the rate: 1/(1-e^-1) = 1.58198 */
	heap_scale(524288, 524288, 1, 524288, &n, &b);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(b, 829411);
	/* big blocks are almost always sampled: scale ~1.0187 */
	heap_scale(524288, 2 << 20, 32, 32 << 21, &n, &b);
	ck_assert_int_eq(n, 32);
	ck_assert_int_eq(b, (int64_t)((double)(32 << 21) / (1 - exp(-4.0))));
	/* small blocks stand for many: 100 B at 512 KiB, one sample ~5243 */
	heap_scale(524288, 100, 1, 100, &n, &b);
	ck_assert_int_ge(n, 5243);
	ck_assert_int_le(n, 5244);
	/* the size asked for sets the scale, not the bytes held: 100 B asked,
	 * 104 held, is still one in ~5243, standing for 104 B each */
	heap_scale(524288, 100, 1, 104, &n, &b);
	ck_assert_int_ge(n, 5243);
	ck_assert_int_le(n, 5244);
	ck_assert_int_ge(b, 5243 * 104);
	ck_assert_int_le(b, 5244 * 104);
	/* without the size asked for: the average, as Go's legacy text */
	heap_scale(524288, 0, 1, 100, &n, &b);
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
	struct pprof_agent_bucket b[3];
	memset(b, 0, sizeof b);
	/* taken before any unload: 0x1000 and 0x9000 were unloaded since */
	b[0] = (struct pprof_agent_bucket){ .kind = PPROF_AGENT_ALLOC, .depth = 3, .stamp = 0,
					    .pcs = { 0x1101, 0x5001, 0x9001 } };
	/* taken after unload 1, in the library loaded at 0x1000 since */
	b[1] = (struct pprof_agent_bucket){ .kind = PPROF_AGENT_ALLOC, .depth = 2, .stamp = 1,
					    .pcs = { 0x1001, 0x9001 } };
	/* read from the target: a "return address" at the library's first byte */
	b[2] = (struct pprof_agent_bucket){ .kind = PPROF_AGENT_ALLOC, .depth = 1, .stamp = 0,
					    .pcs = { 0x1000 } };
	struct pprof_agent_unload u[2] = {
		{ .lo = 0x1000, .hi = 0x2000, .file = "/nonexistent/libgone.so",
		  .build_id_size = 2, .build_id = { 0xab, 0xcd } },
		{ .lo = 0x9000, .hi = 0xa000 },
	};
	struct heap_snapshot s = { .present = true, .buckets = b, .unloads = u, .nunloads = 2 };
	s.h.nbuckets = 3;
	const uint64_t lib0 = HEAP_UNLOADED_BIT, lib1 = HEAP_UNLOADED_BIT | 1ULL << HEAP_UNLOADED_SHIFT;
	uint64_t pcs[8];
	ck_assert_uint_eq(heap_bucket_stack(&s, 0, pcs, 8), 3);
	ck_assert_uint_eq(pcs[0], lib0 + 0x100); /* by its offset in the library */
	ck_assert_uint_eq(pcs[1], 0x5000);
	ck_assert_uint_eq(pcs[2], lib1);
	ck_assert_uint_eq(heap_bucket_stack(&s, 1, pcs, 8), 2);
	ck_assert_uint_eq(pcs[0], 0x1000); /* what is loaded there is its library */
	ck_assert_uint_eq(pcs[1], lib1); /* unload 2 came after */
	s.nunloads = 1; /* as read before unload 2 */
	ck_assert_uint_eq(heap_bucket_stack(&s, 1, pcs, 8), 2);
	ck_assert_uint_eq(pcs[1], 0x9000);
	s.nunloads = 2;
	ck_assert_uint_eq(heap_bucket_stack(&s, 2, pcs, 8), 1);
	ck_assert_uint_eq(pcs[0], lib0); /* still in the library's range */
	ck_assert_uint_eq(heap_bucket_stack(&s, 3, pcs, 8), 0); /* no such bucket */

	/* neither file can name them: labelled, and the profile says why */
	struct ctx ctx = { .symbolizer = symbolizer_new() };
	pthread_mutex_init(&ctx.sym_lock, NULL);
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "inuse_space", "bytes");
	uint64_t stack[3] = { lib0 + 0x100, 0x5000, lib1 };
	int64_t v[PROFILE_MAX_VALUES] = { 100 };
	profile_add_sample(&p, stack, 3, v, 0, NULL);
	ck_assert_uint_eq(ep_name_unloaded(&ctx, 0, &s, &p, "the allocation"), 2);
	for (int i = 0; i < 3; i += 2) {
		const struct profile_location *l = &p.locations[profile_location(&p, stack[i])];
		ck_assert_uint_eq(l->nlines, 1);
		ck_assert_str_eq(l->lines[0].function, HEAP_UNLOADED_NAME);
		ck_assert_uint_ne(l->mapping, 0);
	}
	ck_assert_str_eq(p.mappings[0].file, "/nonexistent/libgone.so");
	ck_assert_str_eq(p.mappings[0].build_id, "abcd");
	ck_assert_uint_eq(p.locations[profile_location(&p, 0x5000)].nlines, 0);
	ck_assert_uint_eq(p.ncomments, 2);
	ck_assert_ptr_nonnull(strstr(p.comments[0], "/nonexistent/libgone.so, unloaded since "
						    "the allocation, are shown as " HEAP_UNLOADED_NAME));
	ck_assert_ptr_nonnull(strstr(p.comments[1], "a library, unloaded since the allocation"));
	ck_assert_ptr_nonnull(strstr(p.comments[1], "no build-id"));
	ck_assert_uint_eq(ep_name_unloaded(&ctx, 0, &s, &p, "the allocation"), 2);
	ck_assert_uint_eq(p.ncomments, 2); /* named once */
	profile_release(&p);
	symbolizer_free(ctx.symbolizer);
	pthread_mutex_destroy(&ctx.sym_lock);
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
