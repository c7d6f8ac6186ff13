/* trace: encode a small trace, decode it with the generated Perfetto
 * code, and find in it what went in: one sequence, the interned data
 * first and clearing the state, a process track with a track per thread
 * under it, each slice as a begin and an end on its thread's track, each
 * CPU sample with a callstack that resolves, root first, to interned
 * function names, files, lines and mappings. */
#include "base/buf.h"
#include "base/err.h"
#include "check_main.h"
#include "encode/trace.h"
#include "profile/profile.h"

#include "proto/perfetto_trace.pb-c.h"

#include <string.h>

#define PID 100
#define LEAF 0x401000
#define INLINED 0x402010 /* inl_helper inlined into caller_fn */
#define MAIN 0x403020
#define NOSYM 0x404000   /* in the mapping, no symbol */


struct fixture {
	struct profile symbols;
	size_t leaf, inlined, main_, nosym; /* location indices */
	size_t stack_a[3], stack_b[2];
	struct trace_thread threads[2];
	struct trace_slice slices[3];
	struct trace_sample samples[3];
	const char *cmdline[2];
	struct trace_data d;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	struct profile *p = &f->symbols;
	profile_init(p);
	struct profile_mapping m = { .start = 0x400000, .limit = 0x500000, .offset = 0x1000,
				     .file = "/usr/bin/svc", .build_id = "beef01" };
	size_t mid = profile_add_mapping(p, &m);
	f->leaf = profile_location(p, LEAF);
	f->inlined = profile_location(p, INLINED);
	f->main_ = profile_location(p, MAIN);
	f->nosym = profile_location(p, NOSYM);
	for (size_t i = 0; i < p->nlocations; i++)
		p->locations[i].mapping = mid;
	profile_location_add_line(&p->locations[f->leaf], "leaf", "leaf", "leaf.c", 3);
	profile_location_add_line(&p->locations[f->inlined], "inl_helper", "inl_helper", "a.c", 5);
	profile_location_add_line(&p->locations[f->inlined], "caller_fn", "caller_fn", "a.c", 20);
	profile_location_add_line(&p->locations[f->main_], "main", "main", "main.c", 9);

	f->stack_a[0] = f->leaf;
	f->stack_a[1] = f->inlined;
	f->stack_a[2] = f->main_;
	f->stack_b[0] = f->nosym;
	f->stack_b[1] = f->main_;
	f->threads[0] = (struct trace_thread){ .tid = PID, .name = "svc" };
	f->threads[1] = (struct trace_thread){ .tid = 101, .name = "worker" };
	f->slices[0] = (struct trace_slice){ 101, 1000, 2000, "running" };
	f->slices[1] = (struct trace_slice){ 101, 2000, 5000, "futex" };
	f->slices[2] = (struct trace_slice){ PID, 1500, 1600, "read fd 7 (pipe:[1234])" };
	f->samples[0] = (struct trace_sample){ 101, 1200, f->stack_a, 3 };
	f->samples[1] = (struct trace_sample){ PID, 1550, f->stack_b, 2 };
	f->samples[2] = (struct trace_sample){ 101, 1300, f->stack_a, 3 };
	f->cmdline[0] = "svc";
	f->cmdline[1] = "--flag";
	f->d = (struct trace_data){
		.pid = PID, .process_name = "svc", .cmdline = f->cmdline, .ncmdline = 2,
		.threads = f->threads, .nthreads = 2, .slices = f->slices, .nslices = 3,
		.samples = f->samples, .nsamples = 3, .symbols = p,
	};
}

static Perfetto__Protos__Trace *encode(const struct trace_data *d)
{
	struct buf out;
	buf_init(&out, "trace", 1 << 20);
	struct err e = { 0 };
	ck_assert_int_eq(trace_encode(d, &out, &e), 0);
	ck_assert_int_eq(e.kind, ERR_NONE);
	Perfetto__Protos__Trace *t =
		perfetto__protos__trace__unpack(NULL, out.len, (const uint8_t *)out.data);
	ck_assert_ptr_nonnull(t);
	buf_release(&out);
	return t;
}

/* The interned string with iid, or fails; bytes on the wire, not
 * NUL-terminated: copied into a slot of a small ring, so that two results
 * can be compared. */
static const char *str(Perfetto__Protos__InternedString **v, size_t n, uint64_t iid)
{
	static char ring[4][256];
	static size_t next;
	for (size_t i = 0; i < n; i++)
		if (v[i]->has_iid && v[i]->iid == iid) {
			char *out = ring[next++ % 4];
			ck_assert_uint_lt(v[i]->str.len, sizeof ring[0]);
			memcpy(out, v[i]->str.data, v[i]->str.len);
			out[v[i]->str.len] = '\0';
			return out;
		}
	ck_abort_msg("no interned string %llu", (unsigned long long)iid);
	return NULL;
}

/* frame(in, iid), callstack(in, iid): the element with iid, or fails. */
#define BY_IID(type, name, table)                                                  \
	static const type *name(const Perfetto__Protos__InternedData *in, uint64_t iid) \
	{                                                                          \
		for (size_t i = 0; i < in->n_##table; i++)                         \
			if (in->table[i]->iid == iid)                              \
				return in->table[i];                               \
		ck_abort_msg("no " #table " %llu", (unsigned long long)iid);       \
		return NULL;                                                       \
	}
BY_IID(Perfetto__Protos__Frame, frame, frames)
BY_IID(Perfetto__Protos__Callstack, callstack, callstacks)

/* The one interned-data packet. */
static const Perfetto__Protos__InternedData *interned(const Perfetto__Protos__Trace *t, size_t *at)
{
	const Perfetto__Protos__InternedData *in = NULL;
	for (size_t i = 0; i < t->n_packet; i++)
		if (t->packet[i]->interned_data) {
			ck_assert_ptr_null(in);
			in = t->packet[i]->interned_data;
			*at = i;
		}
	ck_assert_ptr_nonnull(in);
	return in;
}

/* Iids of an interned table: all set, non-zero, distinct. */
#define CHECK_IIDS(v, n)                                                      \
	for (size_t i_ = 0; i_ < (n); i_++) {                                  \
		ck_assert((v)[i_]->has_iid);                                  \
		ck_assert_uint_ne((v)[i_]->iid, 0);                          \
		for (size_t j_ = 0; j_ < i_; j_++)                            \
			ck_assert_uint_ne((v)[i_]->iid, (v)[j_]->iid);       \
	}

START_TEST(test_one_sequence_interned_first)
{
	struct fixture f;
	fixture_init(&f);
	Perfetto__Protos__Trace *t = encode(&f.d);
	/* 1 interned + 1 process + 2 threads + 2 per slice + 1 per sample */
	ck_assert_uint_eq(t->n_packet, 1 + 1 + 2 + 2 * 3 + 3);
	uint32_t seq = t->packet[0]->trusted_packet_sequence_id;
	ck_assert_uint_ne(seq, 0);
	for (size_t i = 0; i < t->n_packet; i++) {
		ck_assert(t->packet[i]->has_trusted_packet_sequence_id);
		ck_assert_uint_eq(t->packet[i]->trusted_packet_sequence_id, seq);
	}
	size_t at;
	const Perfetto__Protos__InternedData *in = interned(t, &at);
	ck_assert_uint_eq(at, 0);
	ck_assert(t->packet[0]->has_sequence_flags);
	ck_assert_uint_eq(t->packet[0]->sequence_flags, 1); /* SEQ_INCREMENTAL_STATE_CLEARED */
	CHECK_IIDS(in->function_names, in->n_function_names);
	CHECK_IIDS(in->source_paths, in->n_source_paths);
	CHECK_IIDS(in->mapping_paths, in->n_mapping_paths);
	CHECK_IIDS(in->build_ids, in->n_build_ids);
	CHECK_IIDS(in->frames, in->n_frames);
	CHECK_IIDS(in->callstacks, in->n_callstacks);
	CHECK_IIDS(in->mappings, in->n_mappings);
	/* names interned once: main is in two stacks, a.c in two frames */
	ck_assert_uint_eq(in->n_function_names, 5); /* leaf inl_helper caller_fn main ?? */
	ck_assert_uint_eq(in->n_source_paths, 3);
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&f.symbols);
}
END_TEST

START_TEST(test_tracks)
{
	struct fixture f;
	fixture_init(&f);
	Perfetto__Protos__Trace *t = encode(&f.d);
	const Perfetto__Protos__TrackDescriptor *proc = NULL, *thr[2] = { NULL, NULL };
	for (size_t i = 0; i < t->n_packet; i++) {
		const Perfetto__Protos__TrackDescriptor *td = t->packet[i]->track_descriptor;
		if (!td)
			continue;
		ck_assert(td->has_uuid);
		if (td->process) {
			ck_assert_ptr_null(proc);
			proc = td;
		} else {
			ck_assert_ptr_nonnull(td->thread);
			ck_assert_int_eq(td->thread->tid == PID || td->thread->tid == 101, 1);
			int k = td->thread->tid == PID ? 0 : 1;
			ck_assert_ptr_null(thr[k]);
			thr[k] = td;
		}
	}
	ck_assert_ptr_nonnull(proc);
	ck_assert(proc->process->has_pid);
	ck_assert_int_eq(proc->process->pid, PID);
	ck_assert_str_eq(proc->process->process_name, "svc");
	ck_assert_uint_eq(proc->process->n_cmdline, 2);
	ck_assert_str_eq(proc->process->cmdline[0], "svc");
	ck_assert_str_eq(proc->process->cmdline[1], "--flag");
	for (int k = 0; k < 2; k++) {
		ck_assert_ptr_nonnull(thr[k]);
		ck_assert(thr[k]->has_parent_uuid);
		ck_assert_uint_eq(thr[k]->parent_uuid, proc->uuid);
		ck_assert_uint_ne(thr[k]->uuid, proc->uuid);
		ck_assert_int_eq(thr[k]->thread->pid, PID);
		ck_assert_str_eq(thr[k]->thread->thread_name, k == 0 ? "svc" : "worker");
	}
	/* the main thread's tid is the pid: its track is still its own */
	ck_assert_uint_ne(thr[0]->uuid, thr[1]->uuid);
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&f.symbols);
}
END_TEST

/* The uuid of tid's thread track. */
static uint64_t thread_track(const Perfetto__Protos__Trace *t, pid_t tid)
{
	for (size_t i = 0; i < t->n_packet; i++) {
		const Perfetto__Protos__TrackDescriptor *td = t->packet[i]->track_descriptor;
		if (td && td->thread && td->thread->tid == tid)
			return td->uuid;
	}
	ck_abort_msg("no track for tid %d", (int)tid);
	return 0;
}

START_TEST(test_slices)
{
	struct fixture f;
	fixture_init(&f);
	Perfetto__Protos__Trace *t = encode(&f.d);
	size_t begins = 0, ends = 0;
	for (size_t i = 0; i < t->n_packet; i++) {
		const Perfetto__Protos__TrackEvent *ev = t->packet[i]->track_event;
		if (!ev)
			continue;
		ck_assert(ev->has_type && ev->has_track_uuid && t->packet[i]->has_timestamp);
		if (ev->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN)
			begins++;
		else if (ev->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END)
			ends++;
		else
			ck_abort_msg("event type %d", (int)ev->type);
	}
	ck_assert_uint_eq(begins, 3);
	ck_assert_uint_eq(ends, 3);
	/* each slice: its begin, named, and then its end, on its thread's
	 * track at its times (the end of one and the begin of the next may
	 * share a timestamp: the pairing is by order on the track) */
	for (size_t s = 0; s < 3; s++) {
		const struct trace_slice *sl = &f.slices[s];
		uint64_t track = thread_track(t, sl->tid);
		size_t b = t->n_packet;
		for (size_t i = 0; i < t->n_packet && b == t->n_packet; i++) {
			const Perfetto__Protos__TrackEvent *ev = t->packet[i]->track_event;
			if (ev && ev->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN &&
			    ev->name && strcmp(ev->name, sl->name) == 0)
				b = i;
		}
		ck_assert_msg(b < t->n_packet, "no begin for \"%s\"", sl->name);
		ck_assert_uint_eq(t->packet[b]->track_event->track_uuid, track);
		ck_assert_uint_eq(t->packet[b]->timestamp, (uint64_t)sl->start_ns);
		size_t e = b + 1;
		while (e < t->n_packet && !(t->packet[e]->track_event &&
					     t->packet[e]->track_event->track_uuid == track))
			e++;
		ck_assert_uint_lt(e, t->n_packet);
		ck_assert_int_eq(t->packet[e]->track_event->type,
				 PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END);
		ck_assert_uint_eq(t->packet[e]->timestamp, (uint64_t)sl->end_ns);
	}
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&f.symbols);
}
END_TEST

/* Function names of a callstack, root first, joined with ";". */
static void stack_names(const Perfetto__Protos__InternedData *in, uint64_t iid, char *out, size_t size)
{
	const Perfetto__Protos__Callstack *cs = callstack(in, iid);
	out[0] = '\0';
	for (size_t i = 0; i < cs->n_frame_ids; i++) {
		const Perfetto__Protos__Frame *fr = frame(in, cs->frame_ids[i]);
		ck_assert(fr->has_function_name_id);
		if (i)
			strncat(out, ";", size - strlen(out) - 1);
		strncat(out, str(in->function_names, in->n_function_names, fr->function_name_id),
			size - strlen(out) - 1);
	}
}

START_TEST(test_samples)
{
	struct fixture f;
	fixture_init(&f);
	Perfetto__Protos__Trace *t = encode(&f.d);
	size_t at;
	const Perfetto__Protos__InternedData *in = interned(t, &at);
	size_t n = 0;
	for (size_t i = 0; i < t->n_packet; i++) {
		const Perfetto__Protos__PerfSample *ps = t->packet[i]->perf_sample;
		if (!ps)
			continue;
		ck_assert_uint_gt(i, at);
		/* samples use the interned state */
		ck_assert_uint_eq(t->packet[i]->sequence_flags, 2);
		ck_assert_uint_lt(n, 3);
		const struct trace_sample *want = &f.samples[n++];
		ck_assert_uint_eq(t->packet[i]->timestamp, (uint64_t)want->ts_ns);
		ck_assert_uint_eq(ps->pid, PID);
		ck_assert_uint_eq(ps->tid, (uint32_t)want->tid);
		ck_assert(ps->has_callstack_iid);
		ck_assert_int_eq(ps->cpu_mode, PERFETTO__PROTOS__PROFILING__CPU_MODE__MODE_USER);
		char names[256];
		stack_names(in, ps->callstack_iid, names, sizeof names);
		/* root first; the inlined function after the one it is in */
		ck_assert_str_eq(names, want->nlocs == 3 ? "main;caller_fn;inl_helper;leaf" : "main;??");
	}
	ck_assert_uint_eq(n, 3);
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&f.symbols);
}
END_TEST

START_TEST(test_frames_and_mappings)
{
	struct fixture f;
	fixture_init(&f);
	Perfetto__Protos__Trace *t = encode(&f.d);
	size_t at;
	const Perfetto__Protos__InternedData *in = interned(t, &at);
	ck_assert_uint_eq(in->n_mappings, 1);
	const Perfetto__Protos__Mapping *m = in->mappings[0];
	ck_assert_uint_eq(m->start, 0x400000);
	ck_assert_uint_eq(m->end, 0x500000);
	ck_assert_uint_eq(m->start_offset, 0x1000);
	ck_assert(m->has_build_id);
	ck_assert_str_eq(str(in->build_ids, in->n_build_ids, m->build_id), "beef01");
	ck_assert_uint_eq(m->n_path_string_ids, 1);
	ck_assert_str_eq(str(in->mapping_paths, in->n_mapping_paths, m->path_string_ids[0]),
			 "/usr/bin/svc");
	/* every frame of the first sample's stack, root first */
	const Perfetto__Protos__PerfSample *ps = NULL;
	for (size_t i = 0; i < t->n_packet && !ps; i++)
		ps = t->packet[i]->perf_sample;
	ck_assert_ptr_nonnull(ps);
	const Perfetto__Protos__Callstack *cs = callstack(in, ps->callstack_iid);
	ck_assert_uint_eq(cs->n_frame_ids, 4);
	static const struct {
		const char *file;
		uint32_t line;
		uint64_t pc;
	} want[] = { { "main.c", 9, MAIN }, { "a.c", 20, INLINED }, { "a.c", 5, INLINED },
		     { "leaf.c", 3, LEAF } };
	for (size_t i = 0; i < 4; i++) {
		const Perfetto__Protos__Frame *fr = frame(in, cs->frame_ids[i]);
		ck_assert(fr->has_source_path_iid && fr->has_line_number);
		ck_assert_str_eq(str(in->source_paths, in->n_source_paths, fr->source_path_iid),
				 want[i].file);
		ck_assert_uint_eq(fr->line_number, want[i].line);
		ck_assert(fr->has_mapping_id && fr->has_rel_pc);
		ck_assert_uint_eq(fr->mapping_id, m->iid);
		/* pc - mapping start + start offset: an offset in the file */
		ck_assert_uint_eq(fr->rel_pc, want[i].pc - 0x400000 + 0x1000);
	}
	/* a location without symbols: "??", in its mapping, no file */
	bool seen = false;
	for (size_t i = 0; i < in->n_frames; i++) {
		const Perfetto__Protos__Frame *fr = in->frames[i];
		if (strcmp(str(in->function_names, in->n_function_names, fr->function_name_id), "??"))
			continue;
		seen = true;
		ck_assert(!fr->has_source_path_iid);
		ck_assert_uint_eq(fr->rel_pc, NOSYM - 0x400000 + 0x1000);
	}
	ck_assert(seen);
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&f.symbols);
}
END_TEST

/* Gaps in the records: a track per buffer under the process, named, and
 * each gap a slice on it saying how many records were lost and whose
 * slices are left out; two gaps of one CPU share its track. */
START_TEST(test_gaps)
{
	struct fixture f;
	fixture_init(&f);
	struct trace_gap gaps[3] = {
		{ .tid = 0, .cpu = 1, .from_ns = 1000, .to_ns = 5000, .lost = 12 },
		{ .tid = 0, .cpu = 1, .from_ns = 6000, .to_ns = 7000, .lost = 1 },
		{ .tid = 101, .cpu = -1, .from_ns = 2000, .to_ns = 3000, .lost = 4 },
	};
	f.d.gaps = gaps;
	f.d.ngaps = 3;
	Perfetto__Protos__Trace *t = encode(&f.d);
	uint64_t cpu_track = 0, thread_track = 0;
	size_t ntracks = 0, begins = 0, ends = 0;
	for (size_t i = 0; i < t->n_packet; i++) {
		const Perfetto__Protos__TrackDescriptor *td = t->packet[i]->track_descriptor;
		if (!td || !td->name)
			continue;
		ntracks++;
		ck_assert_uint_eq(td->parent_uuid, (1ULL << 40) | PID);
		if (strcmp(td->name, "pprof-fcgi: records lost, CPU 1") == 0)
			cpu_track = td->uuid;
		else if (strcmp(td->name, "pprof-fcgi: records lost, thread 101") == 0)
			thread_track = td->uuid;
	}
	ck_assert_uint_eq(ntracks, 2);
	ck_assert_uint_ne(cpu_track, 0);
	ck_assert_uint_ne(thread_track, 0);
	for (size_t i = 0; i < t->n_packet; i++) {
		const Perfetto__Protos__TrackEvent *ev = t->packet[i]->track_event;
		if (!ev || (ev->track_uuid != cpu_track && ev->track_uuid != thread_track))
			continue;
		if (ev->type == PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END) {
			ends++;
			continue;
		}
		begins++;
		if (t->packet[i]->timestamp == 1000)
			ck_assert_str_eq(ev->name, "pprof-fcgi: 12 records lost in the buffer of CPU 1 "
					 "(it filled): every thread's slices are left out here");
		if (t->packet[i]->timestamp == 2000) {
			ck_assert_uint_eq(ev->track_uuid, thread_track);
			ck_assert_str_eq(ev->name, "pprof-fcgi: 4 records lost in the buffer of thread "
					 "101 (it filled): this thread's slices are left out here");
		}
	}
	ck_assert_uint_eq(begins, 3);
	ck_assert_uint_eq(ends, 3);
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&f.symbols);
}
END_TEST

START_TEST(test_empty)
{
	/* a process with nothing seen: still a trace, the process track */
	struct profile p;
	profile_init(&p);
	struct trace_data d = { .pid = 7, .process_name = "idle", .symbols = &p };
	Perfetto__Protos__Trace *t = encode(&d);
	ck_assert_uint_eq(t->n_packet, 2);
	ck_assert_ptr_nonnull(t->packet[0]->interned_data);
	ck_assert_ptr_nonnull(t->packet[1]->track_descriptor);
	ck_assert_int_eq(t->packet[1]->track_descriptor->process->pid, 7);
	ck_assert_uint_eq(t->packet[1]->track_descriptor->process->n_cmdline, 0);
	perfetto__protos__trace__free_unpacked(t, NULL);
	profile_release(&p);
}
END_TEST

START_TEST(test_bounded)
{
	struct fixture f;
	fixture_init(&f);
	struct buf out;
	buf_init(&out, "trace", 64);
	struct err e = { 0 };
	ck_assert_int_eq(trace_encode(&f.d, &out, &e), -1);
	ck_assert_int_eq(e.kind, ERR_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "trace"));
	buf_release(&out);
	profile_release(&f.symbols);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_one_sequence_interned_first);
	tcase_add_test(tc, test_tracks);
	tcase_add_test(tc, test_slices);
	tcase_add_test(tc, test_samples);
	tcase_add_test(tc, test_frames_and_mappings);
	tcase_add_test(tc, test_gaps);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_bounded);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
