/* profile model + pprof encoder: encode, gunzip, unpack with protobuf-c,
 * compare with what went in. */
#include "base/buf.h"
#include "check_main.h"
#include "base/err.h"
#include "encode/pprof.h"
#include "profile/profile.h"

#include "proto/profile.pb-c.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

static Perftools__Profiles__Profile *roundtrip(const struct profile *p)
{
	struct buf gz;
	buf_init(&gz, "gz", 1 << 26);
	struct err e = { 0 };
	ck_assert_int_eq(pprof_encode(p, &gz, &e), 0);
	ck_assert_uint_ge(gz.len, 18);
	ck_assert_int_eq((unsigned char)gz.data[0], 0x1f); /* gzip magic */
	ck_assert_int_eq((unsigned char)gz.data[1], 0x8b);
	static unsigned char raw[1 << 22];
	z_stream z = { 0 };
	ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)gz.data;
	z.avail_in = (uInt)gz.len;
	z.next_out = raw;
	z.avail_out = sizeof raw;
	ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	size_t len = sizeof raw - z.avail_out;
	inflateEnd(&z);
	buf_release(&gz);
	Perftools__Profiles__Profile *pb = perftools__profiles__profile__unpack(NULL, len, raw);
	ck_assert_ptr_nonnull(pb);
	return pb;
}

static const char *str(const Perftools__Profiles__Profile *pb, int64_t i)
{
	ck_assert_int_ge(i, 0);
	ck_assert_uint_lt((size_t)i, pb->n_string_table);
	return pb->string_table[i];
}

START_TEST(test_roundtrip)
{
	struct profile p;
	profile_init_cpu(&p, 100); /* the decoded header below checks it */
	p.time_nanos = 1700000000000000000;
	p.duration_nanos = 5000000000;
	struct profile_mapping m = { .start = 0x1000, .limit = 0x9000, .offset = 0x1000,
				     .file = "/usr/bin/svc", .build_id = "abcdef",
				     .has_functions = true };
	size_t mid = profile_add_mapping(&p, &m);
	uint64_t stack1[] = { 0x1100, 0x1200, 0x1300 };
	uint64_t stack2[] = { 0x1400, 0x1200, 0x1300 };
	int64_t v1[] = { 1, 10000000 }, v2[] = { 2, 25000000 };
	profile_add_sample(&p, stack1, 3, v1, 42, "worker");
	profile_add_sample(&p, stack1, 3, v2, 42, "worker"); /* merged */
	profile_add_sample(&p, stack1, 3, v1, 43, "worker"); /* other thread */
	profile_add_sample(&p, stack2, 3, v1, 42, "worker");
	ck_assert_uint_eq(p.nsamples, 3);
	ck_assert_uint_eq(p.nlocations, 4);
	for (size_t i = 0; i < p.nlocations; i++) {
		p.locations[i].mapping = mid;
		char fn[32];
		snprintf(fn, sizeof fn, "fn_%zx", (size_t)p.locations[i].address);
		if (p.locations[i].address == 0x1100)
			profile_location_add_line(&p.locations[i], "inlined_leaf", NULL, "a.c", 7);
		profile_location_add_line(&p.locations[i], fn, "_Z2fnv", "a.c", 10 + (int64_t)i);
	}
	profile_add_comment(&p, "target exited after %d s", 3);

	Perftools__Profiles__Profile *pb = roundtrip(&p);
	ck_assert_str_eq(pb->string_table[0], "");
	ck_assert_uint_eq(pb->n_sample_type, 2);
	ck_assert_str_eq(str(pb, pb->sample_type[1]->type), "cpu");
	ck_assert_str_eq(str(pb, pb->sample_type[1]->unit), "nanoseconds");
	ck_assert_str_eq(str(pb, pb->default_sample_type), "cpu");
	ck_assert_str_eq(str(pb, pb->period_type->type), "cpu");
	ck_assert_int_eq(pb->period, 10000000);
	ck_assert_int_eq(pb->time_nanos, 1700000000000000000);
	ck_assert_int_eq(pb->duration_nanos, 5000000000);
	ck_assert_uint_eq(pb->n_comment, 1);
	ck_assert_str_eq(str(pb, pb->comment[0]), "target exited after 3 s");
	ck_assert_uint_eq(pb->n_mapping, 1);
	ck_assert_str_eq(str(pb, pb->mapping[0]->filename), "/usr/bin/svc");
	ck_assert_str_eq(str(pb, pb->mapping[0]->build_id), "abcdef");
	ck_assert_uint_eq(pb->n_sample, 3);
	const Perftools__Profiles__Sample *s0 = pb->sample[0];
	ck_assert_int_eq(s0->value[0], 3);
	ck_assert_int_eq(s0->value[1], 35000000);
	ck_assert_uint_eq(s0->n_label, 2);
	ck_assert_str_eq(str(pb, s0->label[0]->key), "thread_id");
	ck_assert_int_eq(s0->label[0]->num, 42);
	ck_assert_str_eq(str(pb, s0->label[1]->key), "thread_name");
	ck_assert_str_eq(str(pb, s0->label[1]->str), "worker");
	ck_assert_uint_eq(s0->n_location_id, 3);
	/* ids resolve to locations with the addresses given, leaf first */
	for (size_t j = 0; j < 3; j++) {
		uint64_t id = s0->location_id[j];
		ck_assert_uint_ge(id, 1);
		ck_assert_uint_le(id, pb->n_location);
		ck_assert_uint_eq(pb->location[id - 1]->id, id);
		ck_assert_uint_eq(pb->location[id - 1]->address, stack1[j]);
		ck_assert_uint_eq(pb->location[id - 1]->mapping_id, 1);
	}
	const Perftools__Profiles__Location *leaf = pb->location[s0->location_id[0] - 1];
	ck_assert_uint_eq(leaf->n_line, 2);
	const Perftools__Profiles__Function *f0 = pb->function[leaf->line[0]->function_id - 1];
	ck_assert_str_eq(str(pb, f0->name), "inlined_leaf");
	ck_assert_str_eq(str(pb, f0->filename), "a.c");
	ck_assert_int_eq(leaf->line[0]->line, 7);
	const Perftools__Profiles__Function *f1 = pb->function[leaf->line[1]->function_id - 1];
	ck_assert_str_eq(str(pb, f1->name), "fn_1100");
	ck_assert_str_eq(str(pb, f1->system_name), "_Z2fnv");
	/* every string appears once */
	for (size_t i = 0; i < pb->n_string_table; i++)
		for (size_t j = i + 1; j < pb->n_string_table; j++)
			ck_assert_str_ne(pb->string_table[i], pb->string_table[j]);
	perftools__profiles__profile__free_unpacked(pb, NULL);
	profile_release(&p);
}
END_TEST

/* inlines=split: each inlined frame a location of its own, innermost first,
 * in the stacks through it; sample_index: the default type by name */
START_TEST(test_split_inlines_and_default)
{
	struct profile p;
	profile_init_heap(&p, true, 512);
	uint64_t stack[] = { 0x1100, 0x1200 };
	int64_t v[] = { 1, 2, 3, 4 };
	profile_add_sample(&p, stack, 2, v, 0, NULL);
	profile_add_sample(&p, stack + 1, 1, v, 0, NULL);
	profile_location_add_line(&p.locations[0], "inlined_leaf", NULL, "a.c", 7);
	profile_location_add_line(&p.locations[0], "middle", NULL, "a.c", 8);
	profile_location_add_line(&p.locations[0], "outer", NULL, "a.c", 9);
	profile_location_add_line(&p.locations[1], "root", NULL, "a.c", 1);
	ck_assert_int_eq(profile_set_default_type(&p, "nosuch"), -1);
	ck_assert_int_eq(p.default_type, 3);
	ck_assert_int_eq(profile_set_default_type(&p, "alloc_objects"), 0);
	char names[128];
	profile_type_names(&p, names, sizeof names);
	ck_assert_str_eq(names, "alloc_objects, alloc_space, inuse_objects, inuse_space");
	profile_split_inlines(&p);
	ck_assert_uint_eq(p.nlocations, 4);

	Perftools__Profiles__Profile *pb = roundtrip(&p);
	ck_assert_str_eq(str(pb, pb->default_sample_type), "alloc_objects");
	ck_assert_uint_eq(pb->n_sample, 2);
	const char *want[] = { "inlined_leaf", "middle", "outer", "root" };
	ck_assert_uint_eq(pb->sample[0]->n_location_id, 4);
	for (size_t j = 0; j < 4; j++) {
		const Perftools__Profiles__Location *l = pb->location[pb->sample[0]->location_id[j] - 1];
		ck_assert_uint_eq(l->n_line, 1);
		ck_assert_uint_eq(l->address, j < 3 ? 0x1100 : 0x1200);
		ck_assert_str_eq(str(pb, pb->function[l->line[0]->function_id - 1]->name), want[j]);
	}
	ck_assert_uint_eq(pb->sample[1]->n_location_id, 1);
	ck_assert_str_eq(str(pb, pb->function[pb->location[pb->sample[1]->location_id[0] - 1]
					     ->line[0]->function_id - 1]->name), "root");
	perftools__profiles__profile__free_unpacked(pb, NULL);
	profile_release(&p);
}
END_TEST

/* Each kind's header, as Go's tools expect it. */
START_TEST(test_kinds)
{
	struct profile p;
	profile_init_contention(&p);
	ck_assert_uint_eq(p.ntypes, 2);
	ck_assert_str_eq(p.types[0].type, "contentions");
	ck_assert_str_eq(p.types[1].unit, "nanoseconds");
	ck_assert_int_eq(p.default_type, -1);
	ck_assert_str_eq(p.period_type.type, "contentions");
	ck_assert_int_eq(p.period, 1);
	profile_release(&p);

	profile_init_heap(&p, true, 524288);
	ck_assert_uint_eq(p.ntypes, 4);
	ck_assert_str_eq(p.types[3].type, "inuse_space");
	ck_assert_str_eq(p.types[3].unit, "bytes");
	ck_assert_int_eq(p.default_type, 3);
	ck_assert_str_eq(p.period_type.type, "space");
	ck_assert_int_eq(p.period, 524288);
	profile_release(&p);
	profile_init_heap(&p, false, 1);
	ck_assert_str_eq(p.types[p.default_type].type, "alloc_space");
	profile_release(&p);

	profile_init_count(&p, "goroutine");
	ck_assert_uint_eq(p.ntypes, 1);
	ck_assert_str_eq(p.types[0].type, "goroutine");
	ck_assert_str_eq(p.period_type.unit, "count");
	ck_assert_int_eq(p.period, 1);
	profile_release(&p);

	profile_init_cpu(&p, 97);
	ck_assert_int_eq(p.period, 1000000000LL / 97);
	ck_assert_str_eq(p.types[p.default_type].type, "cpu");
	profile_release(&p);
}
END_TEST

/* Go's heap profile keeps one stack's samples of other sizes apart, each
 * with a numeric bytes label: merged, a reader scaling by each sample's
 * size could not. */
START_TEST(test_sized_samples_apart)
{
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "inuse_objects", "count");
	profile_add_type(&p, "inuse_space", "bytes");
	uint64_t stack[] = { 0x1100, 0x1200 };
	int64_t small[] = { 3, 3 * 72 }, big[] = { 1, 1 << 20 };
	profile_add_sized_sample(&p, stack, 2, small, 64);
	profile_add_sized_sample(&p, stack, 2, big, 1 << 20);
	profile_add_sized_sample(&p, stack, 2, small, 64); /* merged */
	ck_assert_uint_eq(p.nsamples, 2);
	Perftools__Profiles__Profile *pb = roundtrip(&p);
	ck_assert_uint_eq(pb->n_sample, 2);
	for (size_t i = 0; i < 2; i++) {
		const Perftools__Profiles__Sample *s = pb->sample[i];
		ck_assert_uint_eq(s->n_label, 1);
		ck_assert_str_eq(str(pb, s->label[0]->key), "bytes");
		ck_assert_int_eq(s->label[0]->num, s->value[0] == 6 ? 64 : 1 << 20);
		ck_assert_int_eq(s->value[1], s->value[0] == 6 ? 6 * 72 : 1 << 20);
	}
	perftools__profiles__profile__free_unpacked(pb, NULL);
	profile_release(&p);
}
END_TEST

START_TEST(test_empty_and_deep)
{
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "inuse_space", "bytes");
	Perftools__Profiles__Profile *pb = roundtrip(&p);
	ck_assert_uint_eq(pb->n_sample, 0);
	ck_assert_uint_eq(pb->n_string_table, 3);
	perftools__profiles__profile__free_unpacked(pb, NULL);

	uint64_t deep[PROFILE_MAX_DEPTH + 50];
	for (size_t i = 0; i < sizeof deep / sizeof deep[0]; i++)
		deep[i] = 0x5000 + i;
	int64_t v[] = { 1 };
	profile_add_sample(&p, deep, sizeof deep / sizeof deep[0], v, 0, NULL);
	ck_assert_uint_eq(p.samples[0].nlocs, PROFILE_MAX_DEPTH);
	pb = roundtrip(&p);
	ck_assert_uint_eq(pb->sample[0]->n_label, 0); /* tid 0: no thread labels */
	perftools__profiles__profile__free_unpacked(pb, NULL);
	profile_release(&p);
}
END_TEST

START_TEST(test_many_samples_merge)
{
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "samples", "count");
	int64_t one[] = { 1 };
	for (int i = 0; i < 100000; i++) {
		uint64_t st[] = { 0x100 + (uint64_t)(i % 1000), 0x9000 };
		profile_add_sample(&p, st, 2, one, 1 + i % 3, "t");
	}
	ck_assert_uint_eq(p.nsamples, 3000);
	ck_assert_uint_eq(p.nlocations, 1001);
	int64_t total = 0;
	for (size_t i = 0; i < p.nsamples; i++)
		total += p.samples[i].values[0];
	ck_assert_int_eq(total, 100000);
	profile_release(&p);
}
END_TEST

/* Ticks of a thread share out its CPU time when it is settled: in
 * proportion, the sum exact; another thread's ticks wait for their own
 * settling, and a tid seen again after its settling settles apart. */
START_TEST(test_ticks_settled)
{
	struct profile p;
	profile_init_cpu(&p, 500);
	uint64_t a[] = { 0x1100, 0x1300 }, b[] = { 0x1200, 0x1300 };
	for (int i = 0; i < 3; i++)
		profile_add_tick(&p, a, 2, 7, "loop");
	profile_add_tick(&p, b, 2, 7, "loop");
	profile_add_tick(&p, a, 2, 8, "hog");
	ck_assert_uint_eq(p.nsamples, 3);
	profile_settle_thread(&p, 7, 1000000001);
	ck_assert_int_eq(p.samples[0].values[0], 3);
	ck_assert_int_eq(p.samples[0].values[1], 750000000);
	ck_assert_int_eq(p.samples[1].values[0], 1);
	ck_assert_int_eq(p.samples[1].values[1], 250000001);
	ck_assert_int_eq(p.samples[2].values[1], 0); /* thread 8: not yet */
	profile_settle_thread(&p, 7, 5); /* no ticks since: nothing */
	ck_assert_int_eq(p.samples[0].values[1] + p.samples[1].values[1], 1000000001);
	/* tid 7 again (reused): only its new ticks share the new time */
	profile_add_tick(&p, b, 2, 7, "loop");
	profile_settle_thread(&p, 7, 40);
	ck_assert_int_eq(p.samples[0].values[1], 750000000);
	ck_assert_int_eq(p.samples[1].values[0], 2);
	ck_assert_int_eq(p.samples[1].values[1], 250000041);
	profile_settle_thread(&p, 8, 3);
	ck_assert_int_eq(p.samples[2].values[1], 3);
	ck_assert_uint_eq(p.nunsettled, 0);
	profile_release(&p);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pprof");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_kinds);
	tcase_add_test(tc, test_sized_samples_apart);
	tcase_add_test(tc, test_split_inlines_and_default);
	tcase_add_test(tc, test_empty_and_deep);
	tcase_add_test(tc, test_many_samples_merge);
	tcase_add_test(tc, test_ticks_settled);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
