/* pprof-fcgi: Go's net/http/pprof API for a native process, as a FastCGI
 * responder. main wires config, the edge and the router, then waits for
 * SIGTERM or SIGINT in this thread (blocked in every other), so a stop
 * always runs the one cleanup path. */
#include "collect/collector.h"
#include "collect/maphist.h"
#include "config.h"
#include "ctx.h"
#include "base/err.h"
#include "edge/fcgi.h"
#include "edge/http.h"
#include "base/log.h"
#include "collect/proc.h"
#include "edge/router.h"
#include "ep/ep.h"
#include "profile/kallsyms.h"
#include "profile/symbolize.h"
#include "profile/symbolize_fetch.h"
#include "selfcheck.h"

#include "build-config.h" /* autoconf: PACKAGE_VERSION */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void handle(void *arg, struct req *req, struct resp *resp)
{
	router_handle(arg, req, resp);
}

/* The agent POST /agent loads: agent-path, else the one built beside this
 * program when it runs from the build tree (./run.sh, the tests), else
 * the one installed with it. */
static void agent_path(const char *configured, char *out, size_t size)
{
	if (configured) {
		snprintf(out, size, "%s", configured);
		return;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			int len = snprintf(out, size, "%s/../agent/.libs/libpprof-agent.so", exe);
			if (len > 0 && (size_t)len < size && access(out, R_OK) == 0)
				return;
		}
	}
	snprintf(out, size, "%s", PF_AGENT_PATH);
}

/* agent-load = at-start: looks for the target every agent-load-poll
 * seconds and loads the agent where it is missing: at start, and into a
 * new process or program after a restart or exec. A failed load is
 * remembered for that process and logged once (ep_agent_load); one that
 * found no thread fit to lend itself is tried again at the next look. */
struct poller {
	struct ctx *ctx;
	atomic_bool stop;
};

static void *agent_poller(void *arg)
{
	struct poller *p = arg;
	struct ctx *ctx = p->ctx;
	char last[sizeof ctx->agent.line] = "";
	while (!atomic_load(&p->stop)) {
		struct proc_found found;
		struct err e = { 0 };
		char line[sizeof ctx->agent.line];
		/* a target not running is said by the requests (503) */
		if (proc_find(&ctx->target, ctx->self, &found, &e) == 0) {
			int status = ep_agent_load(ctx, found.pid, "- (agent-load = at-start)", false,
						   true, line, sizeof line, &e);
			if (status < 0 && strcmp(e.msg, last) != 0) {
				log_warn("agent-load = at-start: pid %d: %s", (int)found.pid, e.msg);
				snprintf(last, sizeof last, "%s", e.msg);
			}
			log_debug("agent-load = at-start: pid %d: %d %s", (int)found.pid, status,
				  status < 0 ? e.msg : line);
		}
		ctx_sleep(ctx, ctx->cfg->agent_load_poll);
	}
	return NULL;
}

static bool is_timed(void *arg, const char *script_name, const char *path_info,
		     const char *query_string)
{
	(void)arg;
	return router_is_timed(script_name, path_info, query_string);
}

int main(int argc, char **argv)
{
	/* the background fetch of one debug file (profile/symbolize_fetch.h) */
	if (argc == 3 && strcmp(argv[1], "--fetch-debuginfo") == 0)
		return symbolize_fetch_child(argv[2], stdout);
	struct config cfg;
	struct err e = { 0 };
	int action = config_load(&cfg, argc, argv, &e);
	if (action == CONFIG_HELP) {
		config_usage(stdout);
		config_release(&cfg);
		return 0;
	}
	if (action == CONFIG_VERSION) {
		printf("pprof-fcgi %s\n", PACKAGE_VERSION);
		config_release(&cfg);
		return 0;
	}
	if (action < 0) {
		fprintf(stderr, "pprof-fcgi: %s\n", e.msg);
		config_release(&cfg);
		return 2;
	}
	if (strcmp(cfg.viewer, "auto") && strcmp(cfg.viewer, "on") && strcmp(cfg.viewer, "off")) {
		fprintf(stderr, "pprof-fcgi: viewer: invalid value \"%s\" (auto, on or off)\n",
			cfg.viewer);
		config_release(&cfg);
		return 2;
	}
	if (action == CONFIG_CHECK) {
		int rc = selfcheck_run(&cfg, stdout);
		config_release(&cfg);
		return rc;
	}
	log_set_level(cfg.log_level);
	/* libdwfl would download inside a request: the symbolizer's fetcher
	 * does it in the background with these */
	char *debuginfod_urls = symbolize_fetch_take_env();
	/* the collector keeps a descriptor per target thread */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}

	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	/* SIGCHLD reports tracee events; the collector reads it from a
	 * signalfd, so no thread may take it */
	sigset_t blocked = stop;
	sigaddset(&blocked, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL); /* inherited by every thread */
	signal(SIGPIPE, SIG_IGN);

	struct collector_config cc = { .sampler = COLLECTOR_AUTO, .self = getpid() };
	if (strcmp(cfg.cpu_sampler, "perf_event") == 0)
		cc.sampler = COLLECTOR_PERF_EVENT;
	else if (strcmp(cfg.cpu_sampler, "ptrace") == 0)
		cc.sampler = COLLECTOR_PTRACE;
	else if (strcmp(cfg.cpu_sampler, "auto") != 0) {
		fprintf(stderr, "pprof-fcgi: cpu-sampler: %s: not auto, perf_event or ptrace\n",
			cfg.cpu_sampler);
		config_release(&cfg);
		return 2;
	}
	if (strcmp(cfg.agent_load, "on-request") != 0 && strcmp(cfg.agent_load, "at-start") != 0 &&
	    strcmp(cfg.agent_load, "never") != 0) {
		fprintf(stderr, "pprof-fcgi: agent-load: %s: not on-request, at-start or never\n",
			cfg.agent_load);
		config_release(&cfg);
		return 2;
	}
	if (strcmp(cfg.agent_load_seccomp, "refuse") != 0 && strcmp(cfg.agent_load_seccomp, "try") != 0) {
		fprintf(stderr, "pprof-fcgi: agent-load-seccomp: %s: not refuse or try\n",
			cfg.agent_load_seccomp);
		config_release(&cfg);
		return 2;
	}
	if (strcmp(cfg.perf_layout, "per-cpu") == 0)
		cc.perf_layout = SAMPLER_LAYOUT_PER_CPU;
	else if (strcmp(cfg.perf_layout, "per-thread") == 0)
		cc.perf_layout = SAMPLER_LAYOUT_PER_THREAD;
	else if (strcmp(cfg.perf_layout, "auto") != 0) {
		fprintf(stderr, "pprof-fcgi: perf-layout: %s: not auto, per-cpu or per-thread\n", cfg.perf_layout);
		config_release(&cfg);
		return 2;
	}
	cc.kernel_frames = strcmp(cfg.kernel_frames, "auto") == 0;
	if (!cc.kernel_frames && strcmp(cfg.kernel_frames, "off") != 0) {
		fprintf(stderr, "pprof-fcgi: kernel-frames: %s: not auto or off\n", cfg.kernel_frames);
		config_release(&cfg);
		return 2;
	}
	/* tests: perf_event_open refused, which this machine's kernel allows */
	if (getenv("PPROF_FCGI_TEST_PERF_EACCES"))
		cc.perf_refused = EACCES;
	/* tests: records lost in a /trace (collect/perf_rec.c) */
	const char *stall = getenv("PPROF_FCGI_TEST_PERF_STALL_MS");
	cc.perf_stall_ms = stall ? atoi(stall) : 0;
	/* the collector adds to it, the symbolizer reads a copy; outlives both */
	struct maphist maps;
	maphist_init(&maps);
	cc.maps = &maps;
	struct ctx ctx = {
		.cfg = &cfg,
		.target = { .pid = cfg.target_pid, .pidfile = cfg.target_pidfile, .exe = cfg.target_exe },
		.self = getpid(),
		.collector = collector_new(&cc),
		.symbolizer = symbolizer_new(),
		.kallsyms = kallsyms_new(),
		.maps = &maps,
	};
	symbolizer_set_debug_root(ctx.symbolizer, cfg.debug_dir);
	symbolizer_set_debuginfod(ctx.symbolizer, debuginfod_urls);
	pthread_mutex_init(&ctx.sym_lock, NULL);
	pthread_mutex_init(&ctx.agent.lock, NULL);
	agent_path(cfg.agent_path, ctx.agent_path, sizeof ctx.agent_path);
	/* tests: the thread a load seizes, and a step it stops at */
	const char *tid = getenv("PPROF_FCGI_TEST_AGENT_TID");
	ctx.agent_test_tid = tid ? (pid_t)atoi(tid) : 0;
	ctx.agent_test_pause = getenv("PPROF_FCGI_TEST_AGENT_PAUSE");
	char what[512];
	proc_describe(&ctx.target, what, sizeof what);

	struct fcgi_server *srv = fcgi_open(cfg.listen, cfg.allow_insecure_listen, &e);
	if (!srv) {
		fprintf(stderr, "pprof-fcgi: %s\n", e.msg);
		collector_free(ctx.collector);
		symbolizer_free(ctx.symbolizer);
		free(debuginfod_urls);
		kallsyms_free(ctx.kallsyms);
		maphist_release(&maps);
		config_release(&cfg);
		return 2;
	}
	int rc = 0;
	struct poller poll = { .ctx = &ctx };
	pthread_t poller;
	bool polling = false;
	if (fcgi_start(srv, (int)cfg.threads, (int)cfg.max_timed, handle, is_timed, &ctx, &e) < 0) {
		log_error("%s", e.msg);
		rc = 1;
	} else {
		struct proc_found found;
		struct err te = { 0 };
		if (proc_find(&ctx.target, ctx.self, &found, &te) < 0) {
			log_warn("%s (requests answer 503 until it runs)", te.msg);
		} else {
			if (found.by)
				log_info("%s is pid %d, found by %s; %d process%s match%s", what,
					 (int)found.pid, found.by, found.matches,
					 found.matches > 1 ? "es" : "", found.matches > 1
					 ? ": the oldest of those found by the earliest name" : "es");
			if (proc_check_access(found.pid, &te) < 0)
				log_warn("%s", te.msg);
		}
		log_info("pprof-fcgi %s serving %s on %s with %ld threads", PACKAGE_VERSION, what,
			 cfg.listen ? cfg.listen : "fd 0", cfg.threads);
		if (strcmp(cfg.agent_load, "at-start") == 0) {
			if (pthread_create(&poller, NULL, agent_poller, &poll) == 0)
				polling = true;
			else
				log_error("agent-load = at-start: cannot start its thread: the agent "
					  "loads on POST only");
		}
		int sig = 0;
		sigwait(&stop, &sig);
		log_info("%s: stopping", strsignal(sig));
	}
	atomic_store(&poll.stop, true);
	collector_close(ctx.collector); /* ends profiles in progress now, and the poller's sleep */
	if (polling)
		pthread_join(poller, NULL);
	fcgi_stop(srv);
	collector_free(ctx.collector);
	symbolizer_free(ctx.symbolizer);
	free(debuginfod_urls);
	kallsyms_free(ctx.kallsyms);
	maphist_release(&maps);
	pthread_mutex_destroy(&ctx.sym_lock);
	config_release(&cfg);
	return rc;
}
