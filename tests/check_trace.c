/* trace: a Perfetto trace from hand-made threads, slices and samples,
 * decoded again and checked packet by packet. */
#include "check_main.h"
#include "base/buf.h"
#include "base/err.h"
#include "encode/trace.h"
#include "profile/profile.h"

#include "proto/perfetto_trace.pb-c.h"

#include <string.h>

static Perfetto__Protos__Trace *encode(const struct trace_data *d)
{
	struct buf b;
	buf_init(&b, "trace", 1 << 20);
	struct err e = { 0 };
	ck_assert_msg(trace_encode(d, &b, &e) == 0, "%s", e.msg);
	Perfetto__Protos__Trace *t =
		perfetto__protos__trace__unpack(NULL, b.len, (const uint8_t *)b.data);
	ck_assert_ptr_nonnull(t);
	buf_release(&b);
	return t;
}

/* The interned string with iid, as a C string. */
static const char *interned(Perfetto__Protos__InternedString **v, size_t n, uint64_t iid)
{
	static char s[256];
	for (size_t i = 0; i < n; i++)
		if (v[i]->iid == iid) {
			size_t len = v[i]->str.len < sizeof s - 1 ? v[i]->str.len : sizeof s - 1;
			memcpy(s, v[i]->str.data, len);
			s[len] = '\0';
			return s;
		}
	return NULL;
}

START_TEST(test_tracks_slices_samples)
{
	struct profile p;
	profile_init(&p);
	size_t m = profile_location(&p, 0x1000);
	profile_location_add_line(&p.locations[m], "main", "main", "main.c", 10);
	size_t w = profile_location(&p, 0x2000);
	profile_location_add_line(&p.locations[w], "work", "work", "work.c", 20);
	size_t locs[] = { w, m }; /* leaf first */
	const char *argv[] = { "app", "--fast" };
	struct trace_thread threads[] = { { .tid = 101, .name = "worker" } };
	struct trace_slice slices[] = {
		{ .tid = 101, .start_ns = 1000, .end_ns = 2000, .name = "running" },
		{ .tid = 101, .start_ns = 2000, .end_ns = 5000, .name = "futex" },
	};
	struct trace_sample samples[] = { { .tid = 101, .ts_ns = 1500, .locs = locs, .nlocs = 2 } };
	struct trace_data d = {
		.pid = 100, .process_name = "app", .cmdline = argv, .ncmdline = 2,
		.threads = threads, .nthreads = 1, .slices = slices, .nslices = 2,
		.samples = samples, .nsamples = 1, .symbols = &p,
	};
	Perfetto__Protos__Trace *t = encode(&d);
	/* interned data, process, thread, 2 x (begin, end), 1 sample */
	ck_assert_uint_eq(t->n_packet, 1 + 1 + 1 + 4 + 1);
	Perfetto__Protos__InternedData *in = t->packet[0]->interned_data;
	ck_assert_ptr_nonnull(in);
	ck_assert_uint_eq(in->n_callstacks, 1);
	/* the callstack root first: main, then work */
	Perfetto__Protos__Callstack *cs = in->callstacks[0];
	ck_assert_uint_eq(cs->n_frame_ids, 2);
	const char *want[] = { "main", "work" };
	for (size_t i = 0; i < 2; i++) {
		Perfetto__Protos__Frame *f = NULL;
		for (size_t k = 0; k < in->n_frames; k++)
			if (in->frames[k]->iid == cs->frame_ids[i])
				f = in->frames[k];
		ck_assert_ptr_nonnull(f);
		ck_assert_str_eq(interned(in->function_names, in->n_function_names, f->function_name_id),
				 want[i]);
	}
	Perfetto__Protos__TrackDescriptor *proc = t->packet[1]->track_descriptor;
	ck_assert_ptr_nonnull(proc);
	ck_assert_ptr_nonnull(proc->process);
	ck_assert_int_eq(proc->process->pid, 100);
	ck_assert_str_eq(proc->process->process_name, "app");
	ck_assert_uint_eq(proc->process->n_cmdline, 2);
	ck_assert_str_eq(proc->process->cmdline[1], "--fast");
	Perfetto__Protos__TrackDescriptor *thr = t->packet[2]->track_descriptor;
	ck_assert_ptr_nonnull(thr);
	ck_assert_ptr_nonnull(thr->thread);
	ck_assert_int_eq(thr->thread->tid, 101);
	ck_assert_str_eq(thr->thread->thread_name, "worker");
	ck_assert_uint_eq(thr->parent_uuid, proc->uuid);
	/* each slice: a begin with its name, an end, on the thread's track */
	for (size_t i = 0; i < 2; i++) {
		Perfetto__Protos__TracePacket *b = t->packet[3 + 2 * i], *e = t->packet[4 + 2 * i];
		ck_assert_ptr_nonnull(b->track_event);
		ck_assert_ptr_nonnull(e->track_event);
		ck_assert_int_eq(b->track_event->type, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN);
		ck_assert_int_eq(e->track_event->type, PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END);
		ck_assert_str_eq(b->track_event->name, slices[i].name);
		ck_assert_uint_eq(b->timestamp, (uint64_t)slices[i].start_ns);
		ck_assert_uint_eq(e->timestamp, (uint64_t)slices[i].end_ns);
		ck_assert_uint_eq(b->track_event->track_uuid, thr->uuid);
	}
	Perfetto__Protos__PerfSample *ps = t->packet[7]->perf_sample;
	ck_assert_ptr_nonnull(ps);
	ck_assert_uint_eq(ps->tid, 101);
	ck_assert_uint_eq(ps->pid, 100);
	ck_assert_uint_eq(ps->callstack_iid, cs->iid);
	ck_assert_uint_eq(t->packet[7]->timestamp, 1500);
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&p);
}
END_TEST

/* Nothing sampled: still a valid trace with the process track. */
START_TEST(test_empty)
{
	struct profile p;
	profile_init(&p);
	struct trace_data d = { .pid = 7, .process_name = "idle", .symbols = &p };
	Perfetto__Protos__Trace *t = encode(&d);
	ck_assert_uint_eq(t->n_packet, 2);
	ck_assert_ptr_nonnull(t->packet[1]->track_descriptor);
	ck_assert_int_eq(t->packet[1]->track_descriptor->process->pid, 7);
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&p);
}
END_TEST

static Suite *trace_suite(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_tracks_slices_samples);
	tcase_add_test(tc, test_empty);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(trace_suite)
