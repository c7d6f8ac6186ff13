/* symbolize_fetch: debug files fetched from DEBUGINFOD_URLS in the
 * background, never inside a request. libdwfl would fetch them itself,
 * synchronously, in whatever request first needs a module's debug info;
 * instead DEBUGINFOD_URLS is taken out of the environment at start-up
 * (symbolize_fetch_take_env) and a fetcher owned by the symbolizer runs
 * one download at a time in a helper process (pprof-fcgi
 * --fetch-debuginfo HEX, libdebuginfod with the URLs given back), into
 * debuginfod's cache. The only includer of elfutils/debuginfod.h. */
#ifndef PF_SYMBOLIZE_FETCH_H
#define PF_SYMBOLIZE_FETCH_H

#include <stddef.h>
#include <stdio.h>

struct symbolize_fetch;

enum symbolize_fetch_state {
	FETCH_NONE,    /* never asked for */
	FETCH_PENDING, /* queued or being fetched */
	FETCH_DONE,    /* in the cache: the path is known */
	FETCH_FAILED,  /* the servers have none, or could not be reached */
};

/* DEBUGINFOD_URLS as the process was started with (a copy the caller
 * frees, NULL when unset or empty), removed from the environment so that
 * libdwfl never downloads. Call before any thread starts. */
char *symbolize_fetch_take_env(void);

/* Where debuginfod's client keeps what it fetched, as it chooses:
 * DEBUGINFOD_CACHE_PATH, else $XDG_CACHE_HOME/debuginfod_client, else
 * $HOME/.cache/debuginfod_client. */
void symbolize_fetch_cache_dir(char *out, size_t size);

/* A fetcher for urls (space-separated, as DEBUGINFOD_URLS), running its
 * own thread. */
struct symbolize_fetch *symbolize_fetch_new(const char *urls);
/* Stops the thread (a download under way is killed) and frees. */
void symbolize_fetch_free(struct symbolize_fetch *f);

/* The state of build-id hex; queues it when never asked for (and
 * kept: at most 64 build-ids). DONE: its file's path into path; FAILED:
 * why, into path. Never blocks on the network. */
enum symbolize_fetch_state symbolize_fetch_want(struct symbolize_fetch *f, const char *hex,
						char *path, size_t size);
/* The state of hex, as symbolize_fetch_want without queueing it. */
enum symbolize_fetch_state symbolize_fetch_state(struct symbolize_fetch *f, const char *hex,
						 char *path, size_t size);

/* The helper process: fetches build-id hex's debug file with
 * libdebuginfod (DEBUGINFOD_URLS, DEBUGINFOD_CACHE_PATH from the
 * environment) and writes "path PATH" or "error WHY" to out. Exit status. */
int symbolize_fetch_child(const char *hex, FILE *out);

#endif
