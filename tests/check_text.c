/* text: Go's debug=1 texts (counts, contention, heap, memory map) byte for
 * byte from a small symbolized profile, the line grammar they share with
 * Go's own answers, and the debug=2 thread blocks in outline. */
#include "base/buf.h"
#include "check_main.h"
#include "encode/text.h"
#include "profile/profile.h"
#include "profile/threads.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

#define LEAF 0x401000
#define INLINED 0x402010 /* two frames: inl_helper inlined into caller_fn */
#define MAIN 0x403020
#define NOSYM 0x404000   /* in the mapping, no symbol */
#define ANON 0x406000    /* a function without a file */
#define OUTSIDE 0x7f0000001000ULL /* in no mapping */

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void sym(struct profile *p, uint64_t addr, const char *fn, const char *file, int64_t line,
		uint64_t off)
{
	struct profile_location *l = &p->locations[profile_location(p, addr)];
	profile_location_add_line(l, fn, fn, file, line);
	l->sym_offset = off;
}

/* Names for every address the tests use, and the one mapping. */
static void symbolize(struct profile *p)
{
	struct profile_mapping m = { .start = 0x400000, .limit = 0x500000, .offset = 0,
				     .file = "/usr/bin/svc", .build_id = "beef01" };
	size_t mid = profile_add_mapping(p, &m);
	for (size_t i = 0; i < p->nlocations; i++)
		if (p->locations[i].address < m.limit)
			p->locations[i].mapping = mid;
	for (size_t i = 0; i < p->nlocations; i++)
		switch (p->locations[i].address) {
		case LEAF: sym(p, LEAF, "leaf", "leaf.c", 3, 0x10); break;
		case INLINED:
			sym(p, INLINED, "inl_helper", "a.c", 5, 0x8);
			sym(p, INLINED, "caller_fn", "a.c", 20, 0x8);
			break;
		case MAIN: sym(p, MAIN, "main", "main.c", 9, 0x20); break;
		case ANON: sym(p, ANON, "anon", NULL, 0, 0); break;
		}
}

static void add(struct profile *p, const uint64_t *pcs, size_t n, int64_t v0, int64_t v1,
		int64_t v2, int64_t v3)
{
	int64_t v[PROFILE_MAX_VALUES] = { v0, v1, v2, v3 };
	profile_add_sample(p, pcs, n, v, 0, NULL);
}

/* The "#" lines of the stacks below, as every text writes them. */
#define FRAMES_LEAF                              \
	"#\t0x401000\tleaf+0x10\tleaf.c:3\n"       \
	"#\t0x402010\tinl_helper+0x8\ta.c:5\n"     \
	"#\t0x402010\tcaller_fn+0x8\ta.c:20\n"     \
	"#\t0x403020\tmain+0x20\tmain.c:9\n"
#define FRAMES_NOSYM "#\t0x404000\n#\t0x403020\tmain+0x20\tmain.c:9\n"
#define FRAMES_ANON "#\t0x406000\tanon+0x0\t??:0\n"

static const uint64_t s_leaf[] = { LEAF, INLINED, MAIN };
static const uint64_t s_nosym[] = { NOSYM, MAIN };
static const uint64_t s_zero[] = { 0x405000 };
static const uint64_t s_anon[] = { ANON, MAIN };

/* Four stacks: counts 1, 3, 0, 3 (a tie after the first). */
static void counts_profile(struct profile *p)
{
	profile_init(p);
	profile_add_type(p, "goroutine", "count");
	add(p, s_leaf, 3, 1, 0, 0, 0);
	add(p, s_nosym, 2, 3, 0, 0, 0);
	add(p, s_zero, 1, 0, 0, 0, 0);
	add(p, s_anon, 2, 3, 0, 0, 0);
	symbolize(p);
}

/* Go's line grammar for a debug=1 text, record by record; the regexes
 * take the tab runs of Go's tabwriter and our single tabs alike.
 * Returns the number of records, -1 on a bad line (printed). */
static int grammar(const char *text, const char *head_re, const char *record_re)
{
	static const char *frame_re = "^#\t0x[0-9a-f]+(\t+[^\t ]+\\+0x[0-9a-f]+\t+[^\t ]+:[0-9]+)?$";
	static const char *addrs_re = "@( 0x[0-9a-f]+)*$";
	regex_t head, rec, frame;
	char full[256];
	snprintf(full, sizeof full, "%s%s", record_re, addrs_re);
	ck_assert_int_eq(regcomp(&head, head_re, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_int_eq(regcomp(&rec, full, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_int_eq(regcomp(&frame, frame_re, REG_EXTENDED | REG_NOSUB), 0);
	char *copy = strdup(text);
	int records = 0, state = 0; /* 0 header, 1 record line due, 2 in frames */
	int bad = 0;
	/* strsep keeps empty lines: they end records */
	for (char *p = copy, *line; !bad && (line = strsep(&p, "\n"));) {
		if (!p && !*line)
			break; /* after the final newline */
		if (state == 0)
			bad = regexec(&head, line, 0, NULL, 0) != 0, state = 1;
		else if (state == 1 && regexec(&rec, line, 0, NULL, 0) == 0)
			state = 2, records++;
		else if (state == 2 && !*line)
			state = 1;
		else if (state == 2)
			bad = regexec(&frame, line, 0, NULL, 0) != 0;
		else if (state == 1 && *line && line[0] != '-' && !strchr(line, '='))
			bad = 1; /* only "key=value" lines and "---" may sit between records */
		if (bad)
			fprintf(stderr, "line not in Go's grammar: \"%s\"\n", line);
	}
	free(copy);
	regfree(&head);
	regfree(&rec);
	regfree(&frame);
	return bad ? -1 : records;
}

#define COUNTS_HEAD "^[a-z]+ profile: total [0-9]+$"
#define COUNTS_REC "^[0-9]+ "
#define HEAP_HEAD "^heap profile: [0-9]+: [0-9]+ \\[[0-9]+: [0-9]+\\] @ heap/[0-9]+$"
#define HEAP_REC "^[0-9]+: [0-9]+ \\[[0-9]+: [0-9]+\\] "
#define CONT_HEAD "^--- (contention|mutex):$"
#define CONT_REC "^[0-9]+ [0-9]+ "

/* The grammar itself, on excerpts of Go 1.19's answers: it accepts them,
 * so accepting ours means something. */
START_TEST(test_grammar_takes_go)
{
	ck_assert_int_eq(grammar("goroutine profile: total 4\n"
				 "1 @ 0x43997f 0x46c7bb 0x6744ec 0x46b181\n"
				 "#\t0x6744eb\tmain.main.func3+0x2b\t/srv/example/refserver/main.go:78\n"
				 "\n"
				 "1 @ 0x43b256 0x433d77 0x465b49 0x4adb92\n"
				 "#\t0x465b48\tinternal/poll.runtime_pollWait+0x88\t\t/usr/lib/go-1.19/src/runtime/netpoll.go:305\n"
				 "#\t0x4adb91\tinternal/poll.(*pollDesc).wait+0x31\t\t/usr/lib/go-1.19/src/internal/poll/fd_poll_runtime.go:84\n"
				 "\n",
				 COUNTS_HEAD, COUNTS_REC), 2);
	ck_assert_int_eq(grammar("threadcreate profile: total 7\n6 @\n#\t0x0\n\n",
				 COUNTS_HEAD, COUNTS_REC), 1);
	ck_assert_int_eq(grammar("heap profile: 3: 720 [12: 3425216] @ heap/1048576\n"
				 "1: 96 [1: 96] @ 0x43adcb 0x46b181\n"
				 "#\t0x43adca\truntime.main+0x14a\t/usr/lib/go-1.19/src/runtime/proc.go:211\n"
				 "\n"
				 "0: 0 [1: 96] @ 0x4cc8b3 0x4cc115\n"
				 "#\t0x4cc8b2\tcontext.(*cancelCtx).Done+0x152\t\t/usr/lib/go-1.19/src/context/context.go:367\n"
				 "\n",
				 HEAP_HEAD, HEAP_REC), 2);
	ck_assert_int_eq(grammar("--- mutex:\ncycles/second=2300018009\nsampling period=0\n",
				 CONT_HEAD, CONT_REC), 0);
	/* and it refuses what Go's parser would not read */
	ck_assert_int_eq(grammar("goroutine profile: total x\n", COUNTS_HEAD, COUNTS_REC), -1);
	ck_assert_int_eq(grammar("goroutine profile: total 1\n1 0x401000\n\n", COUNTS_HEAD, COUNTS_REC), -1);
	ck_assert_int_eq(grammar("goroutine profile: total 1\n1 @ 0x401000\n#\t0x401000 main+0x1 a.c:1\n\n",
				 COUNTS_HEAD, COUNTS_REC), -1);
	ck_assert_int_eq(grammar("goroutine profile: total 1\n1 @ 0x401000\n#\t0x401000\tmain\ta.c:1\n\n",
				 COUNTS_HEAD, COUNTS_REC), -1);
	ck_assert_int_eq(grammar("heap profile: 1: 2 [3: 4] @ heap/2\n1: 2 @ 0x1\n\n", HEAP_HEAD, HEAP_REC), -1);
}
END_TEST

START_TEST(test_counts)
{
	struct profile p;
	counts_profile(&p);
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_counts(&b, "goroutine", &p);
	/* most frequent first, ties in the order the samples came, the zero
	 * count left out of the records but not of the total; the leaf is
	 * its pc, callers their return addresses (one past the call) */
	ck_assert_str_eq(buf_cstr(&b),
			 "goroutine profile: total 7\n"
			 "3 @ 0x404000 0x403021\n"
			 FRAMES_NOSYM
			 "\n"
			 "3 @ 0x406000 0x403021\n"
			 FRAMES_ANON
			 "#\t0x403020\tmain+0x20\tmain.c:9\n"
			 "\n"
			 "1 @ 0x401000 0x402011 0x403021\n"
			 FRAMES_LEAF
			 "\n");
	ck_assert_int_eq(grammar(buf_cstr(&b), COUNTS_HEAD, COUNTS_REC), 3);
	buf_release(&b);
	profile_release(&p);
}
END_TEST

START_TEST(test_counts_empty)
{
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "threadcreate", "count");
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_counts(&b, "threadcreate", &p);
	ck_assert_str_eq(buf_cstr(&b), "threadcreate profile: total 0\n");
	text_memory_map(&b, &p); /* no mappings: nothing */
	ck_assert_str_eq(buf_cstr(&b), "threadcreate profile: total 0\n");
	buf_release(&b);
	profile_release(&p);
}
END_TEST

START_TEST(test_counts_many)
{
	/* more samples than a sort by insertion would keep in order */
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "goroutine", "count");
	for (uint64_t i = 1; i <= 300; i++) {
		uint64_t pc = 0x10000 + i * 16;
		add(&p, &pc, 1, (int64_t)((i * 7919) % 301), 0, 0, 0);
	}
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_counts(&b, "goroutine", &p);
	long prev = -1, records = 0, total = 0;
	for (const char *l = buf_cstr(&b); (l = strchr(l, '\n')); l++) {
		long c;
		if (l[1] >= '1' && l[1] <= '9' && sscanf(l + 1, "%ld @", &c) == 1) {
			ck_assert(prev < 0 || c <= prev);
			ck_assert_int_gt(c, 0);
			prev = c;
			records++;
			total += c;
		}
	}
	ck_assert_int_eq(records, 300);
	char head[64];
	snprintf(head, sizeof head, "goroutine profile: total %ld\n", total);
	ck_assert(starts(buf_cstr(&b), head));
	buf_release(&b);
	profile_release(&p);
}
END_TEST

static void contention_profile(struct profile *p)
{
	profile_init(p);
	profile_add_type(p, "contentions", "count");
	profile_add_type(p, "delay", "nanoseconds");
	add(p, s_leaf, 3, 4, 1000, 0, 0);
	add(p, s_nosym, 2, 1, 5000, 0, 0);
	add(p, s_anon, 2, 7, 0, 0, 0);
	symbolize(p);
}

START_TEST(test_contention)
{
	struct profile p;
	contention_profile(&p);
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_contention(&b, "contention", &p);
	/* longest delay first, the sample without delay left out; cycles are
	 * nanoseconds */
	ck_assert_str_eq(buf_cstr(&b),
			 "--- contention:\n"
			 "cycles/second=1000000000\n"
			 "5000 1 @ 0x404000 0x403021\n"
			 FRAMES_NOSYM
			 "\n"
			 "1000 4 @ 0x401000 0x402011 0x403021\n"
			 FRAMES_LEAF
			 "\n");
	ck_assert_int_eq(grammar(buf_cstr(&b), CONT_HEAD, CONT_REC), 2);
	buf_reset(&b);
	/* mutex adds the sampling period line Go's mutex text has */
	text_contention(&b, "mutex", &p);
	ck_assert(starts(buf_cstr(&b), "--- mutex:\ncycles/second=1000000000\nsampling period=1\n5000 1 @ "));
	ck_assert_int_eq(grammar(buf_cstr(&b), CONT_HEAD, CONT_REC), 2);
	buf_release(&b);
	profile_release(&p);
}
END_TEST

START_TEST(test_heap)
{
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "alloc_objects", "count");
	profile_add_type(&p, "alloc_space", "bytes");
	profile_add_type(&p, "inuse_objects", "count");
	profile_add_type(&p, "inuse_space", "bytes");
	add(&p, s_leaf, 3, 2, 200, 1, 100);
	add(&p, s_anon, 1, 5, 5000, 0, 0);
	add(&p, s_nosym, 2, 1, 300, 1, 300);
	symbolize(&p);
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_heap(&b, &p, 512 * 1024);
	/* most bytes in use first; freed-only stacks stay, as in Go's
	 * "0: 0 [1: 96]"; every address a return address, one past its
	 * "#" line; heap/ twice the rate */
	ck_assert_str_eq(buf_cstr(&b),
			 "heap profile: 2: 400 [8: 5500] @ heap/1048576\n"
			 "1: 300 [1: 300] @ 0x404001 0x403021\n"
			 FRAMES_NOSYM
			 "\n"
			 "1: 100 [2: 200] @ 0x401001 0x402011 0x403021\n"
			 FRAMES_LEAF
			 "\n"
			 "0: 0 [5: 5000] @ 0x406001\n"
			 FRAMES_ANON
			 "\n");
	ck_assert_int_eq(grammar(buf_cstr(&b), HEAP_HEAD, HEAP_REC), 3);
	buf_release(&b);
	profile_release(&p);
}
END_TEST

START_TEST(test_memory_map)
{
	struct profile p;
	profile_init(&p);
	struct profile_mapping m1 = { .start = 0x400000, .limit = 0x500000, .offset = 0x1000,
				      .file = "/usr/bin/svc", .build_id = "beef01" };
	struct profile_mapping m2 = { .start = 0x7f0000000000, .limit = 0x7f0000010000,
				      .file = "" };
	profile_add_mapping(&p, &m1);
	profile_add_mapping(&p, &m2);
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	buf_puts(&b, "heap profile: 0: 0 [0: 0] @ heap/1048576\n");
	text_memory_map(&b, &p);
	/* no file: "?", no build id: nothing after the offset */
	ck_assert_str_eq(buf_cstr(&b),
			 "heap profile: 0: 0 [0: 0] @ heap/1048576\n"
			 "\n--- Memory map: ---\n"
			 "400000-500000 r-xp /usr/bin/svc (@1000) beef01\n"
			 "7f0000000000-7f0000010000 r-xp ? (@0)\n");
	buf_release(&b);
	profile_release(&p);
}
END_TEST

START_TEST(test_threads_outline)
{
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "goroutine", "count");
	int64_t one[PROFILE_MAX_VALUES] = { 1 };
	uint64_t s2[] = { NOSYM, OUTSIDE };
	profile_add_sample(&p, s_leaf, 3, one, 10, "svc");
	profile_add_sample(&p, s2, 2, one, 11, "worker");
	symbolize(&p);
	struct thread_stack t[2] = {
		{ .tid = 10, .name = "svc", .state = 'S', .wait = "futex", .cpu_total_ns = 1500000000 },
		{ .tid = 11, .name = "worker", .state = 'R', .without_stop = true },
	};
	struct thread_dump d = { .t = t, .n = 2 };
	struct buf b;
	buf_init(&b, "text", 1 << 20);
	text_threads(&b, &d, &p);
	const char *s = buf_cstr(&b);
	const char *w = strstr(s, "\n\nthread 11 ");
	ck_assert_ptr_nonnull(w); /* blocks apart by a blank line, in order */
	ck_assert(starts(s, "thread 10 \"svc\" [sleeping in futex, 1.50 s on CPU"));
	ck_assert_ptr_nonnull(strstr(w, "\"worker\" [running"));
	ck_assert_ptr_nonnull(strstr(w, "read without stopping it"));
	/* Go's frame pair: "function(...)" then "\tfile:line +0xOFF" */
	ck_assert_ptr_nonnull(strstr(s, "\nleaf(...)\n\tleaf.c:3 +0x10\n"));
	ck_assert_ptr_nonnull(strstr(s, "\ninl_helper(...)\n\ta.c:5 +0x8\ncaller_fn(...)\n\ta.c:20 +0x8\n"));
	ck_assert(strstr(s, "leaf(...)") < w);
	/* no symbol: the mapping and offset, or the bare address */
	ck_assert_ptr_nonnull(strstr(w, "/usr/bin/svc +0x4000"));
	ck_assert_ptr_nonnull(strstr(w, "0x7f0000001000"));
	buf_release(&b);
	profile_release(&p);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_grammar_takes_go);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_counts_empty);
	tcase_add_test(tc, test_counts_many);
	tcase_add_test(tc, test_contention);
	tcase_add_test(tc, test_heap);
	tcase_add_test(tc, test_memory_map);
	tcase_add_test(tc, test_threads_outline);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
