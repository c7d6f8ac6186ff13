/* fcgi: the only module that knows libfcgi. Opens or adopts the listen
 * socket, runs N worker threads that turn FastCGI requests into struct req,
 * call the handler, and write struct resp back; logs once per request. */
#ifndef PF_FCGI_H
#define PF_FCGI_H

#include <stdbool.h>

struct err;
struct req;
struct resp;
struct fcgi_server;

typedef void (*fcgi_handler)(void *arg, struct req *req, struct resp *resp);
/* Whether a request lasts a window (a profile): it is then served on a
 * thread of its own, so accept threads stay free for quick requests. */
typedef bool (*fcgi_is_timed)(void *arg, const char *script_name, const char *path_info,
			      const char *query_string);

/* spec NULL: fd 0 must be a listening socket (spawn-fcgi, bin-path).
 * "unix:/path": a new socket, mode 0660, replacing a stale socket file.
 * "HOST:PORT": TCP. FastCGI has no authentication: unless insecure_ok, a
 * TCP address that is not loopback, or a unix socket anyone may write to,
 * is refused. */
struct fcgi_server *fcgi_open(const char *spec, bool insecure_ok, struct err *e);
/* Starts the workers; returns at once. At most max_timed timed requests
 * run at once; more are answered 503. */
int fcgi_start(struct fcgi_server *s, int threads, int max_timed, fcgi_handler handler,
	       fcgi_is_timed is_timed, void *arg, struct err *e);
/* Stops accepting, lets requests in progress finish (timed ones included:
 * end their windows first), joins the workers, closes the socket (and
 * removes a unix socket this process created). */
void fcgi_stop(struct fcgi_server *s);

#endif
