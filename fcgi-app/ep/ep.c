#include "ep/ep.h"

#include "base/buf.h"
#include "base/err.h"
#include "collect/heap.h"
#include "collect/sampler.h"
#include "ctx.h"
#include "edge/http.h"
#include "encode/pprof.h"
#include "profile/profile.h"
#include "profile/symbolize.h"

#include <string.h>
#include <time.h>

int ep_profile_options(struct profile *p, const struct params *pp, struct err *e)
{
	if (pp->debug)
		return 0;
	p->split_inlines = pp->split_inlines;
	if (pp->sample_index && profile_set_default_type(p, pp->sample_index) < 0) {
		char names[256];
		profile_type_names(p, names, sizeof names);
		return err_set(e, ERR_INVALID,
			       "invalid value for \"sample_index\" - must be one of %s", names);
	}
	return 0;
}

int ep_send_profile(struct ctx *ctx, pid_t pid, struct profile *p, const struct ep_body *how,
		    struct buf *out, struct err *e)
{
	size_t before = p->ncomments;
	ctx_symbolize(ctx, pid, p);
	/* frames of time the sampler knows but has no stack for: a thread's
	 * time in the kernel where kernel frames were not sampled, and a
	 * thread's CPU time none of its samples was kept for */
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *l = &p->locations[i];
		if (l->nlines)
			continue;
		if (l->address == SAMPLER_PC_KERNEL)
			profile_location_add_line(l, "[kernel: not sampled]", NULL, NULL, 0);
		else if (l->address == SAMPLER_PC_NOT_SAMPLED)
			profile_location_add_line(l, "[not sampled]", NULL, NULL, 0);
	}
	ctx_name_kernel(ctx, p);
	size_t said = p->ncomments;
	if (how && how->symbolized)
		how->symbolized(p);
	if (how && how->text) {
		how->text(out, p, how->arg);
		/* what symbolizing could not do (frames without names), where
		 * the text's reader sees it: "#" lines are comments to pprof */
		for (size_t i = before; i < said; i++)
			buf_printf(out, "# %s\n", p->comments[i]);
	} else {
		if (p->split_inlines)
			profile_split_inlines(p);
		if (pprof_encode(p, out, e) < 0)
			return -1;
	}
	return buf_check(out, e);
}

/* Names p's frames in unloaded library k (see ep_name_unloaded). */
static void name_library(struct ctx *ctx, pid_t pid, const struct heap_snapshot *s,
			 struct profile *p, uint64_t k, const char *since)
{
	const struct pprof_agent_unload *u = &s->unloads[k];
	char file[PPROF_AGENT_FILE];
	memcpy(file, u->file, sizeof file);
	file[sizeof file - 1] = '\0'; /* read from the target: trust no terminator */
	uint64_t size = u->hi > u->lo ? u->hi - u->lo : 0;
	struct symbolize_module m = {
		.start = heap_unloaded_base(k),
		.limit = heap_unloaded_base(k) + (size < HEAP_UNLOADED_ROOM ? size : HEAP_UNLOADED_ROOM),
		.lo = u->lo, .bias = u->bias, .offset = u->offset, .file = file, .pid = pid,
		.build_id = u->build_id,
		.build_id_size = u->build_id_size < sizeof u->build_id ? u->build_id_size
								       : sizeof u->build_id,
	};
	struct err e = { 0 };
	int named = ctx_symbolize_unloaded(ctx, p, &m, &e);
	size_t left = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *l = &p->locations[i];
		if (l->address < m.start || l->address >= m.limit || l->nlines)
			continue;
		profile_location_add_line(l, HEAP_UNLOADED_NAME, HEAP_UNLOADED_NAME, NULL, 0);
		left++;
	}
	const char *what = file[0] ? file : "a library";
	if (named < 0)
		profile_add_comment(p, "frames in %s, unloaded since %s, are shown as "
				    HEAP_UNLOADED_NAME ": %s", what, since, e.msg);
	else if (left)
		profile_add_comment(p, "frames in %s, unloaded since %s, are named from the file "
				    "with its build-id; %zu it has no symbols for are shown as "
				    HEAP_UNLOADED_NAME, what, since, left);
	else
		profile_add_comment(p, "frames in %s, unloaded since %s, are named from the file "
				    "with its build-id", what, since);
}

size_t ep_name_unloaded(struct ctx *ctx, pid_t pid, const struct heap_snapshot *s,
			struct profile *p, const char *since)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct profile_location *l = &p->locations[i];
		if (!(l->address & HEAP_UNLOADED_BIT))
			continue;
		n++;
		uint64_t k = (l->address & ~HEAP_UNLOADED_BIT) >> HEAP_UNLOADED_SHIFT;
		/* the first of its library's frames: all of them are named now */
		if (!l->nlines && !l->mapping && k < s->nunloads)
			name_library(ctx, pid, s, p, k, since);
	}
	return n;
}

void ep_utc(int64_t ns, char *out, size_t size)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
