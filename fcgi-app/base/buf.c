#include "base/buf.h"

#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void buf_init(struct buf *b, const char *name, size_t max)
{
	memset(b, 0, sizeof *b);
	b->name = name;
	b->max = max;
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *d = b->data ? b->data : strdup("");
	if (!d)
		abort();
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
	return d;
}

/* Makes room for n more bytes plus the NUL; false when over the maximum. */
static bool buf_grow(struct buf *b, size_t n)
{
	if (b->failed)
		return false;
	if (n > b->max - b->len || b->len > b->max) {
		b->failed = true;
		return false;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d)
		abort();
	b->data = d;
	b->cap = cap;
	return true;
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	if (!buf_grow(b, len))
		return;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

const char *buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

int buf_check(const struct buf *b, struct err *e)
{
	if (!b->failed)
		return 0;
	return err_set(e, ERR_TOO_LARGE, "%s over its limit of %zu bytes",
		       b->name ? b->name : "buffer", b->max);
}

int buf_read_file(struct buf *b, const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(e, errno == ENOENT || errno == ESRCH ? ERR_TARGET : ERR_INTERNAL,
				 errno, "open %s", path);
	char chunk[4096];
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_errno(e, errno == ESRCH ? ERR_TARGET : ERR_INTERNAL,
				       errno, "read %s", path);
			break;
		}
		if (n == 0)
			break;
		buf_add(b, chunk, (size_t)n);
		if (b->failed) {
			rc = buf_check(b, e);
			break;
		}
	}
	close(fd);
	return rc;
}
