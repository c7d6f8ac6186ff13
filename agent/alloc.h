/* alloc.h: the wrapped allocator (malloc, free and the rest, exported) and
 * the sampling decision their fast paths make: a thread's countdown of
 * bytes to its next sample. */
#ifndef ALLOC_H
#define ALLOC_H

#include "agent.h"

#include <malloc.h>
#include <stdlib.h>

/* A.real.free until agent_init has found the real one: no block of the
 * real allocator can exist before that, only bootstrap ones. */
HIDDEN void alloc_free_early(void *p);

OWN_DECL(malloc);
OWN_DECL(free);
OWN_DECL(calloc);
OWN_DECL(realloc);
OWN_DECL(reallocarray);
OWN_DECL(posix_memalign);
OWN_DECL(aligned_alloc);
OWN_DECL(memalign);
OWN_DECL(valloc);
OWN_DECL(pvalloc);
OWN_DECL(malloc_usable_size);

#endif
