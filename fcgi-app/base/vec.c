#include "base/vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *vec_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

void *vec_grow(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t c = *cap ? *cap : (first ? first : 1);
	while (c < need) {
		if (c > SIZE_MAX / 2)
			abort();
		c *= 2;
	}
	if (size && c > SIZE_MAX / size)
		abort();
	p = vec_realloc(p, c * size);
	*cap = c;
	return p;
}

void *vec_zero_(void *elem, size_t size)
{
	memset(elem, 0, size);
	return elem;
}
