#include "ep/ep.h"

#include "ctx.h"
#include "collect/collector.h"
#include "collect/heap.h"
#include "encode/html.h"
#include "edge/http.h"
#include "collect/proc.h"
#include "base/vec.h"
#include "profile/symbolize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Go's list, in Go's order, described for a native process, with the
 * row's links into the browser viewer (CPU at the default hz). */
static const struct html_row rows_template[] = {
	{ "allocs", -1, "A sampling of all past memory allocations, recorded by the preload agent "
	  "(LD_PRELOAD=libpprof-agent.so).", {
	  { "allocated bytes", "sample_index=alloc_space&inlines=split", "allocated bytes" },
	  { "allocated objects", "sample_index=alloc_objects&inlines=split", "allocated objects" } } },
	{ "block", -1, "Stack traces of threads found waiting (futex, poll, read, sleep...) by "
	  "wall-clock sampling over a window: seconds, default 5.", {
	  { "5 s", "seconds=5&inlines=split", "block 5 s" } } },
	{ "cmdline", -1, "The command line of the target process.", { { 0 } } },
	{ "goroutine", -1, "Stack traces of all current threads (threads take the place of "
	  "goroutines). Use debug=2 for one block per thread with files and lines.", {
	  { "flame graph", "inlines=split", "threads" } } },
	{ "heap", -1, "A sampling of the live memory allocations, recorded by the preload agent "
	  "(LD_PRELOAD=libpprof-agent.so). You can specify the gc GET parameter; it is accepted "
	  "and ignored (a native heap has no collector).", {
	  { "in-use bytes", "sample_index=inuse_space&inlines=split", "in-use bytes" },
	  { "in-use objects", "sample_index=inuse_objects&inlines=split", "in-use objects" } } },
	{ "mutex", -1, "Stack traces of threads waiting to acquire a lock (pthread_mutex_lock, "
	  "pthread_rwlock_*, __lll_lock_wait...) over a window: seconds, default 5.", {
	  { "5 s", "seconds=5&inlines=split", "mutex 5 s" } } },
	{ "profile", -1, NULL /* profile_desc */, {
	  { "5 s", "seconds=5&inlines=split", "CPU 5 s" },
	  { "10 s", "seconds=10&inlines=split", "CPU 10 s" },
	  { "30 s", "seconds=30&inlines=split", "CPU 30 s" } } },
	{ "threadcreate", -1, "Stack traces that led to the creation of the current threads "
	  "(with the agent; without it, threads grouped by their start routine).", {
	  { "flame graph", "inlines=split", "threadcreate" } } },
	{ "trace", -1, "A Perfetto trace of the target's threads: running and waiting slices and "
	  "CPU samples. Choose the duration with seconds (default 1); open it in ui.perfetto.dev.", { { 0 } } },
};

#define NROWS (sizeof rows_template / sizeof rows_template[0])

/* the profile row's text, with the sampler a window would get now */
static const char profile_desc[] = "CPU profile of all threads (CPU sampler: %s). Choose the "
	"duration with seconds (default 30) and the rate with hz (default 100). After you get "
	"the profile file, use the go tool pprof command to investigate it.";

struct unnamed {
	char **line;
	size_t n, cap;
};

static void add_unnamed(void *arg, const struct symbolize_debug *d)
{
	struct unnamed *u = arg;
	if (d->named)
		return;
	char **line = VEC_PUSH(u->line, u->n, u->cap, 8);
	if (asprintf(line, "%s (build-id %s): to name its frames, %s", d->file,
		     d->build_id ? d->build_id : "none", d->remedy) < 0)
		abort();
}

/* config_load fills it; a config made otherwise (tests) has auto */
static const char *viewer_mode(const struct config *cfg)
{
	return cfg->viewer ? cfg->viewer : "auto";
}

bool ep_viewer_shown(const struct config *cfg)
{
	if (!strcmp(viewer_mode(cfg), "on"))
		return true;
	/* auto: the web server can serve what make install put there; the
	 * app cannot see what it serves, only what is installed */
	return !strcmp(viewer_mode(cfg), "auto") && access(PF_VIEWER_DIR "/index.html", R_OK) == 0;
}

int ep_index(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	struct proc_info info;
	if (proc_info(req->pid, &info, e) < 0)
		return -1;
	struct html_row rows[NROWS];
	memcpy(rows, rows_template, sizeof rows);
	char sampler[SAMPLER_LINE], cpu_desc[sizeof profile_desc + SAMPLER_LINE];
	if (ctx->collector)
		collector_sampler(ctx->collector, req->pid, sampler, sizeof sampler);
	else /* a ctx made without one (tests) */
		snprintf(sampler, sizeof sampler, "none");
	snprintf(cpu_desc, sizeof cpu_desc, profile_desc, sampler);
	for (size_t i = 0; i < NROWS; i++) {
		if (!strcmp(rows[i].name, "goroutine") || !strcmp(rows[i].name, "threadcreate"))
			rows[i].count = info.threads;
		if (!strcmp(rows[i].name, "profile"))
			rows[i].desc = cpu_desc;
	}

	struct err access = { 0 };
	proc_check_access(req->pid, &access);
	struct heap_snapshot agent = { 0 };
	struct err agent_err = { 0 };
	if (access.kind == ERR_NONE && ctx_heap_read(ctx, req->pid, &agent, &agent_err) == 0 &&
	    agent.present) {
		long stacks = 0;
		for (uint64_t i = 0; i < agent.h.nbuckets; i++)
			stacks += agent.buckets[i].kind == PPROF_AGENT_ALLOC;
		for (size_t i = 0; i < NROWS; i++)
			if (!strcmp(rows[i].name, "heap") || !strcmp(rows[i].name, "allocs"))
				rows[i].count = stacks;
	}
	bool viewer = ep_viewer_shown(ctx->cfg);
	bool loadable = !ctx->cfg->agent_load || strcmp(ctx->cfg->agent_load, "never") != 0;
	const char *notice = access.kind != ERR_NONE ? access.msg
		: agent_err.kind != ERR_NONE ? agent_err.msg
		: !agent.present && loadable ? "heap and allocs are empty: the target runs without the "
				   "heap agent; load it below, or start it with "
				   "LD_PRELOAD=<libdir>/libpprof-agent.so"
		: !agent.present ? "heap and allocs are empty: the target runs without the preload agent; "
				   "start it with LD_PRELOAD=<libdir>/libpprof-agent.so"
		: NULL;
	bool at_start = ctx->cfg->agent_load && strcmp(ctx->cfg->agent_load, "at-start") == 0;
	char state[sizeof ctx->agent.line + 160] = "";
	if (agent.present) {
		char at[32];
		ep_utc((int64_t)agent.h.since_ns, at, sizeof at);
		snprintf(state, sizeof state, "%s since %s%s", agent.h.origin == PPROF_AGENT_LOADED ?
			 "loaded into the running process" : "preloaded", at,
			 at_start ? " (agent-load = at-start)" : "");
	} else if (at_start && access.kind == ERR_NONE) {
		/* held through a load: the page does not wait for it */
		bool loading = pthread_mutex_trylock(&ctx->agent.lock) != 0;
		bool failed = !loading && ctx->agent.pid == req->pid && ctx->agent.status != 200;
		snprintf(state, sizeof state, "not loaded yet (agent-load = at-start looks every "
			 "%ld s)%s%.640s", ctx->cfg->agent_load_poll,
			 loading ? "; being loaded now" : failed ? "; the last load: " : "",
			 failed ? ctx->agent.line : "");
		if (!loading)
			pthread_mutex_unlock(&ctx->agent.lock);
	}

	struct buf cmd, path;
	buf_init(&cmd, "command line", 64 * 1024);
	buf_init(&path, "path", 8 * 1024);
	struct err ignored = { 0 };
	if (proc_cmdline(req->pid, &cmd, &ignored) == 0)
		for (size_t i = 0; i < cmd.len; i++)
			if (cmd.data[i] == '\0')
				cmd.data[i] = ' ';
	buf_puts(&path, req->script_name);
	buf_puts(&path, req->path_info);

	struct unnamed unnamed = { 0 };
	if (access.kind == ERR_NONE)
		ctx_modules(ctx, req->pid, add_unnamed, &unnamed);

	struct html_index page = {
		.path = buf_cstr(&path),
		.target = &info,
		.cmdline = buf_cstr(&cmd),
		.found_by = req->found.by,
		.matches = req->found.matches,
		.notice = notice,
		.agent = state[0] ? state : NULL,
		.agent_form = access.kind == ERR_NONE && !agent.present && loadable,
		.unnamed = (const char *const *)unnamed.line,
		.nunnamed = unnamed.n,
		.rows = rows,
		.nrows = NROWS,
		.viewer = viewer,
		.viewer_note = viewer || !strcmp(viewer_mode(ctx->cfg), "off") ? NULL
			: "flame graphs: the viewer is not installed in " PF_VIEWER_DIR
			  " (tools/fetch-viewer.sh, then configure, make install; "
			  "viewer = on when the web server serves MOUNT/ui/ from elsewhere)",
	};
	resp->content_type = "text/html; charset=utf-8";
	html_index(&resp->body, &page);
	buf_release(&cmd);
	buf_release(&path);
	heap_snapshot_release(&agent);
	for (size_t i = 0; i < unnamed.n; i++)
		free(unnamed.line[i]);
	free(unnamed.line);
	return 0;
}
