#include "edge/fcgi.h"

#include "base/err.h"
#include "edge/http.h"
#include "base/log.h"

#include <fcgiapp.h>

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct fcgi_server {
	int fd;
	char *unix_path;          /* socket file to remove on stop, or NULL */
	pthread_mutex_t accept_lock;
	pthread_t *workers;
	int nworkers;
	atomic_bool stopping;
	fcgi_handler handler;
	fcgi_is_timed is_timed;
	void *arg;
	/* timed requests, each on a detached thread of its own */
	pthread_mutex_t timed_lock;
	pthread_cond_t timed_done;
	int timed_active, max_timed;
};

struct timed_job {
	struct fcgi_server *s;
	FCGX_Request *r; /* heap: libfcgi's streams point back at it */
};

static int listen_unix(struct fcgi_server *s, const char *path, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return err_set(e, ERR_INVALID, "listen unix:%s: path too long", path);
	strcpy(sa.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		/* replace a stale socket, never any other kind of file */
		if (!S_ISSOCK(st.st_mode))
			return err_set(e, ERR_INVALID, "listen unix:%s: exists and is not a socket", path);
		unlink(path);
	}
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return err_errno(e, ERR_INTERNAL, errno, "socket for unix:%s", path);
	mode_t old = umask(0117); /* created 0660: the web server's group connects */
	int rc = bind(s->fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc < 0 && errno == ENOENT) {
		/* its directory is missing: /run/pprof-fcgi/ is made by the
		 * unit (RuntimeDirectory=), by hand by nobody */
		char dir[sizeof sa.sun_path];
		snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') ? strrchr(path, '/') - path
									     : 1), path);
		return err_set(e, ERR_INVALID, "bind unix:%s: directory %s does not exist: create it "
			       "(mkdir -p %s, owned by the user pprof-fcgi runs as), or start "
			       "pprof-fcgi.service, whose RuntimeDirectory= makes it", path, dir, dir);
	}
	if (rc < 0)
		return err_errno(e, ERR_INTERNAL, errno, "bind unix:%s", path);
	s->unix_path = strdup(path);
	if (!s->unix_path)
		abort();
	return 0;
}

static int listen_tcp(struct fcgi_server *s, const char *spec, struct err *e)
{
	const char *colon = strrchr(spec, ':');
	char host[256];
	size_t hlen = (size_t)(colon - spec);
	if (hlen >= sizeof host)
		return err_set(e, ERR_INVALID, "listen %s: host too long", spec);
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	/* [::1]:PORT */
	char *h = host;
	if (h[0] == '[' && hlen > 1 && h[hlen - 1] == ']') {
		h[hlen - 1] = '\0';
		h++;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
	if (rc != 0)
		return err_set(e, ERR_INVALID, "listen %s: %s", spec, gai_strerror(rc));
	s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		freeaddrinfo(ai);
		return err_errno(e, ERR_INTERNAL, errno, "socket for %s", spec);
	}
	int one = 1;
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	rc = bind(s->fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc < 0)
		return err_errno(e, ERR_INTERNAL, errno, "bind %s", spec);
	return 0;
}

/* Whether a bound socket is one strangers may reach: TCP not on loopback,
 * or a unix socket file anyone may write to. */
static bool exposed(int fd, char *what, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		uint32_t a = ntohl(in->sin_addr.s_addr);
		snprintf(what, size, "TCP address %u.%u.%u.%u", a >> 24, (a >> 16) & 255,
			 (a >> 8) & 255, a & 255);
		return (a >> 24) != 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		snprintf(what, size, "an IPv6 address that is not ::1");
		return !IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		struct stat st;
		if (len > offsetof(struct sockaddr_un, sun_path) && un->sun_path[0] &&
		    stat(un->sun_path, &st) == 0 && (st.st_mode & S_IWOTH)) {
			snprintf(what, size, "unix socket %s, writable by anyone", un->sun_path);
			return true;
		}
	}
	return false;
}

struct fcgi_server *fcgi_open(const char *spec, bool insecure_ok, struct err *e)
{
	struct fcgi_server *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->fd = -1;
	pthread_mutex_init(&s->accept_lock, NULL);
	pthread_mutex_init(&s->timed_lock, NULL);
	pthread_cond_init(&s->timed_done, NULL);
	int rc;
	if (!spec) {
		int on = 0;
		socklen_t len = sizeof on;
		if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on) {
			err_set(e, ERR_INVALID,
				"fd 0 is not a listening socket: give --listen, or start pprof-fcgi "
				"from the web server or spawn-fcgi");
			goto fail;
		}
		s->fd = 0;
	} else {
		rc = strncmp(spec, "unix:", 5) == 0 ? listen_unix(s, spec + 5, e)
						     : listen_tcp(s, spec, e);
		if (rc < 0)
			goto fail;
		if (listen(s->fd, 128) < 0) {
			err_errno(e, ERR_INTERNAL, errno, "listen %s", spec);
			goto fail;
		}
	}
	char what[256];
	if (!insecure_ok && exposed(s->fd, what, sizeof what)) {
		err_set(e, ERR_INVALID,
			"refusing to listen on %s: FastCGI has no authentication, so anyone who reaches "
			"the socket can profile the target; use a unix socket (0660) or 127.0.0.1, or set "
			"allow-insecure-listen = yes", what);
		goto fail;
	}
	if (FCGX_Init() != 0) {
		err_set(e, ERR_INTERNAL, "FCGX_Init failed");
		goto fail;
	}
	return s;
fail:
	fcgi_stop(s);
	return NULL;
}

static const char *param(FCGX_Request *r, const char *name)
{
	const char *v = FCGX_GetParam(name, r->envp);
	return v ? v : "";
}

/* Reads the request body; 413 when over HTTP_BODY_IN_MAX. */
static int read_body(FCGX_Request *r, struct buf *body, struct err *e)
{
	const char *cl = param(r, "CONTENT_LENGTH");
	if (*cl && strtoull(cl, NULL, 10) > HTTP_BODY_IN_MAX)
		return err_set(e, ERR_TOO_LARGE, "request body of %s bytes over the limit of %u",
			       cl, HTTP_BODY_IN_MAX);
	char chunk[16384];
	int n;
	while ((n = FCGX_GetStr(chunk, sizeof chunk, r->in)) > 0) {
		buf_add(body, chunk, (size_t)n);
		if (body->failed)
			return err_set(e, ERR_TOO_LARGE, "request body over the limit of %u bytes",
				       HTTP_BODY_IN_MAX);
	}
	return 0;
}

static void write_resp(FCGX_Request *r, const struct req *req, const struct resp *resp)
{
	/* FCGX_FPrintF has its own printf without %zu: format here */
	char head[512];
	int n = snprintf(head, sizeof head,
			 "Status: %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "Cache-Control: no-store\r\n",
			 resp->status, http_reason(resp->status), resp->content_type,
			 resp->body.len);
	FCGX_PutStr(head, n, r->out);
	FCGX_PutStr(buf_cstr(&resp->headers), (int)resp->headers.len, r->out);
	FCGX_PutS("\r\n", r->out);
	if (strcmp(req->method, "HEAD") != 0 && resp->body.len > 0) {
		/* FCGX_PutStr takes an int: write in pieces */
		const char *p = resp->body.data;
		size_t left = resp->body.len;
		while (left > 0) {
			int chunk = left > (1u << 30) ? 1 << 30 : (int)left;
			if (FCGX_PutStr(p, chunk, r->out) != chunk)
				break; /* the web server went away */
			p += chunk;
			left -= (size_t)chunk;
		}
	}
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void serve_one(struct fcgi_server *s, FCGX_Request *r)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct req req = {
		.method = param(r, "REQUEST_METHOD"),
		.script_name = param(r, "SCRIPT_NAME"),
		.path_info = param(r, "PATH_INFO"),
		.query_string = param(r, "QUERY_STRING"),
		.accept = param(r, "HTTP_ACCEPT"),
		.remote_user = param(r, "REMOTE_USER"),
	};
	if (!*req.method)
		req.method = "GET";
	struct resp resp;
	resp_init(&resp);
	struct buf body;
	buf_init(&body, "request body", HTTP_BODY_IN_MAX);
	struct err e = { 0 };
	if (read_body(r, &body, &e) < 0) {
		resp_from_err(&resp, &e);
	} else {
		req.body = buf_cstr(&body);
		req.body_len = body.len;
		s->handler(s->arg, &req, &resp);
	}
	write_resp(r, &req, &resp);
	log_info("%s %s%s%s%s %d %zu bytes %.1f ms", req.method, req.script_name, req.path_info,
		 *req.query_string ? "?" : "", req.query_string, resp.status, resp.body.len,
		 elapsed_ms(&t0));
	req_release(&req);
	buf_release(&body);
	resp_release(&resp);
}

static void *timed_main(void *arg)
{
	struct timed_job *job = arg;
	struct fcgi_server *s = job->s;
	serve_one(s, job->r);
	FCGX_Finish_r(job->r);
	FCGX_Free(job->r, 0);
	free(job->r);
	free(job);
	pthread_mutex_lock(&s->timed_lock);
	s->timed_active--;
	pthread_cond_broadcast(&s->timed_done);
	pthread_mutex_unlock(&s->timed_lock);
	return NULL;
}

static FCGX_Request *request_new(struct fcgi_server *s)
{
	FCGX_Request *r = malloc(sizeof *r);
	if (!r)
		abort();
	FCGX_InitRequest(r, s->fd, 0);
	return r;
}

/* Moves an accepted timed request to a thread of its own (*r gets a fresh
 * request for the next accept); false when the cap is reached (the caller
 * answers 503) or no thread could start. */
static bool hand_off(struct fcgi_server *s, FCGX_Request **r)
{
	pthread_mutex_lock(&s->timed_lock);
	bool room = s->timed_active < s->max_timed;
	if (room)
		s->timed_active++;
	pthread_mutex_unlock(&s->timed_lock);
	if (!room)
		return false;
	struct timed_job *job = malloc(sizeof *job);
	if (!job)
		abort();
	job->s = s;
	job->r = *r; /* the job owns the connection from here */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int rc = pthread_create(&t, &attr, timed_main, job);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(job);
		pthread_mutex_lock(&s->timed_lock);
		s->timed_active--;
		pthread_mutex_unlock(&s->timed_lock);
		log_error("pthread_create for a timed request: %s", strerror(rc));
		return false;
	}
	*r = request_new(s);
	return true;
}

static void refuse_busy(struct fcgi_server *s, FCGX_Request *r)
{
	struct req req = { .method = param(r, "REQUEST_METHOD"), .script_name = param(r, "SCRIPT_NAME"),
			   .path_info = param(r, "PATH_INFO"), .query_string = param(r, "QUERY_STRING") };
	struct resp resp;
	resp_init(&resp);
	char msg[128];
	snprintf(msg, sizeof msg, "too many timed requests at once: %d already running (max-timed-requests)",
		 s->max_timed);
	resp_error(&resp, 503, msg);
	write_resp(r, &req, &resp);
	log_warn("%s %s%s: 503 %s", req.method, req.script_name, req.path_info, msg);
	resp_release(&resp);
}

static void *worker(void *arg)
{
	struct fcgi_server *s = arg;
	FCGX_Request *r = request_new(s);
	while (!atomic_load(&s->stopping)) {
		pthread_mutex_lock(&s->accept_lock);
		int rc = atomic_load(&s->stopping) ? -1 : FCGX_Accept_r(r);
		pthread_mutex_unlock(&s->accept_lock);
		if (rc < 0) {
			if (!atomic_load(&s->stopping))
				log_error("FCGX_Accept_r: %s", rc < 0 && -rc < 1000 ? strerror(-rc) : "error");
			break;
		}
		if (s->is_timed && s->is_timed(s->arg, param(r, "SCRIPT_NAME"), param(r, "PATH_INFO"),
					       param(r, "QUERY_STRING"))) {
			if (hand_off(s, &r))
				continue;
			refuse_busy(s, r);
		} else {
			serve_one(s, r);
		}
		FCGX_Finish_r(r);
	}
	FCGX_Free(r, 0);
	free(r);
	return NULL;
}

int fcgi_start(struct fcgi_server *s, int threads, int max_timed, fcgi_handler handler,
	       fcgi_is_timed is_timed, void *arg, struct err *e)
{
	s->handler = handler;
	s->is_timed = is_timed;
	s->max_timed = max_timed;
	s->arg = arg;
	s->workers = calloc((size_t)threads, sizeof *s->workers);
	if (!s->workers)
		abort();
	for (int i = 0; i < threads; i++) {
		int rc = pthread_create(&s->workers[i], NULL, worker, s);
		if (rc != 0)
			return err_errno(e, ERR_INTERNAL, rc, "pthread_create worker %d", i);
		s->nworkers++;
	}
	return 0;
}

void fcgi_stop(struct fcgi_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	FCGX_ShutdownPending();
	/* wakes the worker blocked in accept(); the others see stopping */
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	free(s->workers);
	/* timed requests end their windows early once the collector closed */
	pthread_mutex_lock(&s->timed_lock);
	while (s->timed_active > 0)
		pthread_cond_wait(&s->timed_done, &s->timed_lock);
	pthread_mutex_unlock(&s->timed_lock);
	pthread_mutex_destroy(&s->timed_lock);
	pthread_cond_destroy(&s->timed_done);
	if (s->fd > 0)
		close(s->fd);
	if (s->unix_path) {
		unlink(s->unix_path);
		free(s->unix_path);
	}
	pthread_mutex_destroy(&s->accept_lock);
	free(s);
}
