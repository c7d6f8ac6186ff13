/* config: every setting of the app, from the config file and the command
 * line (which wins), described by one table of keys with their defaults.
 * Filled once in main, then read-only. */
#ifndef PF_CONFIG_H
#define PF_CONFIG_H

#include "base/log.h"

#include <stdbool.h>
#include <stdio.h>

struct err;

struct config {
	char *config_file;    /* --config, or NULL */
	char *listen;         /* "unix:/path" or "HOST:PORT"; NULL: fd 0 */
	long target_pid;      /* 0: not set */
	char *target_pidfile; /* NULL: not set */
	char *target_exe;     /* NULL: not set */
	long max_seconds;
	long threads;
	long max_timed;
	enum log_level log_level;
	bool allow_insecure_listen; /* a non-loopback or world-writable socket */
	char *cpu_sampler;    /* "auto", "perf_event" or "ptrace" */
	char *kernel_frames;  /* "auto" or "off" */
	char *perf_layout;    /* "auto", "per-cpu" or "per-thread" */
	char *debug_dir;      /* separate debug files: DIR/.build-id/xx/yyyy.debug */
	char *viewer;         /* flame-graph links on the index: "auto", "on" or "off" */
	char *agent_load;     /* "on-request", "at-start" or "never" */
	long agent_load_poll; /* seconds, at-start's */
	char *agent_path;     /* NULL: the agent built with pprof-fcgi */
	long agent_rate;
	long agent_load_timeout;   /* seconds */
	char *agent_load_seccomp;  /* "refuse" or "try" */
};

enum config_action { CONFIG_RUN = 0, CONFIG_HELP = 1, CONFIG_VERSION = 2, CONFIG_CHECK = 3 };

/* Defaults, then the file named by --config (if any), then the options.
 * Returns a config_action, or -1 with e saying which file, line, option or
 * key was wrong. c must be released with config_release either way. */
int config_load(struct config *c, int argc, char **argv, struct err *e);
/* Parses config file text (the file's content); name is used in errors. */
int config_parse_text(struct config *c, const char *name, const char *text,
		      struct err *e);
void config_release(struct config *c);
void config_usage(FILE *out);

#endif
