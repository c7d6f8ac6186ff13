/* router: from SCRIPT_NAME + PATH_INFO to an endpoint, for any mount point
 * and any web server's split of the path. Answers the redirect of a bare
 * mount, 404 and 405 itself, validates the parameters, resolves the target,
 * then calls the endpoint and turns its error into a response. */
#ifndef PF_ROUTER_H
#define PF_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct ctx;
struct req;
struct resp;

enum router_match {
	ROUTER_ENDPOINT,  /* name holds the endpoint ("index" for the page) */
	ROUTER_REDIRECT,  /* the bare mount: redirect to the path plus "/" */
	ROUTER_VIEWER,    /* MOUNT/ui/...: the viewer, which the web server serves */
};

/* The endpoint named by the last component of script_name + path_info:
 * "index" for a path ending in "/", "symbol" for "symbolz"; a path through
 * a "ui" component is the viewer's. Unknown names
 * are returned as they are; name gets at most size bytes. */
enum router_match router_match(const char *script_name, const char *path_info,
			       char *name, size_t size);

/* Whether the request asks for a window of time (profile, trace, block,
 * mutex, or a delta with seconds): it is then served off the accept threads. */
bool router_is_timed(const char *script_name, const char *path_info, const char *query_string);

/* Fills resp for req; never fails (errors become error responses). */
void router_handle(struct ctx *ctx, struct req *req, struct resp *resp);

#endif
