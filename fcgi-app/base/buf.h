/* buf: a growable byte buffer with a maximum, always NUL-terminated.
 *
 * Appends never fail loudly: going over the maximum (or a failed format)
 * marks the buffer failed, later appends are ignored, and buf_check turns
 * that into an error once, where the caller is ready to handle it.
 * Out of memory aborts. buf_release frees; buf_detach hands the data over. */
#ifndef PF_BUF_H
#define PF_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct err;

struct buf {
	char *data;      /* NULL until the first append; see buf_cstr */
	size_t len;
	size_t cap;
	size_t max;      /* bytes of content allowed, not counting the NUL */
	bool failed;     /* went over max: content is truncated */
	const char *name; /* what the buffer holds, for the error text */
};

void buf_init(struct buf *b, const char *name, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);              /* empty, keeps memory */
char *buf_detach(struct buf *b, size_t *len); /* caller frees; b is empty */

void buf_add(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

const char *buf_cstr(const struct buf *b); /* "" when empty */
/* 0, or -1 with ERR_TOO_LARGE if an append went over the maximum. */
int buf_check(const struct buf *b, struct err *e);

/* Reads a whole file (a /proc file: size unknown in advance) into b. */
int buf_read_file(struct buf *b, const char *path, struct err *e);

#endif
