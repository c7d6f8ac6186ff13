#include "profile/symbolize_fetch.h"

#include "base/log.h"

#include <elfutils/debuginfod.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FETCH_KEPT 64

extern char **environ;

struct fetch_entry {
	char hex[129];
	enum symbolize_fetch_state state;
	char detail[1024]; /* DONE: the file; FAILED: why */
};

struct symbolize_fetch {
	char *urls;
	char cache[4096];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	pid_t child; /* the helper under way, or 0 */
	struct fetch_entry entries[FETCH_KEPT];
	size_t nentries;
};

char *symbolize_fetch_take_env(void)
{
	const char *v = getenv("DEBUGINFOD_URLS");
	char *urls = v && v[0] ? strdup(v) : NULL;
	if (v && v[0] && !urls)
		abort();
	unsetenv("DEBUGINFOD_URLS");
	return urls;
}

void symbolize_fetch_cache_dir(char *out, size_t size)
{
	const char *v;
	if ((v = getenv("DEBUGINFOD_CACHE_PATH")) && v[0])
		snprintf(out, size, "%s", v);
	else if ((v = getenv("XDG_CACHE_HOME")) && v[0])
		snprintf(out, size, "%s/debuginfod_client", v);
	else
		snprintf(out, size, "%s/.cache/debuginfod_client", getenv("HOME") ? getenv("HOME") : "");
}

/* The environment with DEBUGINFOD_URLS and DEBUGINFOD_CACHE_PATH given
 * back for the helper (vars: their two "NAME=value" strings). */
static char **child_env(char *const vars[2])
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 3, sizeof *env);
	if (!env)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "DEBUGINFOD_URLS=", 16) != 0 &&
		    strncmp(environ[i], "DEBUGINFOD_CACHE_PATH=", 22) != 0)
			env[k++] = environ[i];
	env[k++] = vars[0];
	env[k++] = vars[1];
	return env;
}

/* Runs the helper for e->hex (the lock released meanwhile) and records
 * what it said. The helper's exit is known by its output's end, not by
 * waitpid: the collector reaps every child of the process. */
static void fetch_one(struct symbolize_fetch *f, struct fetch_entry *e)
{
	char hex[sizeof e->hex];
	memcpy(hex, e->hex, sizeof hex);
	char *vars[2] = { NULL, NULL };
	if (asprintf(&vars[0], "DEBUGINFOD_URLS=%s", f->urls) < 0 ||
	    asprintf(&vars[1], "DEBUGINFOD_CACHE_PATH=%s", f->cache) < 0)
		abort();
	char **env = child_env(vars);
	int p[2];
	char out[1024] = "";
	size_t got = 0;
	int rc = -1;
	if (pipe2(p, O_CLOEXEC) == 0) {
		posix_spawn_file_actions_t fa;
		posix_spawnattr_t at;
		sigset_t none;
		sigemptyset(&none);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
		posix_spawnattr_init(&at);
		posix_spawnattr_setsigmask(&at, &none);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
		char *argv[] = { "pprof-fcgi", "--fetch-debuginfo", hex, NULL };
		pid_t pid;
		rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, env);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
		close(p[1]);
		if (rc == 0) {
			pthread_mutex_lock(&f->lock);
			f->child = f->stop ? 0 : pid;
			bool stopping = f->stop;
			pthread_mutex_unlock(&f->lock);
			if (stopping)
				kill(pid, SIGKILL);
			ssize_t r;
			while (got < sizeof out - 1 &&
			       ((r = read(p[0], out + got, sizeof out - 1 - got)) > 0 ||
				(r < 0 && errno == EINTR)))
				got += r > 0 ? (size_t)r : 0;
			out[got] = '\0';
			pthread_mutex_lock(&f->lock);
			f->child = 0;
			pthread_mutex_unlock(&f->lock);
			waitpid(pid, NULL, 0); /* ECHILD when the collector reaped it */
		} else {
			errno = rc;
			rc = -1;
		}
		close(p[0]);
	}
	int spawn_errno = errno;
	free(env);
	free(vars[0]);
	free(vars[1]);

	char *nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
	pthread_mutex_lock(&f->lock);
	if (rc < 0) {
		e->state = FETCH_FAILED;
		snprintf(e->detail, sizeof e->detail, "its fetcher could not start: %s",
			 strerror(spawn_errno));
	} else if (strncmp(out, "path ", 5) == 0 && access(out + 5, R_OK) == 0) {
		e->state = FETCH_DONE;
		snprintf(e->detail, sizeof e->detail, "%s", out + 5);
	} else {
		e->state = FETCH_FAILED;
		snprintf(e->detail, sizeof e->detail, "%s",
			 strncmp(out, "error ", 6) == 0 ? out + 6 : "its fetcher ended without an answer");
	}
	pthread_mutex_unlock(&f->lock);
	if (e->state == FETCH_DONE)
		log_info("debuginfod: fetched the debug file of build-id %s: %s", hex, e->detail);
	else
		log_warn("debuginfod: no debug file for build-id %s from DEBUGINFOD_URLS: %s", hex,
			 e->detail);
}

static struct fetch_entry *next_pending(struct symbolize_fetch *f)
{
	for (size_t i = 0; i < f->nentries; i++)
		if (f->entries[i].state == FETCH_PENDING)
			return &f->entries[i];
	return NULL;
}

static void *fetch_main(void *arg)
{
	struct symbolize_fetch *f = arg;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct fetch_entry *e = NULL;
		while (!f->stop && !(e = next_pending(f)))
			pthread_cond_wait(&f->wake, &f->lock);
		if (f->stop)
			break;
		pthread_mutex_unlock(&f->lock);
		fetch_one(f, e); /* entries never move: e stays valid */
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

struct symbolize_fetch *symbolize_fetch_new(const char *urls)
{
	struct symbolize_fetch *f = calloc(1, sizeof *f);
	if (!f || !(f->urls = strdup(urls)))
		abort();
	symbolize_fetch_cache_dir(f->cache, sizeof f->cache);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	if (pthread_create(&f->thread, NULL, fetch_main, f) != 0)
		abort();
	return f;
}

void symbolize_fetch_free(struct symbolize_fetch *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	if (f->child > 0)
		kill(f->child, SIGKILL); /* its output's end then wakes the thread */
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->wake);
	free(f->urls);
	free(f);
}

static enum symbolize_fetch_state lookup(struct symbolize_fetch *f, const char *hex, bool queue,
					 char *path, size_t size)
{
	enum symbolize_fetch_state st = FETCH_NONE;
	pthread_mutex_lock(&f->lock);
	struct fetch_entry *e = NULL;
	for (size_t i = 0; i < f->nentries && !e; i++)
		if (strcmp(f->entries[i].hex, hex) == 0)
			e = &f->entries[i];
	if (!e && queue && f->nentries < FETCH_KEPT && strlen(hex) < sizeof e->hex) {
		e = &f->entries[f->nentries++];
		snprintf(e->hex, sizeof e->hex, "%s", hex);
		e->state = FETCH_PENDING;
		pthread_cond_signal(&f->wake);
	}
	if (e) {
		st = e->state;
		if (path && size)
			snprintf(path, size, "%s", e->detail);
	}
	pthread_mutex_unlock(&f->lock);
	return st;
}

enum symbolize_fetch_state symbolize_fetch_want(struct symbolize_fetch *f, const char *hex,
						char *path, size_t size)
{
	return lookup(f, hex, true, path, size);
}

enum symbolize_fetch_state symbolize_fetch_state(struct symbolize_fetch *f, const char *hex,
						 char *path, size_t size)
{
	return lookup(f, hex, false, path, size);
}

int symbolize_fetch_child(const char *hex, FILE *out)
{
	debuginfod_client *c = debuginfod_begin();
	if (!c) {
		fprintf(out, "error debuginfod_begin failed\n");
		return 1;
	}
	char *path = NULL;
	int fd = debuginfod_find_debuginfo(c, (const unsigned char *)hex, 0, &path);
	debuginfod_end(c);
	if (fd < 0) {
		fprintf(out, "error %s\n", fd == -ENOENT ? "no server of DEBUGINFOD_URLS has it"
			: strerror(-fd));
		return 1;
	}
	close(fd);
	fprintf(out, "path %s\n", path);
	free(path);
	return 0;
}
