/* threads: the thread-dump type (filled and released as the stack
 * endpoints do) and Go's debug=2 text of it (text_threads). */
#include "check_main.h"
#include "base/buf.h"
#include "base/vec.h"
#include "encode/text.h"
#include "profile/profile.h"
#include "profile/threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a thread as the dump's taker does: its stack copied. */
static void add_thread(struct thread_dump *d, pid_t tid, const char *name, char state,
		       const char *wait, uint64_t cpu_ns, bool without_stop, const uint64_t *pcs,
		       size_t npcs)
{
	struct thread_stack *t = VEC_PUSH(d->t, d->n, d->cap, 4);
	t->tid = tid;
	snprintf(t->name, sizeof t->name, "%s", name);
	t->state = state;
	t->wait = wait;
	t->cpu_total_ns = cpu_ns;
	t->without_stop = without_stop;
	t->pcs = malloc((npcs ? npcs : 1) * sizeof *t->pcs);
	ck_assert_ptr_nonnull(t->pcs);
	memcpy(t->pcs, pcs, npcs * sizeof *pcs);
	t->npcs = npcs;
}

/* p's samples, one per thread of d, in d's order (the labels keep them
 * apart), as the goroutine builder makes them for debug=2. */
static void add_samples(struct profile *p, const struct thread_dump *d)
{
	for (size_t i = 0; i < d->n; i++) {
		int64_t v[PROFILE_MAX_VALUES] = { 1 };
		profile_add_sample(p, d->t[i].pcs, d->t[i].npcs, v, d->t[i].tid, d->t[i].name);
	}
}

START_TEST(test_text_threads)
{
	struct thread_dump d = { 0 };
	uint64_t main_pcs[] = { 0x1010, 0x2040, 0x9999 }, worker_pcs[] = { 0x9999 };
	add_thread(&d, 42, "svc", 'S', "futex", 1500000000ULL, true, main_pcs, 3);
	add_thread(&d, 43, "worker", 'R', NULL, 0, false, worker_pcs, 1);
	ck_assert_uint_eq(d.n, 2);

	struct profile p;
	profile_init_count(&p, "goroutine");
	/* an inlined frame and its caller; a frame known only by its mapping;
	 * a frame known by nothing */
	size_t li = profile_location(&p, 0x1010); /* before taking an address: it may move */
	struct profile_location *l = &p.locations[li];
	l->sym_offset = 0x10;
	profile_location_add_line(l, "inner", NULL, "/src/a.h", 3);
	profile_location_add_line(l, "work", NULL, "/src/svc.c", 12);
	struct profile_mapping m = { .start = 0x2000, .limit = 0x3000, .offset = 0x1000,
				     .file = "/lib/libx.so" };
	size_t mid = profile_add_mapping(&p, &m);
	li = profile_location(&p, 0x2040);
	p.locations[li].mapping = mid;
	add_samples(&p, &d);
	ck_assert_uint_eq(p.nsamples, 2);

	struct buf out;
	buf_init(&out, "text", 1 << 20);
	text_threads(&out, &d, &p);
	ck_assert_str_eq(buf_cstr(&out),
			 "thread 42 \"svc\" [sleeping in futex, 1.50 s on CPU, read without "
			 "stopping it]:\n"
			 "inner(...)\n\t/src/a.h:3 +0x10\n"
			 "work(...)\n\t/src/svc.c:12 +0x10\n"
			 "?\?(...)\n\t/lib/libx.so +0x1040\n"
			 "?\?(...)\n\t?? 0x9999\n"
			 "\n"
			 "thread 43 \"worker\" [running, 0.00 s on CPU]:\n"
			 "?\?(...)\n\t?? 0x9999\n");
	buf_release(&out);
	profile_release(&p);
	thread_dump_release(&d);
}
END_TEST

/* Only threads that have their sample are written; a state /proc may add
 * later is "unknown", a frame without a file "??". */
START_TEST(test_text_threads_bounds)
{
	struct thread_dump d = { 0 };
	uint64_t pcs[] = { 0x5000 };
	add_thread(&d, 7, "a", 'W', NULL, 0, false, pcs, 1);
	add_thread(&d, 8, "b", 'S', NULL, 0, false, pcs, 1);
	struct profile p;
	profile_init_count(&p, "goroutine");
	size_t li = profile_location(&p, 0x5000);
	profile_location_add_line(&p.locations[li], "f", NULL, NULL, 0);
	int64_t v[PROFILE_MAX_VALUES] = { 1 };
	profile_add_sample(&p, pcs, 1, v, 7, "a"); /* thread 8 has none */
	struct buf out;
	buf_init(&out, "text", 1 << 20);
	text_threads(&out, &d, &p);
	ck_assert_str_eq(buf_cstr(&out), "thread 7 \"a\" [unknown, 0.00 s on CPU]:\n"
					 "f(...)\n\t??:0 +0x0\n");
	buf_release(&out);

	/* an empty dump writes nothing */
	struct thread_dump empty = { 0 };
	buf_init(&out, "text", 1 << 20);
	text_threads(&out, &empty, &p);
	ck_assert_uint_eq(out.len, 0);
	buf_release(&out);
	profile_release(&p);
	thread_dump_release(&d);
}
END_TEST

START_TEST(test_release)
{
	struct thread_dump d = { 0 };
	thread_dump_release(&d); /* an empty dump */
	ck_assert_ptr_null(d.t);
	uint64_t pcs[64];
	for (size_t i = 0; i < 64; i++)
		pcs[i] = 0x1000 + i;
	for (pid_t tid = 1; tid <= 100; tid++) /* grows past its first capacity */
		add_thread(&d, tid, "t", 'S', NULL, 0, false, pcs, (size_t)tid % 65);
	ck_assert_uint_eq(d.n, 100);
	ck_assert_uint_ge(d.cap, 100);
	ck_assert_uint_eq(d.t[99].npcs, 100 % 65);
	ck_assert(d.t[99].pcs[34] == 0x1000 + 34);
	d.stops = 3;
	thread_dump_release(&d);
	ck_assert_ptr_null(d.t);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_uint_eq(d.cap, 0);
	ck_assert_uint_eq(d.stops, 0);
	thread_dump_release(&d); /* released twice: nothing left to free */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_text_threads);
	tcase_add_test(tc, test_text_threads_bounds);
	tcase_add_test(tc, test_release);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
