#include "config.h"

#include "base/buf.h"
#include "base/err.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum key_type { KEY_STRING, KEY_INT, KEY_LEVEL, KEY_BOOL };

struct key {
	const char *name;
	enum key_type type;
	size_t offset;
	const char *def;   /* default as text, NULL for none */
	long min, max;     /* KEY_INT bounds */
	const char *help;
};

#define OFF(f) offsetof(struct config, f)

/* The one list of settings: conf/pprof-fcgi.conf mirrors it. */
static const struct key keys[] = {
	{ "listen", KEY_STRING, OFF(listen), NULL, 0, 0,
	  "unix:/path.sock or 127.0.0.1:PORT (default: fd 0 from the web server)" },
	{ "target-pid", KEY_INT, OFF(target_pid), NULL, 1, INT_MAX,
	  "profile the process with this pid" },
	{ "target-pidfile", KEY_STRING, OFF(target_pidfile), NULL, 0, 0,
	  "profile the process whose pid this file holds (re-read per request)" },
	{ "target-exe", KEY_STRING, OFF(target_exe), NULL, 0, 0,
	  "profile the process so named (executable, path run as, argv[0] or comm; per request)" },
	{ "max-seconds", KEY_INT, OFF(max_seconds), "300", 1, 86400,
	  "longest window a request may ask for" },
	{ "threads", KEY_INT, OFF(threads), "4", 1, 256,
	  "FastCGI threads accepting requests" },
	{ "max-timed-requests", KEY_INT, OFF(max_timed), "16", 1, 1024,
	  "timed requests (profiles) served at once, each on its own thread; more get 503" },
	{ "log-level", KEY_LEVEL, OFF(log_level), "info", 0, 0,
	  "error, warn, info or debug" },
	{ "cpu-sampler", KEY_STRING, OFF(cpu_sampler), "auto", 0, 0,
	  "auto (perf_event where it works for the target, else ptrace), perf_event or ptrace" },
	{ "perf-layout", KEY_STRING, OFF(perf_layout), "auto", 0, 0,
	  "perf_event's ring buffers: auto (one per CPU; one per thread where threads x CPUs events "
	  "would pass the open-file limit or per-CPU buffers are refused), per-cpu or per-thread" },
	{ "kernel-frames", KEY_STRING, OFF(kernel_frames), "auto", 0, 0,
	  "auto (perf_event samples the kernel's frames where permitted) or off" },
	{ "viewer", KEY_STRING, OFF(viewer), "auto", 0, 0,
	  "flame-graph links on the index: auto (when the viewer is installed), on or off" },
	{ "allow-insecure-listen", KEY_BOOL, OFF(allow_insecure_listen), "no", 0, 0,
	  "yes: listen on a non-loopback address or a world-writable socket anyway" },
	{ "agent-load", KEY_STRING, OFF(agent_load), "on-request", 0, 0,
	  "on-request (POST MOUNT/agent loads the heap agent into the running target), at-start "
	  "(loaded as soon as the target is found, and again after it execs or is replaced; POST "
	  "too) or never" },
	{ "agent-load-poll", KEY_INT, OFF(agent_load_poll), "10", 1, 3600,
	  "with agent-load = at-start: seconds between looks for a target without the agent" },
	{ "agent-path", KEY_STRING, OFF(agent_path), NULL, 0, 0,
	  "the agent file to load (default: the libpprof-agent.so built with pprof-fcgi)" },
	{ "agent-rate", KEY_INT, OFF(agent_rate), "524288", 0, INT_MAX,
	  "bytes between allocation samples of a loaded agent (0: loaded, dormant)" },
	{ "agent-load-timeout", KEY_INT, OFF(agent_load_timeout), "2", 1, 60,
	  "seconds each step of a load may take before the answer says it did not finish" },
	{ "agent-load-seccomp", KEY_STRING, OFF(agent_load_seccomp), "refuse", 0, 0,
	  "refuse (a target under a seccomp filter) or try (the filter may kill it)" },
	{ "debug-dir", KEY_STRING, OFF(debug_dir), "/usr/lib/debug", 0, 0,
	  "where separate debug files are looked up by build-id (tests set their own)" },
};

#define NKEYS (sizeof keys / sizeof keys[0])

static const struct key *key_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len && strncmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

/* Sets one key from its text. where is "FILE:LINE" for a config file line,
 * NULL for the command line; errors name the one or the other. */
static int key_set(struct config *c, const struct key *k, const char *value,
		   const char *where, struct err *e)
{
	char *field = (char *)c + k->offset;
	char subject[600];
	if (where)
		snprintf(subject, sizeof subject, "%s: %s", where, k->name);
	else
		snprintf(subject, sizeof subject, "--%s", k->name);
	switch (k->type) {
	case KEY_STRING: {
		char **s = (char **)(void *)field;
		if (!*value)
			return err_set(e, ERR_INVALID, "%s: empty value", subject);
		free(*s);
		*s = strdup(value);
		if (!*s)
			abort();
		return 0;
	}
	case KEY_INT: {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < k->min || v > k->max)
			return err_set(e, ERR_INVALID,
				       "%s: invalid value \"%s\" (an integer from %ld to %ld)",
				       subject, value, k->min, k->max);
		*(long *)(void *)field = v;
		return 0;
	}
	case KEY_BOOL: {
		bool *b = (bool *)(void *)field;
		if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
			*b = true;
		else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
			*b = false;
		else
			return err_set(e, ERR_INVALID, "%s: invalid value \"%s\" (yes or no)", subject, value);
		return 0;
	}
	case KEY_LEVEL:
		if (log_level_parse(value, (enum log_level *)(void *)field) < 0)
			return err_set(e, ERR_INVALID,
				       "%s: invalid value \"%s\" (error, warn, info or debug)",
				       subject, value);
		return 0;
	}
	return err_set(e, ERR_INTERNAL, "%s: unknown key type", subject);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int config_parse_text(struct config *c, const char *name, const char *text,
		      struct err *e)
{
	char *copy = strdup(text);
	if (!copy)
		abort();
	int rc = 0, lineno = 0;
	/* lines split by hand: strtok_r would skip empty ones and miscount */
	for (char *line = copy; line && rc == 0; ) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *l = trim(line);
		line = next;
		if (!*l)
			continue;
		char where[512];
		snprintf(where, sizeof where, "%s:%d", name, lineno);
		char *eq = strchr(l, '=');
		if (!eq) {
			rc = err_set(e, ERR_INVALID, "%s: expected \"key = value\", got \"%s\"", where, l);
			break;
		}
		*eq = '\0';
		char *k = trim(l), *v = trim(eq + 1);
		const struct key *key = key_find(k, strlen(k));
		if (!key) {
			rc = err_set(e, ERR_INVALID, "%s: unknown key \"%s\"", where, k);
			break;
		}
		rc = key_set(c, key, v, where, e);
	}
	free(copy);
	return rc;
}

static int config_read_file(struct config *c, const char *path, struct err *e)
{
	struct buf b;
	buf_init(&b, "config file", 1 << 20);
	int rc = buf_read_file(&b, path, e);
	if (rc == 0)
		rc = config_parse_text(c, path, buf_cstr(&b), e);
	buf_release(&b);
	return rc;
}

static void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].def)
			key_set(c, &keys[i], keys[i].def, "default", NULL);
}

/* Splits "--key=value" or "--key value"; returns the key or NULL. */
static const struct key *opt_key(const char *arg, const char **inline_value)
{
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	*inline_value = eq ? eq + 1 : NULL;
	return key_find(name, eq ? (size_t)(eq - name) : strlen(name));
}

static int config_check(const struct config *c, struct err *e)
{
	int targets = (c->target_pid != 0) + (c->target_pidfile != NULL) + (c->target_exe != NULL);
	if (targets == 0)
		return err_set(e, ERR_INVALID,
			       "no target: give --target-pid, --target-pidfile or --target-exe");
	if (targets > 1)
		return err_set(e, ERR_INVALID,
			       "more than one target: give only one of target-pid, target-pidfile, target-exe");
	if (c->listen && strncmp(c->listen, "unix:", 5) != 0 && !strchr(c->listen, ':'))
		return err_set(e, ERR_INVALID,
			       "listen: invalid value \"%s\" (unix:/path.sock or HOST:PORT)", c->listen);
	return 0;
}

int config_load(struct config *c, int argc, char **argv, struct err *e)
{
	config_defaults(c);
	bool check = false;
	/* First pass: actions and the config file, which options override. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return CONFIG_HELP;
		if (strcmp(argv[i], "--version") == 0)
			return CONFIG_VERSION;
		check |= strcmp(argv[i], "--check") == 0;
		const char *v = NULL;
		if (strcmp(argv[i], "--config") == 0)
			v = i + 1 < argc ? argv[i + 1] : NULL;
		else if (strncmp(argv[i], "--config=", 9) == 0)
			v = argv[i] + 9;
		else
			continue;
		if (!v || !*v)
			return err_set(e, ERR_INVALID, "--config: missing file name");
		free(c->config_file);
		c->config_file = strdup(v);
		if (!c->config_file)
			abort();
	}
	if (c->config_file && config_read_file(c, c->config_file, e) < 0)
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(arg, "--config=", 9) == 0 || strcmp(arg, "--check") == 0)
			continue;
		const char *value = NULL;
		const struct key *k = strncmp(arg, "--", 2) == 0 ? opt_key(arg, &value) : NULL;
		if (!k)
			return err_set(e, ERR_INVALID, "unknown option \"%s\" (see --help)", arg);
		if (!value) {
			if (i + 1 >= argc)
				return err_set(e, ERR_INVALID, "--%s: missing value", k->name);
			value = argv[++i];
		}
		if (key_set(c, k, value, NULL, e) < 0)
			return -1;
	}
	if (config_check(c, e) < 0)
		return -1;
	return check ? CONFIG_CHECK : CONFIG_RUN;
}

void config_release(struct config *c)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == KEY_STRING) {
			char **s = (char **)(void *)((char *)c + keys[i].offset);
			free(*s);
			*s = NULL;
		}
	free(c->config_file);
	c->config_file = NULL;
}

void config_usage(FILE *out)
{
	fprintf(out,
		"usage: pprof-fcgi [--config FILE] [--listen unix:/path.sock | --listen 127.0.0.1:PORT]\n"
		"                  (--target-pid PID | --target-pidfile FILE | --target-exe NAME)\n"
		"                  [--max-seconds N] [--threads N] [--log-level LEVEL]\n\n"
		"Serves Go's net/http/pprof API for one native process, as a FastCGI responder.\n"
		"Without --listen, fd 0 is the FastCGI listen socket (spawn-fcgi, lighttpd bin-path).\n\n"
		"  --config FILE          read \"key = value\" lines; options given here win\n"
		"  --check                with the same config, say whether each thing it needs\n"
		"                         works (target, ptrace, socket, symbols, agent) and exit\n");
	for (size_t i = 0; i < NKEYS; i++) {
		char opt[64];
		snprintf(opt, sizeof opt, "--%s %s", keys[i].name,
			 keys[i].type == KEY_INT ? "N" : keys[i].type == KEY_LEVEL ? "LEVEL" :
			 keys[i].type == KEY_BOOL ? "yes|no" : "VALUE");
		fprintf(out, "  %-22s %s", opt, keys[i].help);
		if (keys[i].def)
			fprintf(out, " (default %s)", keys[i].def);
		fputc('\n', out);
	}
	fprintf(out, "  --help, --version\n");
}
