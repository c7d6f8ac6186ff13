/* pprof-fcgi: Go's net/http/pprof API for a native process, as a FastCGI
 * responder. main wires config, the edge and the router, then waits for
 * SIGTERM or SIGINT in this thread (blocked in every other), so a stop
 * always runs the one cleanup path. */
#include "collect/collector.h"
#include "config.h"
#include "ctx.h"
#include "base/err.h"
#include "edge/fcgi.h"
#include "edge/http.h"
#include "base/log.h"
#include "collect/proc.h"
#include "edge/router.h"
#include "profile/kallsyms.h"
#include "profile/symbolize.h"
#include "selfcheck.h"

#include "build-config.h" /* autoconf: PACKAGE_VERSION */

#include <errno.h>
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

static bool is_timed(void *arg, const char *script_name, const char *path_info,
		     const char *query_string)
{
	(void)arg;
	return router_is_timed(script_name, path_info, query_string);
}

int main(int argc, char **argv)
{
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
	cc.kernel_frames = strcmp(cfg.kernel_frames, "auto") == 0;
	if (!cc.kernel_frames && strcmp(cfg.kernel_frames, "off") != 0) {
		fprintf(stderr, "pprof-fcgi: kernel-frames: %s: not auto or off\n", cfg.kernel_frames);
		config_release(&cfg);
		return 2;
	}
	/* tests: perf_event_open refused, which this machine's kernel allows */
	if (getenv("PPROF_FCGI_TEST_PERF_EACCES"))
		cc.perf_refused = EACCES;
	struct ctx ctx = {
		.cfg = &cfg,
		.target = { .pid = cfg.target_pid, .pidfile = cfg.target_pidfile, .exe = cfg.target_exe },
		.self = getpid(),
		.collector = collector_new(&cc),
		.symbolizer = symbolizer_new(),
		.kallsyms = kallsyms_new(),
	};
	symbolizer_set_debug_root(ctx.symbolizer, cfg.debug_dir);
	pthread_mutex_init(&ctx.sym_lock, NULL);
	char what[512];
	proc_describe(&ctx.target, what, sizeof what);

	struct fcgi_server *srv = fcgi_open(cfg.listen, cfg.allow_insecure_listen, &e);
	if (!srv) {
		fprintf(stderr, "pprof-fcgi: %s\n", e.msg);
		collector_free(ctx.collector);
		symbolizer_free(ctx.symbolizer);
		kallsyms_free(ctx.kallsyms);
		config_release(&cfg);
		return 2;
	}
	int rc = 0;
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
		int sig = 0;
		sigwait(&stop, &sig);
		log_info("%s: stopping", strsignal(sig));
	}
	collector_close(ctx.collector); /* ends profiles in progress now */
	fcgi_stop(srv);
	collector_free(ctx.collector);
	symbolizer_free(ctx.symbolizer);
	kallsyms_free(ctx.kallsyms);
	pthread_mutex_destroy(&ctx.sym_lock);
	config_release(&cfg);
	return rc;
}
