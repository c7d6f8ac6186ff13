#include "encode/trace.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/vec.h"
#include "profile/profile.h"

#include "proto/perfetto_trace.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEQUENCE_ID 1
#define SEQ_INCREMENTAL_STATE_CLEARED 1
#define SEQ_NEEDS_INCREMENTAL_STATE 2
#define PROCESS_UUID(pid) ((1ULL << 40) | (uint64_t)(pid))
#define THREAD_UUID(tid) ((2ULL << 40) | (uint64_t)(tid))
/* records lost: a track per buffer (a CPU's, or a thread's own) */
#define GAP_UUID(g) ((g)->cpu >= 0 ? (3ULL << 40) | (uint64_t)(g)->cpu \
		     : (4ULL << 40) | (uint64_t)(g)->tid)

/* One packet as field 1 of Trace: tag, length, bytes. */
static void emit(struct buf *out, const Perfetto__Protos__TracePacket *pkt)
{
	size_t len = perfetto__protos__trace_packet__get_packed_size(pkt);
	uint8_t head[11];
	size_t h = 0;
	head[h++] = 0x0a; /* field 1, length-delimited */
	for (size_t v = len; ; v >>= 7) {
		head[h++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		if (v < 0x80)
			break;
	}
	buf_add(out, head, h);
	uint8_t *bytes = malloc(len ? len : 1);
	if (!bytes)
		abort();
	perfetto__protos__trace_packet__pack(pkt, bytes);
	buf_add(out, bytes, len);
	free(bytes);
}

/* Interned strings: iid = position + 1, deduplicated by a linear scan of a
 * small table (profiles have hundreds of names). */
struct strings {
	Perfetto__Protos__InternedString *v;
	Perfetto__Protos__InternedString **p;
	size_t n, cap;
};

static uint64_t intern(struct strings *s, const char *str)
{
	if (!str)
		str = "";
	for (size_t i = 0; i < s->n; i++)
		if (strcmp((const char *)s->v[i].str.data, str) == 0)
			return s->v[i].iid;
	Perfetto__Protos__InternedString *is = VEC_PUSH(s->v, s->n, s->cap, 64);
	perfetto__protos__interned_string__init(is);
	is->has_iid = is->has_str = 1;
	is->iid = s->n;
	is->str.data = (uint8_t *)(uintptr_t)str;
	is->str.len = strlen(str);
	return is->iid;
}

static void strings_finish(struct strings *s)
{
	s->p = malloc((s->n ? s->n : 1) * sizeof *s->p);
	if (!s->p)
		abort();
	for (size_t i = 0; i < s->n; i++)
		s->p[i] = &s->v[i];
}

static void packet_init(Perfetto__Protos__TracePacket *pkt)
{
	perfetto__protos__trace_packet__init(pkt);
	pkt->has_trusted_packet_sequence_id = 1;
	pkt->trusted_packet_sequence_id = SEQUENCE_ID;
}

/* The interned data: every mapping, every frame (one per line, so inlined
 * functions are frames of their own) and one callstack per sample. */
static void emit_interned(struct buf *out, const struct trace_data *d, uint64_t *stack_iids)
{
	const struct profile *p = d->symbols;
	struct strings fn = { 0 }, src = { 0 }, paths = { 0 }, bids = { 0 };
	Perfetto__Protos__Mapping *maps = calloc(p->nmappings + 1, sizeof *maps);
	Perfetto__Protos__Mapping **map_ptrs = calloc(p->nmappings + 1, sizeof *map_ptrs);
	uint64_t *path_ids = calloc(p->nmappings + 1, sizeof *path_ids);
	size_t nframes = 0;
	for (size_t i = 0; i < p->nlocations; i++)
		nframes += p->locations[i].nlines ? p->locations[i].nlines : 1;
	Perfetto__Protos__Frame *frames = calloc(nframes + 1, sizeof *frames);
	Perfetto__Protos__Frame **frame_ptrs = calloc(nframes + 1, sizeof *frame_ptrs);
	size_t *first_frame = calloc(p->nlocations + 1, sizeof *first_frame);
	size_t total_ids = 0;
	for (size_t i = 0; i < d->nsamples; i++)
		for (size_t j = 0; j < d->samples[i].nlocs; j++) {
			const struct profile_location *l = &p->locations[d->samples[i].locs[j]];
			total_ids += l->nlines ? l->nlines : 1;
		}
	Perfetto__Protos__Callstack *stacks = calloc(d->nsamples + 1, sizeof *stacks);
	Perfetto__Protos__Callstack **stack_ptrs = calloc(d->nsamples + 1, sizeof *stack_ptrs);
	uint64_t *ids = calloc(total_ids + 1, sizeof *ids);
	if (!maps || !map_ptrs || !path_ids || !frames || !frame_ptrs || !first_frame || !stacks ||
	    !stack_ptrs || !ids)
		abort();

	for (size_t i = 0; i < p->nmappings; i++) {
		const struct profile_mapping *m = &p->mappings[i];
		perfetto__protos__mapping__init(&maps[i]);
		maps[i].has_iid = maps[i].has_start = maps[i].has_end = maps[i].has_start_offset = 1;
		maps[i].iid = i + 1;
		maps[i].start = m->start;
		maps[i].end = m->limit;
		maps[i].start_offset = m->offset;
		if (m->build_id) {
			maps[i].has_build_id = 1;
			maps[i].build_id = intern(&bids, m->build_id);
		}
		path_ids[i] = intern(&paths, m->file);
		maps[i].n_path_string_ids = 1;
		maps[i].path_string_ids = &path_ids[i];
		map_ptrs[i] = &maps[i];
	}
	size_t f = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct profile_location *l = &p->locations[i];
		first_frame[i] = f;
		size_t n = l->nlines ? l->nlines : 1;
		for (size_t k = 0; k < n; k++, f++) {
			Perfetto__Protos__Frame *fr = &frames[f];
			perfetto__protos__frame__init(fr);
			fr->has_iid = 1;
			fr->iid = f + 1;
			fr->has_function_name_id = 1;
			fr->function_name_id = intern(&fn, l->nlines ? l->lines[k].function : "??");
			if (l->mapping) {
				const struct profile_mapping *m = &p->mappings[l->mapping - 1];
				fr->has_mapping_id = fr->has_rel_pc = 1;
				fr->mapping_id = l->mapping;
				fr->rel_pc = l->address - m->start + m->offset;
			}
			if (l->nlines && l->lines[k].file) {
				fr->has_source_path_iid = fr->has_line_number = 1;
				fr->source_path_iid = intern(&src, l->lines[k].file);
				fr->line_number = (uint32_t)l->lines[k].line;
			}
			frame_ptrs[f] = fr;
		}
	}
	/* callstacks root first: locations from the root end, and within a
	 * location its outermost function before the ones inlined into it */
	size_t ii = 0;
	for (size_t i = 0; i < d->nsamples; i++) {
		const struct trace_sample *s = &d->samples[i];
		Perfetto__Protos__Callstack *cs = &stacks[i];
		perfetto__protos__callstack__init(cs);
		cs->has_iid = 1;
		cs->iid = i + 1;
		cs->frame_ids = &ids[ii];
		for (size_t j = s->nlocs; j-- > 0;) {
			const struct profile_location *l = &p->locations[s->locs[j]];
			size_t n = l->nlines ? l->nlines : 1;
			for (size_t k = n; k-- > 0;)
				ids[ii++] = first_frame[s->locs[j]] + k + 1;
		}
		cs->n_frame_ids = (size_t)(&ids[ii] - cs->frame_ids);
		stack_ptrs[i] = cs;
		stack_iids[i] = cs->iid;
	}
	strings_finish(&fn);
	strings_finish(&src);
	strings_finish(&paths);
	strings_finish(&bids);

	Perfetto__Protos__InternedData in;
	perfetto__protos__interned_data__init(&in);
	in.n_function_names = fn.n;
	in.function_names = fn.p;
	in.n_source_paths = src.n;
	in.source_paths = src.p;
	in.n_mapping_paths = paths.n;
	in.mapping_paths = paths.p;
	in.n_build_ids = bids.n;
	in.build_ids = bids.p;
	in.n_mappings = p->nmappings;
	in.mappings = map_ptrs;
	in.n_frames = nframes;
	in.frames = frame_ptrs;
	in.n_callstacks = d->nsamples;
	in.callstacks = stack_ptrs;
	Perfetto__Protos__TracePacket pkt;
	packet_init(&pkt);
	pkt.has_sequence_flags = 1;
	pkt.sequence_flags = SEQ_INCREMENTAL_STATE_CLEARED;
	pkt.interned_data = &in;
	emit(out, &pkt);

	free(fn.v); free(fn.p); free(src.v); free(src.p);
	free(paths.v); free(paths.p); free(bids.v); free(bids.p);
	free(maps); free(map_ptrs); free(path_ids); free(frames); free(frame_ptrs);
	free(first_frame); free(stacks); free(stack_ptrs); free(ids);
}

static void emit_tracks(struct buf *out, const struct trace_data *d)
{
	Perfetto__Protos__TracePacket pkt;
	Perfetto__Protos__TrackDescriptor td;
	Perfetto__Protos__ProcessDescriptor pd;
	packet_init(&pkt);
	perfetto__protos__track_descriptor__init(&td);
	perfetto__protos__process_descriptor__init(&pd);
	td.has_uuid = 1;
	td.uuid = PROCESS_UUID(d->pid);
	pd.has_pid = 1;
	pd.pid = d->pid;
	pd.process_name = (char *)d->process_name;
	pd.n_cmdline = d->ncmdline;
	pd.cmdline = (char **)d->cmdline;
	td.process = &pd;
	pkt.track_descriptor = &td;
	emit(out, &pkt);
	for (size_t i = 0; i < d->nthreads; i++) {
		Perfetto__Protos__ThreadDescriptor thd;
		packet_init(&pkt);
		perfetto__protos__track_descriptor__init(&td);
		perfetto__protos__thread_descriptor__init(&thd);
		td.has_uuid = td.has_parent_uuid = 1;
		td.uuid = THREAD_UUID(d->threads[i].tid);
		td.parent_uuid = PROCESS_UUID(d->pid);
		thd.has_pid = thd.has_tid = 1;
		thd.pid = d->pid;
		thd.tid = d->threads[i].tid;
		thd.thread_name = (char *)d->threads[i].name;
		td.thread = &thd;
		pkt.track_descriptor = &td;
		emit(out, &pkt);
	}
}

static void emit_event(struct buf *out, uint64_t track, int64_t ts,
		       Perfetto__Protos__TrackEvent__Type type, const char *name)
{
	Perfetto__Protos__TracePacket pkt;
	Perfetto__Protos__TrackEvent ev;
	packet_init(&pkt);
	perfetto__protos__track_event__init(&ev);
	pkt.has_timestamp = 1;
	pkt.timestamp = (uint64_t)ts;
	ev.has_type = ev.has_track_uuid = 1;
	ev.type = type;
	ev.track_uuid = track;
	ev.name = (char *)name;
	pkt.track_event = &ev;
	emit(out, &pkt);
}

/* Each gap in the records, as a slice on its buffer's track ("records
 * lost, CPU 1") that says what it left out: read in the viewer where
 * the threads' slices pause. */
static void emit_gaps(struct buf *out, const struct trace_data *d)
{
	for (size_t i = 0; i < d->ngaps; i++) {
		const struct trace_gap *g = &d->gaps[i];
		char where[48], text[200];
		if (g->cpu >= 0)
			snprintf(where, sizeof where, "CPU %d", g->cpu);
		else if (g->tid)
			snprintf(where, sizeof where, "thread %d", (int)g->tid);
		else
			snprintf(where, sizeof where, "several buffers");
		size_t j = 0;
		while (j < i && GAP_UUID(&d->gaps[j]) != GAP_UUID(g))
			j++;
		if (j == i) { /* its buffer's track, once */
			Perfetto__Protos__TracePacket pkt;
			Perfetto__Protos__TrackDescriptor td;
			char name[80];
			snprintf(name, sizeof name, "pprof-fcgi: records lost, %s", where);
			packet_init(&pkt);
			perfetto__protos__track_descriptor__init(&td);
			td.has_uuid = td.has_parent_uuid = 1;
			td.uuid = GAP_UUID(g);
			td.parent_uuid = PROCESS_UUID(d->pid);
			td.name = name;
			pkt.track_descriptor = &td;
			emit(out, &pkt);
		}
		snprintf(text, sizeof text, "pprof-fcgi: %llu records lost in the buffer of %s (it "
			 "filled): %s's slices are left out here", (unsigned long long)g->lost, where,
			 g->tid ? "this thread" : "every thread");
		emit_event(out, GAP_UUID(g), g->from_ns,
			   PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN, text);
		emit_event(out, GAP_UUID(g), g->to_ns,
			   PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END, NULL);
	}
}

int trace_encode(const struct trace_data *d, struct buf *out, struct err *e)
{
	uint64_t *stack_iids = calloc(d->nsamples + 1, sizeof *stack_iids);
	if (!stack_iids)
		abort();
	emit_interned(out, d, stack_iids);
	emit_tracks(out, d);
	for (size_t i = 0; i < d->nslices; i++) {
		const struct trace_slice *s = &d->slices[i];
		emit_event(out, THREAD_UUID(s->tid), s->start_ns,
			   PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN, s->name);
		emit_event(out, THREAD_UUID(s->tid), s->end_ns,
			   PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END, NULL);
	}
	emit_gaps(out, d);
	for (size_t i = 0; i < d->nsamples; i++) {
		Perfetto__Protos__TracePacket pkt;
		Perfetto__Protos__PerfSample ps;
		packet_init(&pkt);
		perfetto__protos__perf_sample__init(&ps);
		pkt.has_timestamp = pkt.has_sequence_flags = 1;
		pkt.timestamp = (uint64_t)d->samples[i].ts_ns;
		pkt.sequence_flags = SEQ_NEEDS_INCREMENTAL_STATE;
		ps.has_pid = ps.has_tid = ps.has_callstack_iid = ps.has_cpu_mode = 1;
		ps.pid = (uint32_t)d->pid;
		ps.tid = (uint32_t)d->samples[i].tid;
		ps.callstack_iid = stack_iids[i];
		ps.cpu_mode = PERFETTO__PROTOS__PROFILING__CPU_MODE__MODE_USER;
		pkt.perf_sample = &ps;
		emit(out, &pkt);
	}
	free(stack_iids);
	return buf_check(out, e);
}
