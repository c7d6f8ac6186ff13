#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0)))
static int err_vset(struct err *e, enum err_kind kind, int errnum,
		    const char *fmt, va_list ap)
{
	if (!e || e->kind != ERR_NONE)
		return -1; /* the first failure wins */
	e->kind = kind;
	int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	if (errnum && n >= 0 && (size_t)n < sizeof e->msg) {
		char reason[128];
		/* strerror_r's GNU form may return a static string instead */
		const char *r = strerror_r(errnum, reason, sizeof reason);
		snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", r);
		/* library text starts uppercase; house style is lowercase */
		char *p = e->msg + n + 2;
		if (*p >= 'A' && *p <= 'Z' && !(p[1] >= 'A' && p[1] <= 'Z'))
			*p = (char)(*p - 'A' + 'a');
	}
	return -1;
}

int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(e, kind, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int err_errno(struct err *e, enum err_kind kind, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(e, kind, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

void err_clear(struct err *e)
{
	e->kind = ERR_NONE;
	e->msg[0] = '\0';
}
