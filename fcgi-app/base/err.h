/* err: the first failure of a call chain, as a kind and one line of text.
 *
 * Functions that can fail return 0 or -1 and take `struct err *` last; the
 * first failure fills it and callers pass it up unchanged. The kind says
 * what sort of failure it was; only the HTTP layer turns a kind into a
 * status. Text is lowercase, no final period: what failed, the subject,
 * the reason ("open /proc/42/cmdline: no such file or directory"). */
#ifndef PF_ERR_H
#define PF_ERR_H

#include <stddef.h>

enum err_kind {
	ERR_NONE = 0,
	ERR_INVALID,       /* bad request parameter or input */
	ERR_NOT_FOUND,     /* no such profile */
	ERR_METHOD,        /* method not allowed */
	ERR_TOO_LARGE,     /* input over its bound */
	ERR_TARGET,        /* target not running or not reachable */
	ERR_PERMISSION,    /* not allowed to observe the target */
	ERR_BUSY,          /* over a concurrency cap */
	ERR_INTERNAL,      /* anything else */
};

#define ERR_MSG_MAX 512

struct err {
	enum err_kind kind;
	char msg[ERR_MSG_MAX];
};

/* Fills e (unless already filled) and returns -1, so `return err_set(...)`. */
int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As err_set, with ": strerror(errnum)" appended. */
int err_errno(struct err *e, enum err_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void err_clear(struct err *e);

#endif
