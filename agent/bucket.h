/* bucket.h: the published buckets, one per (stack, kind, size class), and
 * their index, looked up without a lock. */
#ifndef BUCKET_H
#define BUCKET_H

#include "stack.h"

/* The bucket for (stack, kind, size), made if new; -1 when the table is
 * full. */
HIDDEN int64_t bucket_for(const struct walk *w, uint32_t kind, uint64_t size);

#endif
